#!/usr/bin/env bash
# Regenerates the pictures of the paper's four applications on the bundled
# Fashion-MNIST model (docs/applications.md), one command each:
#
#   scripts/docs/applications.sh factors       # Fig. 4: factor sweep    -> docs/images/app_factors.png
#   scripts/docs/applications.sh ranges        # Fig. 5: range sweep     -> docs/images/app_ranges.png
#   scripts/docs/applications.sh translation   # Fig. 6: unseen domain   -> docs/images/app_translation.png
#   scripts/docs/applications.sh scribble      # Fig. 7: scribble edits  -> docs/images/app_scribble.png
#   scripts/docs/applications.sh inpainting    # inpainting by a mask    -> docs/images/app_inpainting.png
#   scripts/docs/applications.sh schedule      # a schedule of N         -> docs/images/app_schedule.png
#   scripts/docs/applications.sh all
#
# It builds the tool (release preset) if needed; every run has a fixed seed, so
# the pictures are reproducible. Work files go to out/applications/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TOOL=$ROOT/build/release/examples/ilvr_cli/ilvr
REFS=$ROOT/models/fashion-mnist-ddpm/references
INPUTS=$ROOT/docs/images/inputs
WORK=$ROOT/out/applications
IMAGES=$ROOT/docs/images
PY=/usr/bin/python3

if [[ ! -x $TOOL ]]; then
    [[ -f build/release/CMakeCache.txt ]] || cmake --preset release
    cmake --build --preset release -j 2 --target ilvr_cli
fi
ilvr() { "$TOOL" --seed 0 --respacing 100 "$@"; }
enlarge() { "$PY" scripts/docs/stack_grids.py --scale 2 "$1" "" "$1"; }  # 32 x 32 cells at 2x

factors() {  # how much of the reference survives, by N
    ilvr --factor 2,4,8,16,32 --samples 6 --out "$WORK/factors" --grid "$IMAGES/app_factors.png" \
        "$REFS/t10k-0001-pullover.png" "$REFS/t10k-0009-sneaker.png"
    enlarge "$IMAGES/app_factors.png"
}

ranges() {  # condition only the first part of the reverse process
    local args=() r
    for r in 1000:0 1000:250 1000:500 1000:750; do
        ilvr --factor 4 --range $r --samples 6 --out "$WORK/ranges/${r/:/-}" \
            "$REFS/t10k-0000-ankle-boot.png" "$REFS/t10k-0013-dress.png"
        args+=("N = 4, conditioned from t = ${r%%:*} down to t = ${r##*:}" "$WORK/ranges/${r/:/-}/grid.png")
    done
    "$PY" scripts/docs/stack_grids.py --scale 2 "$IMAGES/app_ranges.png" "${args[@]}"
}

translation() {  # references from another domain: colour drawings, larger than 32 x 32
    [[ -f $INPUTS/photo-boot.png ]] || "$PY" scripts/docs/make_inputs.py
    ilvr --factor 4,8 --range 1000:200 --samples 6 --out "$WORK/translation" \
        --grid "$IMAGES/app_translation.png" "$INPUTS/drawing-tshirt.png" "$INPUTS/photo-boot.png" \
        "$INPUTS/drawing-trousers.png"
    enlarge "$IMAGES/app_translation.png"
}

scribble() {  # a painted stroke becomes part of a plausible item
    [[ -f $INPUTS/scribble-pullover.png ]] || "$PY" scripts/docs/make_inputs.py
    ilvr --factor 2,4,8 --range 1000:200 --samples 6 --out "$WORK/scribble" \
        --grid "$IMAGES/app_scribble.png" "$INPUTS/scribble-pullover.png" "$INPUTS/scribble-ankle-boot.png"
    enlarge "$IMAGES/app_scribble.png"
}

inpainting() {  # the mask's black region generated, the rest kept; plain and with RePaint resampling
    [[ -f $INPUTS/mask-centre.png ]] || "$PY" scripts/docs/make_inputs.py
    ilvr --mask "$INPUTS/mask-centre.png" --samples 4 --out "$WORK/inpainting/plain" \
        "$REFS/t10k-0001-pullover.png" "$REFS/t10k-0000-ankle-boot.png"
    ilvr --mask "$INPUTS/mask-centre.png" --repaint 10,3 --samples 4 --out "$WORK/inpainting/repaint" \
        "$REFS/t10k-0001-pullover.png" "$REFS/t10k-0000-ankle-boot.png"
    "$PY" scripts/docs/stack_grids.py --scale 2 "$IMAGES/app_inpainting.png" \
        "inpainting, the centre square generated" "$WORK/inpainting/plain/grid.png" \
        "with RePaint resampling (jump 10, 3 passes)" "$WORK/inpainting/repaint/grid.png"
}

schedule() {  # coarse to fine: N = 16, then 8, then 4, against N = 4 throughout
    ilvr --factor-schedule 1000:600=16,600:300=8,300:0=4 --samples 4 --out "$WORK/schedule/coarse-to-fine" \
        "$REFS/t10k-0001-pullover.png" "$REFS/t10k-0013-dress.png"
    ilvr --factor 4 --samples 4 --out "$WORK/schedule/fixed" "$REFS/t10k-0001-pullover.png" "$REFS/t10k-0013-dress.png"
    "$PY" scripts/docs/stack_grids.py --scale 2 "$IMAGES/app_schedule.png" \
        "N = 16 for t >= 600, 8 for 300 <= t < 600, 4 below" "$WORK/schedule/coarse-to-fine/grid.png" \
        "N = 4 throughout" "$WORK/schedule/fixed/grid.png"
}

case "${1:-}" in
    factors | ranges | translation | scribble | inpainting | schedule) "$1" ;;
    all) factors && ranges && translation && scribble && inpainting && schedule ;;
    *) echo "usage: $0 factors|ranges|translation|scribble|inpainting|schedule|all" >&2; exit 2 ;;
esac
