# cmake -DPREFIX=... -DFORBIDDEN=a;b;... -P relocatable.cmake: fails if an installed
# target file of ilvr (ilvr*Targets*.cmake: the targets' include paths, definitions
# and links) names one of the FORBIDDEN folders (run by ctest, consumer.relocatable).
# /usr/include is the compiler's own and never recorded. (ilvrFindThrust.cmake
# lists where to look on the consumer's machine; it records nothing of this one.)
file(GLOB_RECURSE files ${PREFIX}/*/cmake/ilvr/ilvr*Targets*.cmake)
if(NOT files)
    message(FATAL_ERROR "no installed ilvr package files under ${PREFIX}")
endif()
foreach(file IN LISTS files)
    file(READ ${file} text)
    foreach(folder IN LISTS FORBIDDEN)
        if(folder AND NOT folder STREQUAL "/usr/include")
            string(FIND "${text}" "${folder}" at)
            if(NOT at EQUAL -1)
                message(FATAL_ERROR "${file} names ${folder}: the installed package is not relocatable")
            endif()
        endif()
    endforeach()
endforeach()
message(STATUS "no build-machine folder in the installed targets: ${files}")
