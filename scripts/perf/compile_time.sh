#!/usr/bin/env bash
# Compile time of a minimal sampling program (benchmarks/compile_minimal.cpp:
# the umbrella header, the Gaussian-prior denoiser, DDPM), RUNS times each,
# interleaved with the same program against OTHER_INCLUDE (an include folder of
# another version, e.g. unpacked from a release) when given. Prints the median
# and minimum seconds of `g++ -std=c++20 -O2 -c` and of `-fsyntax-only`.
#   scripts/perf/compile_time.sh [RUNS] [OTHER_INCLUDE]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-6} other=${2:-}
source=benchmarks/compile_minimal.cpp
includes=(include)
[ -n "$other" ] && includes+=("$other")
declare -A times
for ((i = 0; i < runs; i++)); do
    for inc in "${includes[@]}"; do
        for mode in "-c -o /dev/null" "-fsyntax-only"; do
            start=$(date +%s.%N)
            # shellcheck disable=SC2086
            g++ -std=c++20 -O2 -I "$inc" $mode "$source"
            end=$(date +%s.%N)
            times["$inc|$mode"]+="$(awk "BEGIN {print $end - $start}") "
        done
    done
done
for key in "${!times[@]}"; do
    printf '%s: %s\n' "$key" "$(tr ' ' '\n' <<< "${times[$key]}" | sort -n | awk 'NF {a[n++] = $1} END {printf "median %.2f s, min %.2f s over %d runs", (n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2), a[0], n}')"
done | sort
