# Compiles tests/compile_fail/bad_usage.cpp once per case (-DILVR_BAD_CASE=N) and
# requires: the compile fails, with exactly one "error:" line, whose text
# matches the case's expected message, and a "required from here" note in
# bad_usage.cpp (the report points at the user's call).
# Arguments: -DCXX=compiler -DINCLUDE=dir -DSOURCE=bad_usage.cpp
set(expected
    "neither an ilvr::step_rule"
    "not an ilvr::solver: it has step\\(ilvr::solver_step&\\) but no prepare"
    "not an ilvr::step_rule: it has no proposal"
    "the model is not an ilvr::denoiser: it cannot be called"
    "the model is not an ilvr::denoiser: what it returns is not viewable"
    "the noise is not an ilvr::noise_source"
    "the samples are not writable"
    "the conditioner is const"
    "the conditioner is not an ilvr::conditioner: it has no refine"
    "the callback is not an ilvr::step_callback")
set(failures 0)
set(case 0)
# Case 0 is the same file without a misuse: it must compile, or every case would fail for nothing.
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} -DILVR_BAD_CASE=0 ${SOURCE}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "case 0 (no misuse) does not compile:\n${err}")
endif()
foreach(message IN LISTS expected)
    math(EXPR case "${case} + 1")
    execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} -DILVR_BAD_CASE=${case} ${SOURCE}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "error:" errors "${err}")
    list(LENGTH errors count)
    if(rc EQUAL 0)
        message(SEND_ERROR "case ${case}: compiled, expected an error matching '${message}'")
        math(EXPR failures "${failures} + 1")
    elseif(NOT count EQUAL 1)
        message(SEND_ERROR "case ${case}: ${count} errors, expected one:\n${err}")
        math(EXPR failures "${failures} + 1")
    elseif(NOT err MATCHES "error: [^\n]*${message}")
        message(SEND_ERROR "case ${case}: the error does not say '${message}':\n${err}")
        math(EXPR failures "${failures} + 1")
    elseif(NOT err MATCHES "bad_usage.cpp:[0-9]+:[0-9]+:   required from here")
        message(SEND_ERROR "case ${case}: the report does not point at the call in bad_usage.cpp:\n${err}")
        math(EXPR failures "${failures} + 1")
    else()
        message(STATUS "case ${case}: one error, '${message}'")
    endif()
endforeach()
if(failures GREATER 0)
    message(FATAL_ERROR "${failures} of ${case} misuse cases were not reported as expected")
endif()
