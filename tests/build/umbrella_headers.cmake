# The umbrella header's cost to every file that includes it (issue 20): it must
# pull in no SIMD intrinsics header (<immintrin.h> alone is half a second of
# parsing; the library's vector paths use vector extensions, detail/cpu.hpp) and
# no <iostream>. Lists the headers a minimal sampling program includes (-M) and
# fails on any of those. Arguments: -DCXX=compiler -DINCLUDE=dir -DSOURCE=file
execute_process(COMMAND ${CXX} -std=c++20 -O2 -M -I${INCLUDE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE deps ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} does not compile:\n${err}")
endif()
string(REGEX MATCHALL "[^ \\\n]*/(immintrin|x86intrin|emmintrin|xmmintrin|pmmintrin|smmintrin|avx[a-z0-9]*intrin|iostream)(\\.h)?[ \\\n]" found "${deps} ")
if(found)
    message(FATAL_ERROR "<ilvr/ilvr.hpp> includes: ${found}")
endif()
string(REGEX MATCHALL "[^ \\\n]+\\.h[p]*" headers "${deps}")
list(LENGTH headers count)
message(STATUS "<ilvr/ilvr.hpp>: ${count} headers, no intrinsics header, no <iostream>")
