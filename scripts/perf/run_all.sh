#!/usr/bin/env bash
# Reruns the whole performance study of docs/performance.md: builds the
# benchmarks (Release, own build folder), runs them with JSON output into
# docs/perf/, runs the peer comparison (peers.py), the scaling study
# (scaling.sh) and draws docs/images/perf_scaling.png (plot.py).
#
#   scripts/perf/run_all.sh                 # every stage
#   scripts/perf/run_all.sh bench peers     # some stages: build bench peers scaling plot
#
# It pauses nothing itself. Timings are only meaningful on a quiet machine: stop
# other heavy work first (e.g. `kill -STOP <pid>` of a training job, and
# `kill -CONT <pid>` afterwards) and check `uptime`; the load average at the
# start and end of each stage is written to docs/perf/machine.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export BUILD="${BUILD:-$root/build-perf}"
out="$root/docs/perf"
py=/usr/bin/python3
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build bench peers scaling plot)
mkdir -p "$out"

load() { cut -d' ' -f1-3 /proc/loadavg; }
note() {  # stage, start|end: appends the load average to docs/perf/machine.json's log
    "$py" - "$out/machine.json" "$1" "$2" "$(load)" <<'PY'
import json, os, subprocess, sys, time
path, stage, when, load = sys.argv[1:]
data = json.load(open(path)) if os.path.exists(path) else {}
lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
data["cpu"] = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name:")), "?")
data["cores"] = os.cpu_count()
data["compiler_flags"] = "CMAKE_BUILD_TYPE=Release (-O3 -DNDEBUG), no -march"
data.setdefault("load", {}).setdefault(stage, {})[when] = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg": load}
json.dump(data, open(path, "w"), indent=1)
PY
}

bench() {  # binary, output name, filter
    "$BUILD/benchmarks/$1" --benchmark_filter="$3" --benchmark_repetitions=3 \
        --benchmark_report_aggregates_only=true --benchmark_out="$out/$2.json" --benchmark_out_format=json
}

for stage in "${stages[@]}"; do
    echo "== $stage (load $(load))"
    note "$stage" start
    case "$stage" in
    build)
        bash "$root/scripts/install-deps.sh"
        cmake -S "$root" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DILVR_CUDA=OFF
        targets=(bench_low_pass bench_ilvr_step bench_sampling bench_scaling peak_memory phi_dump)
        # opencv_phi exists only where CMake found OpenCV (libopencv-dev).
        cmake --build "$BUILD" --target help | grep -q '^opencv_phi:' && targets+=(opencv_phi)
        # bench_model exists only where LibTorch was found (libtorch-dev).
        cmake --build "$BUILD" --target help | grep -q '^bench_model:' && targets+=(bench_model)
        cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}"
        ;;
    bench)
        bench bench_low_pass low_pass .
        bench bench_ilvr_step ilvr_step .
        bench bench_sampling sampling .
        [ -x "$BUILD/benchmarks/bench_model" ] && bench bench_model model .
        ;;
    peers) "$py" "$root/scripts/perf/peers.py" --build "$BUILD" --out "$out/peers.json" ;;
    scaling) bash "$root/scripts/perf/scaling.sh" ;;
    plot) "$py" "$root/scripts/perf/plot.py" --perf "$out" --out "$root/docs/images/perf_scaling.png" ;;
    *) echo "run_all.sh: unknown stage '$stage' (build bench peers scaling plot)" >&2; exit 2 ;;
    esac
    note "$stage" end
done
