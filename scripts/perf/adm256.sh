#!/usr/bin/env bash
# The ilvr tool against the Python loop (scripts/compare_python_loop.py) on a
# converted 256 x 256 ADM with the paper's FFHQ flags and random weights, the
# same steps, batch and threads, interleaved (tool, Python, tool, Python, ...);
# each line also gives the process's CPU seconds, wall time and peak memory.
# docs/performance.md.
#
#   scripts/perf/adm256.sh [ILVR] [REPEATS] [STEPS] [THREADS]
# ILVR defaults to build/release/examples/ilvr_cli/ilvr; the network is written
# once to $ADM_MODEL (default /tmp/ilvr-adm/ffhq256-random.pt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ilvr="${1:-$root/build/release/examples/ilvr_cli/ilvr}"
repeats="${2:-2}" steps="${3:-2}" threads="${4:-2}"
model="${ADM_MODEL:-/tmp/ilvr-adm/ffhq256-random.pt}"
python=/usr/bin/python3
flags="--attention_resolutions 16 --class_cond False --diffusion_steps 1000 --dropout 0.0 --image_size 256 \
--learn_sigma True --noise_schedule linear --num_channels 128 --num_head_channels 64 --num_res_blocks 1 \
--resblock_updown True --use_fp16 False --use_scale_shift_norm True --timestep_respacing 100"
[ -f "$model" ] || "$python" "$root/scripts/convert.py" adm --random-weights 0 --flags "$flags" --out "$model" --no-check
ref="$root/docs/images/inputs/photo-boot.png"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The process as /usr/bin/time -v saw it: CPU seconds (user + system), wall time, peak memory.
process() {
    awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} /Elapsed \(wall/ {w = $2}
                /Maximum resident/ {m = $2} END {printf "process: CPU %.1f s, wall %s, peak %.0f MiB", u + s, w, m / 1024}' "$1"
}
for r in $(seq 1 "$repeats"); do
    /usr/bin/time -v "$ilvr" --model "$model" --respacing "$steps" --batch 1 --samples 1 --factor 8 \
        --threads "$threads" --out "$out/tool" "$ref" >/dev/null 2>"$out/tool.err" || { cat "$out/tool.err"; exit 1; }
    echo "tool   #$r: $(grep -o 'sampled .* s' "$out/tool.err"); $(process "$out/tool.err")"
    /usr/bin/time -v "$python" "$root/scripts/compare_python_loop.py" --model "$model" --reference "$ref" \
        --steps "$steps" --batch 1 --factor 8 --threads "$threads" >"$out/py.out" 2>"$out/py.err" \
        || { cat "$out/py.out" "$out/py.err"; exit 1; }
    echo "python #$r: $(grep -o 'python loop: .*' "$out/py.out" | sed 's/;.*//'); $(process "$out/py.err")"
done
