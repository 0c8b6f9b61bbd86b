#!/usr/bin/env bash
# Installs the Debian 12 packages a job needs, skipping those already present.
# Runs as root (or through sudo where available).
#   install-deps.sh main    what scripts/main-job.sh needs: build and run the `ilvr` tool
#   install-deps.sh         everything: the whole test suite, benchmarks, examples, scripts
set -euo pipefail

main=(
    cmake ninja-build g++ pkg-config           # toolchain
    libstb-dev libcli11-dev                    # images, command line
    nlohmann-json3-dev                         # the tool reads models' metadata (ilvr.json)
    libtorch-dev libopenblas0-pthread          # LibTorch adapter and the ilvr tool (fast BLAS)
)
rest=(
    clang libclang-rt-dev libomp-dev           # ThreadSanitizer preset (clang, its sanitizer runtimes, LLVM OpenMP + Archer), fuzzers
    catch2 libbenchmark-dev                    # tests, benchmarks
    libeigen3-dev libxtensor-dev xtl-dev       # optional tensor backends
    zlib1g-dev                                 # gzip (the IDX loaders)
    dataset-fashion-mnist                      # the example's data
    python3-torch                              # training script, Python comparison, converter tests
    libopencv-dev python3-matplotlib           # performance comparison with OpenCV, plots (scripts/perf)
    python3-pil                                # evaluation and documentation scripts
    libthrust-dev                              # the device backend on the host system where no CUDA Toolkit (CCCL) is
    openmpi-bin                                # the tool under mpirun -n 2 (ctest cli.mpirun, docs/cluster.md)
)
case "${1:-all}" in
    main) packages=("${main[@]}") ;;
    all) packages=("${main[@]}" "${rest[@]}") ;;
    *) echo "install-deps: unknown set '$1' (expected main, or nothing for all)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
