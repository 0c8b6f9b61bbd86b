// Compiled by ctest (build.fast_math_refused) with -ffast-math: must not compile,
// since -ffast-math removes the library's NaN and Inf checks (include/ilvr/config.hpp).
#include <ilvr/ilvr.hpp>

int main() { return 0; }
