#!/usr/bin/env bash
# The user's wait: one 256 x 256 ILVR sample (N = 8) with the paper's FFHQ flags
# (random weights, converted by scripts/convert.py) on this machine, through the
# ilvr tool, for the defaults (ddpm, 100 steps, fp32) and faster settings, the
# settings interleaved (each round runs every setting once), so a busy machine
# slows them alike. Prints per run the tool's sampling time and the whole
# process's CPU seconds (all threads) and wall time (loading included), and the
# load average before and after: on a shared machine the CPU seconds are the
# steadier figure (a free machine's wall time is about CPU / threads).
# docs/performance.md ("The user's wait").
#
#   scripts/perf/wait256.sh [ILVR] [ROUNDS] [THREADS]
# ILVR defaults to build/release/examples/ilvr_cli/ilvr; the network is written
# once to $ADM_MODEL (default /tmp/ilvr-adm/ffhq256-random.pt). $SETTINGS
# overrides the list: settings separated by ';', each the tool's options.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ilvr="${1:-$root/build/release/examples/ilvr_cli/ilvr}"
rounds="${2:-1}" threads="${3:-2}"
model="${ADM_MODEL:-/tmp/ilvr-adm/ffhq256-random.pt}"
# The defaults, then the SDE solver at 20 calls in fp32 and bf16, and with the
# final projection in bf16: the fastest setting inside DDPM-100's quality bounds
# (docs/evaluation.md).
settings="${SETTINGS:---sampler ddpm --respacing 100;\
--sampler dpm++2m-sde --respacing 20;\
--sampler dpm++2m-sde --respacing 20 --precision bf16;\
--sampler dpm++2m-sde --respacing 20 --final-projection 20 --precision bf16}"
flags="--attention_resolutions 16 --class_cond False --diffusion_steps 1000 --dropout 0.0 --image_size 256 \
--learn_sigma True --noise_schedule linear --num_channels 128 --num_head_channels 64 --num_res_blocks 1 \
--resblock_updown True --use_fp16 False --use_scale_shift_norm True --timestep_respacing 100"
[ -f "$model" ] || /usr/bin/python3 "$root/scripts/convert.py" adm --random-weights 0 --flags "$flags" --out "$model" --no-check
ref="$root/docs/images/inputs/photo-boot.png"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $threads thread(s), $(nproc) core(s)"
IFS=';' read -r -a list <<<"$settings"
for r in $(seq 1 "$rounds"); do
    for s in "${list[@]}"; do
        # shellcheck disable=SC2086  # a setting is a list of options
        /usr/bin/time -v "$ilvr" --model "$model" $s --batch 1 --samples 1 --factor 8 --threads "$threads" \
            --out "$out/run" "$ref" >/dev/null 2>"$out/err" || { cat "$out/err"; exit 1; }
        # The process as /usr/bin/time -v saw it: CPU seconds (user + system, all threads), wall time.
        cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.1f", u + s}' "$out/err")
        wall=$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$out/err")
        printf 'round %d, %-55s %s; process: CPU %s s, wall %s\n' "$r" "$s:" "$(grep -o 'sampled .* s' "$out/err")" \
            "$cpu" "$wall"
        rm -rf "$out/run"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
