#!/usr/bin/env bash
# The main job from a fresh Debian 12 machine: install what is missing, configure,
# build, and run ILVR over Fashion-MNIST, writing a grid PNG (default
# out/fashion_mnist_ilvr.png; extra arguments go to the program, see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release
cmake --build --preset release -j 2 --target fashion_mnist_ilvr
build/release/examples/fashion_mnist_ilvr "$@"
