#!/usr/bin/env bash
# GPU check, meant for a machine with an NVIDIA GPU (H100/H200), in under 5 minutes:
# builds (unless BUILD holds a build tree already) and runs the [cuda] tests, the
# same under compute-sanitizer (memcheck, racecheck), and the CUDA benchmarks,
# then prints a summary: tests passed, kernel bandwidth as a fraction of the peak.
# Usage: scripts/gpu-check.sh [output-folder]   (BUILD=build/gpu by default)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build/gpu}
out=${1:-$build/gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
if [ ! -x "$build/tests/test_cuda" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DILVR_BUILD_EXAMPLES=OFF >"$out/configure.log" 2>&1 &&
        cmake --build "$build" -j "$(nproc)" --target test_cuda bench_cuda >"$out/build.log" 2>&1 ||
        { echo "build failed: see $out/build.log"; tail -20 "$out/build.log"; exit 1; }
fi
export ILVR_GOLDEN_DIR=${ILVR_GOLDEN_DIR:-$PWD/../shared/golden}
status=0
"$build/tests/test_cuda" -r compact >"$out/tests.log" 2>&1 || status=$?
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in memcheck racecheck; do
    "$sanitizer" --tool $tool --error-exitcode 3 "$build/tests/test_cuda" "[cuda]~[golden]" >"$out/$tool.log" 2>&1 ||
        { echo "$tool: errors (see $out/$tool.log)"; status=1; }
done
"$build/benchmarks/bench_cuda" --benchmark_out="$out/bench.json" --benchmark_out_format=json >"$out/bench.txt" 2>&1
echo "== summary =="
echo "tests: $(tail -2 "$out/tests.log" | tr '\n' ' ') (exit $status)"
grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$out"/memcheck.log "$out"/racecheck.log
grep -E "^cuda_" "$out/bench.txt"
exit $status
