#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install what is missing,
# then configure, build and run every test three times: an optimised build
# (preset release), an AddressSanitizer + UndefinedBehaviorSanitizer build
# (preset asan) and a ThreadSanitizer build (preset tsan: clang with LLVM's
# OpenMP, whose Archer tool makes OpenMP's synchronisation visible to TSan).
# LibTorch is left out of the sanitizer builds. `--quick` runs release only.
# Golden tests read ../shared/golden (or $ILVR_GOLDEN_DIR) and skip where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
presets=(release asan tsan)
[ "${1:-}" = "--quick" ] && presets=(release)
for preset in "${presets[@]}"; do
    echo "== ${preset} =="
    # Tests (and the release preset's benchmarks) on, also in a build folder the main job configured without them.
    switches=(-DILVR_BUILD_TESTS=ON)
    [ "$preset" = release ] && switches+=(-DILVR_BUILD_BENCHMARKS=ON)
    cmake --preset "$preset" "${switches[@]}"
    cmake --build --preset "$preset" -j 2
    ctest --preset "$preset"
done
