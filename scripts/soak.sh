#!/usr/bin/env bash
# Soak test (issue 7; not in CI): 1,000 consecutive short ILVR runs in one
# process with the exact Gaussian denoiser and random valid parameters; prints
# the resident size (VmRSS) and peak (VmHWM) at run 10 and run 1,000 and fails
# if the resident size grew. Extra arguments: RUNS SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/release/CMakeCache.txt ]] || cmake --preset release
cmake --build --preset release -j 2 --target soak
/usr/bin/time -v build/release/tests/soak "${@:-1000}" 2> >(grep -E "Maximum resident|Elapsed" >&2)
