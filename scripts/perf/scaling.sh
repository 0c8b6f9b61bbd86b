#!/usr/bin/env bash
# Scaling study: phi_N and one ILVR step over image sizes (64x64 .. 2048x1536) and
# factors N = 2 .. 64; whole ILVR runs over batch 1 .. 32 on 1 and 2 threads;
# peak memory of a 1024x1024 RGB sampling run. Writes docs/perf/scaling.json and
# docs/perf/memory.json. Expects the binaries of scripts/perf/run_all.sh's build
# stage (BUILD, default build-perf). Pause other heavy work while it runs.
#
#   scripts/perf/scaling.sh [bench_scaling filter]     (default: every case)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BUILD:-$root/build-perf}"
out="${PERF_OUT:-$root/docs/perf}"
repetitions="${PERF_REPETITIONS:-3}"
mkdir -p "$out"

"$build/benchmarks/bench_scaling" \
    --benchmark_filter="${1:-.}" \
    --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true \
    --benchmark_min_time="${PERF_MIN_TIME:-0.1}" \
    --benchmark_out="$out/scaling.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=true

# Peak memory: ru_maxrss before and after a 20-step ILVR run (N = 8) with the
# Gaussian-prior denoiser, as multiples of one image's float32 size.
{
    echo "["
    "$build/benchmarks/peak_memory" 1024 1024 3 1 20 8 1
    echo ","
    "$build/benchmarks/peak_memory" 1024 1024 3 1 20 8 2
    echo ","
    "$build/benchmarks/peak_memory" 1024 1024 3 4 20 8 2
    echo "]"
} > "$out/memory.json"
python3 - "$out/memory.json" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1])):
    print(f"peak memory {m['height']}x{m['width']}x{m['channels']}, batch {m['batch']}, {m['threads']} thread(s): "
          f"{m['peak_beyond_baseline_images']:.2f} images beyond the process baseline "
          f"({m['library_beyond_inputs_images']:.2f} beyond the caller's samples and reference)")
PY
