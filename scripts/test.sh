#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install what is missing,
# then configure, build and run every test twice: an optimised build (preset
# release) and an AddressSanitizer + UndefinedBehaviorSanitizer build (preset
# asan; LibTorch is left out of it). `--quick` runs the release build only.
# Golden tests read ../shared/golden (or $ILVR_GOLDEN_DIR) and skip where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
presets=(release asan)
[ "${1:-}" = "--quick" ] && presets=(release)
for preset in "${presets[@]}"; do
    echo "== ${preset} =="
    cmake --preset "$preset"
    cmake --build --preset "$preset" -j 2
    ctest --preset "$preset"
done
