#!/usr/bin/env bash
# The GPU check of the device backend and the tool, for a bare machine with an
# NVIDIA GPU (the device tool's H200: nvcc, CMake, ninja, a C++ compiler,
# compute-sanitizer, a Python with a CUDA PyTorch, and nothing else of ours).
#
#   scripts/gpu-check.sh --prepare   here (Debian 12 with scripts/install-deps.sh):
#                                    gathers gpu-kit/, what that machine lacks
#   scripts/gpu-check.sh             there, with gpu-kit/ beside the tree: the check
#   scripts/gpu-check.sh --dry-run   anywhere without a GPU: builds all the check
#                                    builds, runs what needs no GPU, says what it would run
#
# gpu-kit/ (git-ignored, about 5 MB) holds the sources of Catch2 and Google
# Benchmark (Debian's releases: 2.13.10, 1.7.1), built by the compiler of the
# machine the check runs on, so no library crosses compilers or C++ ABIs; the
# header-only CLI11 and nlohmann-json with their CMake configs; stb's two
# headers (compiled there into libstb.a); and the golden vectors the device tests
# read. The bundled model is tracked, so it travels with the tree.
#
# The check: build for this GPU (`native`) two trees, the device tests and
# benchmarks, and the tool against the machine's LibTorch; then the device tests
# (golden traces included), the device benchmarks (fused update + phi_N on
# 8x3x256x256 against a copy kernel, target >= 70 %), the tool with --device cuda
# against --device cpu on the bundled model, an ADM with the paper's FFHQ 256x256
# flags (random weights, converted here) timed against the Python loop,
# interleaved, and compute-sanitizer memcheck and racecheck. Every stage is
# logged, bounded in time and independent of the others; the whole check keeps
# within BUDGET seconds (default 460). The summary lists every stage; it and
# every figure go to $OUT (summary.txt, figures.txt, logs.tar.gz) where OUT is set.
#
#   BUILD=build/gpu   ARCH=native (90 in the dry run)   BUDGET=460 (7200)   GPU_KIT=gpu-kit
# Exit status: 0 when every stage passed, 1 otherwise, 2 on a usage error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=check
case "${1:-}" in
    "") ;;
    --prepare) mode=prepare ;;
    --dry-run) mode=dry-run ;;
    *) echo "usage: scripts/gpu-check.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac
kit=${GPU_KIT:-$root/gpu-kit}
build=${BUILD:-$root/build/gpu}
python=${PYTHON:-python3}

# --- --prepare: gpu-kit/ from this Debian machine ------------------------------
prepare() {
    set -e
    local tmp="$kit.tmp"
    rm -rf "$tmp" && mkdir -p "$tmp/src" "$tmp/prefix/include" "$tmp/prefix/share/cmake"
    # Catch2 and Google Benchmark as sources, fetched by apt from deb-src of this
    # release into a private state folder (the system's apt configuration is untouched).
    local apt="$build/apt" codename
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    mkdir -p "$apt/lists/partial" "$apt/parts"
    : >"$apt/empty.list"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" >"$apt/parts/src.sources"
    local o=(-o "Dir::Etc::SourceList=$apt/empty.list" -o "Dir::Etc::SourceParts=$apt/parts" -o "Dir::State::Lists=$apt/lists")
    if ! ls "$apt"/catch2_2.13*.orig.tar.gz "$apt"/benchmark_1.7*.orig.tar.gz >/dev/null 2>&1; then
        apt-get "${o[@]}" update >/dev/null
        (cd "$apt" && apt-get "${o[@]}" source --download-only catch2=2.13.10-1 benchmark=1.7.1-1 >/dev/null)
    fi
    cp "$apt"/catch2_2.13*.orig.tar.gz "$apt"/benchmark_1.7*.orig.tar.gz "$tmp/src/"
    # Header-only libraries with their (relocatable) CMake configs, as Debian installs them.
    cp -r /usr/include/CLI /usr/include/nlohmann "$tmp/prefix/include/"
    cp -r /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$tmp/prefix/share/cmake/"
    mkdir -p "$tmp/src/stb" && cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h "$tmp/src/stb/"
    # The golden vectors of the folders the device tests name ("ilvr/..."), and the manifest.
    local golden=${ILVR_GOLDEN_DIR:-$root/../shared/golden} dir
    mkdir -p "$tmp/golden" && cp "$golden/manifest.json" "$tmp/golden/"
    for dir in "$golden"/*/; do
        dir=$(basename "$dir")
        if grep -q "\"$dir/" tests/device/*.cpp; then cp -r "$golden/$dir" "$tmp/golden/"; fi
    done
    # The bundled model is tracked: it must be the real file, not a pointer.
    [ "$(head -c 2 models/fashion-mnist-ddpm/model.pt)" = "PK" ] || { echo "models/fashion-mnist-ddpm/model.pt is not a TorchScript archive" >&2; exit 1; }
    rm -rf "$kit" && mv "$tmp" "$kit"
    local mb
    mb=$(du -sm "$kit" | cut -f1)
    echo "gpu-kit: $kit, $mb MB: $(ls "$kit/src" | tr '\n' ' ')+ CLI11, nlohmann-json, golden $(ls "$kit/golden" | tr '\n' ' ')"
    [ "$mb" -le 30 ] || { echo "gpu-kit: over 30 MB" >&2; exit 1; }
}
if [ "$mode" = prepare ]; then prepare; exit; fi

# --- stages ------------------------------------------------------------------
[ -d "$kit/src" ] || { echo "gpu-check: no $kit: run scripts/gpu-check.sh --prepare on a development machine, then carry gpu-kit" >&2; exit 2; }
logs=$build/logs
rm -rf "$logs" && mkdir -p "$logs"
figures=$logs/figures.txt results=$logs/stages.tsv
: >"$figures" && : >"$results"
start=$(date +%s)
if [ "$mode" = dry-run ]; then budget=${BUDGET:-7200}; else budget=${BUDGET:-460}; fi

# stage NAME SECONDS COMMAND...: runs COMMAND with its output in logs/NAME.log,
# killed after SECONDS or at the budget's end, and records pass/FAIL/TIMEOUT.
stage() {
    local name=$1 limit=$2 t0 rc status
    shift 2
    local left=$(( start + budget - $(date +%s) ))
    # The dry run builds on development machines of any speed: the budget alone bounds it.
    if [ "$mode" = dry-run ] || [ "$left" -lt "$limit" ]; then limit=$left; fi
    if [ "$limit" -lt 10 ]; then
        printf '%s\tNOT RUN\t0\tno time left in the budget\n' "$name" >>"$results"; return 1
    fi
    t0=$(date +%s)
    # timeout signals its whole process group: nvcc, ninja and cmake end with the stage.
    timeout --kill-after=10 "$limit" bash -o pipefail -c '"$@"' "$name" "$@" >"$logs/$name.log" 2>&1
    rc=$?
    case $rc in 0) status=pass ;; 124|137) status=TIMEOUT ;; *) status=FAIL ;; esac
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "exit $rc, logs/$name.log" >>"$results"
    echo "stage.$name = $status $(( $(date +%s) - t0 )) s" >>"$figures"
    echo "gpu-check: $name: $status ($(( $(date +%s) - t0 )) s)"
    [ "$rc" = 0 ]
}
passed() { grep -q "^$1"$'\tpass\t' "$results"; }
# after "DEPENDENCIES" NAME SECONDS COMMAND...: the stage, where every dependency passed.
after() {
    local deps=$1 dep
    shift
    for dep in $deps; do
        passed "$dep" || { printf '%s\tNOT RUN\t0\tneeds %s\n' "$1" "$dep" >>"$results"; return 1; }
    done
    stage "$@"
}

nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc 2>/dev/null | tail -1)
jobs=$(nproc)
if [ "$mode" = dry-run ]; then arch=${ARCH:-90}; else arch=${ARCH:-native}; fi
# The machine's LibTorch: the one its Python's torch ships (the CUDA build on
# the GPU machine); where that folder has none (Debian), CMake's default search.
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
[ -f "$torch_prefix/Torch/TorchConfig.cmake" ] || torch_prefix=""
prefix=$build/kit-prefix

machine() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
    echo "nvcc: ${nvcc:-none} $("${nvcc:-false}" --version 2>/dev/null | grep -o 'release [0-9.]*')"
    echo "c++: $(c++ --version | head -1)"
    echo "cmake: $(cmake --version | head -1)"
    echo "python: $("$python" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1)"
    echo "libtorch: ${torch_prefix:-CMake default search}"
    echo "cores: $jobs"
}

# The kit's compiled parts, built here by this machine's compiler into build/gpu/kit-prefix.
build_kit() {
    set -e
    # Built once per kit: a second call on a warm machine keeps build/ (and its trees' objects).
    local stamp
    stamp=$(cd "$kit" && find . -type f | sort | xargs cksum | cksum)
    if [ "$(cat "$prefix/stamp" 2>/dev/null)" = "$stamp" ]; then echo "kit already built"; return; fi
    rm -rf "$build/kit-src" "$prefix" && mkdir -p "$build/kit-src" "$prefix/lib"
    cp -r "$kit/prefix/." "$prefix/"
    tar -xzf "$kit"/src/catch2_*.orig.tar.gz -C "$build/kit-src"
    tar -xzf "$kit"/src/benchmark_*.orig.tar.gz -C "$build/kit-src"
    local common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib)
    cmake -S "$build"/kit-src/catch2-* -B "$build/kit-src/catch2-build" "${common[@]}" -DCATCH_BUILD_TESTING=OFF \
          -DCATCH_BUILD_STATIC_LIBRARY=ON -DCATCH_INSTALL_DOCS=OFF -DCATCH_ENABLE_WERROR=OFF
    cmake --build "$build/kit-src/catch2-build" -j "$jobs" && cmake --install "$build/kit-src/catch2-build"
    cmake -S "$build"/kit-src/benchmark-* -B "$build/kit-src/benchmark-build" "${common[@]}" \
          -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF -DBENCHMARK_ENABLE_WERROR=OFF
    cmake --build "$build/kit-src/benchmark-build" -j "$jobs" && cmake --install "$build/kit-src/benchmark-build"
    # stb: the implementations of its two headers in one static library.
    mkdir -p "$prefix/include/stb" && cp "$kit"/src/stb/*.h "$prefix/include/stb/"
    printf '#define STB_IMAGE_IMPLEMENTATION\n#include "stb_image.h"\n#define STB_IMAGE_WRITE_IMPLEMENTATION\n#include "stb_image_write.h"\n' \
        >"$build/kit-src/stb.c"
    "$(command -v cc || command -v gcc || command -v c++)" -x c -O2 -fPIC -I"$prefix/include/stb" \
        -c "$build/kit-src/stb.c" -o "$build/kit-src/stb.o"
    ar rcs "$prefix/lib/libstb.a" "$build/kit-src/stb.o"
    echo "$stamp" >"$prefix/stamp"
}

# Warnings are not errors here: that machine's compiler may be newer than CI's,
# and a new warning must not cost the check (CI keeps the project's code clean).
configure() {  # configure DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
          -DCMAKE_CUDA_COMPILER="$nvcc" -DILVR_GOLDEN_DIR="$kit/golden" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
          -DILVR_WARNINGS_AS_ERRORS=OFF "$@"
}
# The device tests and benchmarks (no LibTorch: a LibTorch problem cannot stop them).
build_device() {
    configure "$build/device" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON \
              -DILVR_BUILD_EXAMPLES=OFF &&
        cmake --build "$build/device" -j "$jobs" --target test_device_cuda bench_device_cuda
}
# The tool against the machine's LibTorch, with run_cuda.cu by nvcc. Without a
# CUDA LibTorch (the dry run's Debian one) the tool links without it, and its
# CUDA branch (run.hpp, main.cpp) is compiled by the host compiler, not linked.
build_tool() {
    configure "$build/tool" -DCMAKE_PREFIX_PATH="$prefix;$torch_prefix" -DILVR_BUILD_TESTS=OFF \
              -DILVR_BUILD_BENCHMARKS=OFF || return 1
    cmake --build "$build/tool" -j "$jobs" --target ilvr_cli ilvr_cli_cuda || return 1
    if grep -q ILVR_CLI_CUDA "$build/tool/compile_commands.json"; then
        echo "gpu-check: the tool links the CUDA backend"
    else
        echo "gpu-check: LibTorch without CUDA: compiling the tool's CUDA branch (main.cpp) without linking it"
        "$python" - "$build/tool/compile_commands.json" "$(dirname "$(dirname "$nvcc")")/include" <<'PY'
import json, shlex, subprocess, sys
entry = next(e for e in json.load(open(sys.argv[1])) if e["file"].endswith("ilvr_cli/main.cpp"))
cmd, words = [], iter(shlex.split(entry["command"]))
for w in words:  # the build's command without its output: -c and -o FILE
    if w == "-o":
        next(words)
    elif w != "-c":
        cmd.append(w)
# A CPU LibTorch has the CUDA headers but not the one its CUDA build generates;
# C10_CUDA_NO_CMAKE_CONFIGURE_FILE is LibTorch's own switch for that case.
cmd += ["-DILVR_CLI_CUDA", "-DILVR_TORCH_CUDA", "-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE", "-isystem", sys.argv[2],
        "-fsyntax-only"]
sys.exit(subprocess.run(cmd, cwd=entry["directory"]).returncode)
PY
    fi
}

tool=$build/tool/examples/ilvr_cli/ilvr
cli_job="--respacing 50 --samples 4 --factor 4,8 --batch 8 --seed 7 --quiet"
# shellcheck disable=SC2086 # cli_job is a list of words
tool_cpu() { rm -rf "$build/run/cpu" && "$tool" $cli_job --device cpu --out "$build/run/cpu"; }
# shellcheck disable=SC2086
tool_cuda() { rm -rf "$build/run/cuda" && "$tool" $cli_job --device cuda --out "$build/run/cuda"; }
compare_tool() { "$python" scripts/gpu_check.py --figures "$figures" compare-samples "$build/run/cuda" "$build/run/cpu"; }
dry_compare() {  # the comparison's code on two CPU runs, which must agree exactly
    tool_cpu && mv "$build/run/cpu" "$build/run/cpu-1" && tool_cpu &&
        "$python" scripts/gpu_check.py compare-samples "$build/run/cpu-1" "$build/run/cpu" --label "tool cpu vs cpu" --exact
}

# The paper's FFHQ 256x256 ADM (ILVR's README), random weights, converted by this machine's PyTorch.
adm_flags="--attention_resolutions 16 --class_cond False --diffusion_steps 1000 --dropout 0.0 --image_size 256 \
--learn_sigma True --noise_schedule linear --num_channels 128 --num_head_channels 64 --num_res_blocks 1 \
--resblock_updown True --use_fp16 False --use_scale_shift_norm True --timestep_respacing 100"
adm_model=$build/adm/ffhq256-random.pt
adm_steps=20 adm_batch=4
convert_adm() { "$python" scripts/convert.py adm --random-weights 0 --flags "$adm_flags" --out "$adm_model"; }
adm_speed() {  # tool, Python, tool, Python: the same network, steps, batch and reference on the GPU
    local ref=docs/images/inputs/photo-boot.png r line
    for r in 1 2; do
        line=$("$tool" --model "$adm_model" --device cuda --respacing "$adm_steps" --batch "$adm_batch" \
               --samples "$adm_batch" --factor 8 --out "$build/run/adm" "$ref" 2>&1 | grep -o 'sampled .* s') || return 1
        echo "tool #$r: $line"
        line=$("$python" scripts/compare_python_loop.py --device cuda --model "$adm_model" --reference "$ref" \
               --steps "$adm_steps" --batch "$adm_batch" --factor 8 | grep 'python loop') || return 1
        echo "python #$r: $line"
    done
    "$python" scripts/gpu_check.py --figures "$figures" speed "$logs/adm-speed.log" --steps "$adm_steps" \
        --what "batch $adm_batch, factor 8" >"$logs/adm-speed.summary"
}

device_tests() {  # exit 77 (skipped) is a failure on a machine with a GPU
    "$build/device/tests/test_device_cuda" --durations yes
}
sanitize() {  # sanitize TOOL
    "$(command -v compute-sanitizer || echo "$(dirname "$nvcc")/compute-sanitizer")" --tool "$1" --error-exitcode 3 \
        "$build/device/tests/test_device_cuda"
}
bench_device() {
    "$build/device/benchmarks/bench_device_cuda" --benchmark_min_time=0.2 --benchmark_out="$logs/bench.json" \
        --benchmark_out_format=json && "$python" scripts/gpu_check.py --figures "$figures" bench "$logs/bench.json"
}

export ILVR_GOLDEN_DIR=$kit/golden PYTHONUNBUFFERED=1
# The stages run in child shells (under timeout): they see these.
export root kit build python logs figures nvcc jobs arch torch_prefix prefix tool cli_job adm_flags adm_model adm_steps adm_batch
export -f build_kit configure build_device build_tool tool_cpu tool_cuda compare_tool dry_compare convert_adm adm_speed \
          device_tests sanitize bench_device
machine | tee "$logs/machine.txt"
stage kit 180 build_kit
# The two trees build at once (nvcc's files are long, single-threaded compiles).
stage build-device 300 build_device &
stage build-tool 300 build_tool &
wait
if [ "$mode" = dry-run ]; then
    after build-tool convert-adm 300 convert_adm
    after build-tool tool-cpu 120 dry_compare
    echo "== dry run: would run =="
    echo "device tests: $build/device/tests/test_device_cuda (golden traces from $kit/golden), then under compute-sanitizer memcheck and racecheck"
    echo "benchmarks: $build/device/benchmarks/bench_device_cuda (fused update + phi_N on 8x3x256x256 against the copy, target >= 70 %)"
    echo "tool: $tool $cli_job --device cuda, against --device cpu (mean |diff| <= 1 level of 255, max <= 32)"
    echo "adm: $tool --model $adm_model --device cuda --respacing $adm_steps --batch $adm_batch, interleaved with scripts/compare_python_loop.py --device cuda"
else
    # The conversion (CPU) beside the device tests (GPU); the timings run alone.
    after build-tool convert-adm 150 convert_adm &
    after build-device device-tests 90 device_tests
    wait
    after build-device bench 90 bench_device
    after build-tool tool-cpu 90 tool_cpu
    after build-tool tool-cuda 90 tool_cuda
    after "tool-cpu tool-cuda" tool-compare 60 compare_tool
    after convert-adm adm-speed 150 adm_speed
    after build-device memcheck 120 sanitize memcheck
    after build-device racecheck 120 sanitize racecheck
fi

# --- summary -------------------------------------------------------------------
{
    echo "== gpu-check ($mode): $(( $(date +%s) - start )) s =="
    cat "$logs/machine.txt"
    awk -F'\t' '{printf "%-13s %-8s %4s s  %s\n", $1, $2, $3, $4}' "$results"
    [ -f "$logs/device-tests.log" ] && "$python" scripts/gpu_check.py --figures "$figures" tests "$logs/device-tests.log"
    for tool_name in memcheck racecheck; do
        [ -f "$logs/$tool_name.log" ] && grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" "$logs/$tool_name.log" | sed "s/^/$tool_name: /"
    done
    [ -f "$logs/bench.log" ] && grep -E "^(copy|low_pass|ilvr_update).*%|^copy:" "$logs/bench.log"
    [ -f "$logs/tool-compare.log" ] && cat "$logs/tool-compare.log"
    [ -f "$logs/tool-cpu.log" ] && grep -h "cpu vs cpu" "$logs/tool-cpu.log"
    [ -f "$logs/convert-adm.log" ] && grep -h "convert: wrote" "$logs/convert-adm.log"
    [ -f "$logs/adm-speed.summary" ] && cat "$logs/adm-speed.summary"
    if grep -qv $'\tpass\t' "$results"; then echo "result: FAILED ($(grep -cv $'\tpass\t' "$results") stage(s))"; else echo "result: every stage passed"; fi
} | tee "$logs/summary.txt"
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    cp "$logs/summary.txt" "$logs/figures.txt" "$OUT/"
    tar -czf "$OUT/logs.tar.gz" -C "$build" logs
fi
if grep -qv $'\tpass\t' "$results"; then exit 1; fi
