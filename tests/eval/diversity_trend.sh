#!/usr/bin/env bash
# eval.diversity_trend TOOL OUT: scripts/eval/evaluate.py --preset test --check
# with the built tool into a fresh folder OUT. Exit 77 (ctest: skipped) where
# Debian's /usr/bin/python3 lacks torch, numpy, PIL or matplotlib.
set -euo pipefail
tool=$1 out=$2
if ! /usr/bin/python3 -c "import torch, numpy, PIL, matplotlib" 2> /dev/null; then
    echo "eval.diversity_trend: skipped, /usr/bin/python3 lacks torch, numpy, PIL or matplotlib"
    exit 77
fi
rm -rf "$out"
exec /usr/bin/python3 "$(dirname "$0")/../../scripts/eval/evaluate.py" --preset test --check --tool "$tool" --out "$out"
