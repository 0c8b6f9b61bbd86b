#!/usr/bin/env bash
# The main job from a fresh Debian 12 machine: install what is missing, configure,
# build the `ilvr` tool, and run ILVR with the bundled Fashion-MNIST DDPM on a
# bundled reference at factors N = 2, 4, 8, 16 (6 samples each, 100 respaced
# steps), writing out/main-job/grid.png and one PNG per sample. Extra arguments
# go to the tool (see `ilvr --help` and docs/tool.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh main
# Only the tool: tests and benchmarks (and their packages) are scripts/test.sh's.
cmake --preset release -DILVR_BUILD_TESTS=OFF -DILVR_BUILD_BENCHMARKS=OFF
cmake --build --preset release -j 2 --target ilvr_cli
build/release/examples/ilvr_cli/ilvr --factor 2,4,8,16 --samples 6 --out out/main-job \
    models/fashion-mnist-ddpm/references/t10k-0001-pullover.png "$@"
