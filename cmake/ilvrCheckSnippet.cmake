# cmake -DDOC=page.md -DSOURCE=example.cpp -P ilvrCheckSnippet.cmake
# Fails unless the page quotes the example's code verbatim (from its first #include),
# so the documentation cannot drift from the example the tests compile and run.
file(READ ${DOC} doc)
file(READ ${SOURCE} source)
string(FIND "${source}" "#include" start)
string(SUBSTRING "${source}" ${start} -1 code)
string(FIND "${doc}" "${code}" found)
if(found EQUAL -1)
    message(FATAL_ERROR "${DOC} does not quote ${SOURCE} verbatim")
endif()
