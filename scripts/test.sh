#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install what is missing,
# configure, build, run every test. Golden tests read ../shared/golden (or
# $ILVR_GOLDEN_DIR) and skip where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release
cmake --build --preset release -j 2
ctest --preset release
