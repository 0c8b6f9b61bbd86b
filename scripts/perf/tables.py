#!/usr/bin/python3
"""Writes the tables of docs/performance.md from the JSON in docs/perf/.

Every table in that page sits between `<!-- table:NAME -->` and `<!-- end -->`;
with --update the blocks are replaced in place, so the page never holds a figure
the JSON does not; --check exits 1 if a block differs from what the JSON gives
(a ctest runs it). Without either the tables are printed.

    /usr/bin/python3 scripts/perf/tables.py [--perf docs/perf] [--update | --check docs/performance.md]
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict

from plot import load

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PEERS = [("torch_gather", "PyTorch gather"), ("torch_matmul", "PyTorch matmul"), ("pillow", "Pillow"),
         ("opencv_area_cubic", "OpenCV area + cubic"), ("opencv_cubic_cubic", "OpenCV cubic + cubic")]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def us(t):
    """A time in microseconds, in the unit that reads best."""
    return f"{t / 1e3:.1f} ms" if t >= 10_000 else f"{t:.0f} us"


def families(perf, name):
    out = defaultdict(list)
    for family, args, t, raw in load(os.path.join(perf, f"{name}.json")):
        out[family].append((args, t, raw))
    return out


def pick(rows, **want):
    """The time of the row whose arguments include `want`."""
    for args, t, _ in rows:
        if all(args.get(k) == v for k, v in want.items()):
            return t
    raise KeyError(want)


def targets(perf):
    peers = json.load(open(os.path.join(perf, "peers.json")))
    phi = [p for p in peers["phi"] if 4 <= p["N"] <= 32]
    gather = [1 / p["ratio_ilvr_over"]["torch_gather"] for p in phi]
    pillow = [1 / p["ratio_ilvr_over"]["pillow"] for p in phi]
    lp = families(perf, "low_pass")["low_pass"]
    lp_times = [t for a, t, _ in lp if a["side"] == 256 and 4 <= a["N"] <= 32]
    peer_times = [p["ilvr_us"] for p in phi]
    step = families(perf, "ilvr_step")["ilvr_step"]
    steps = [pick(step, batch=1, N=n, threads=1) for n in (4, 16)]
    model = families(perf, "model")
    at_shape = pick(model["ilvr_step_model_shape"], batch=1, threads=1)
    forward = pick(model["model_forward"], batch=1, threads=1)
    run = families(perf, "sampling")["ilvr_run"]
    one, two = pick(run, side=256, batch=8, threads=1), pick(run, side=256, batch=8, threads=2)
    memory = json.load(open(os.path.join(perf, "memory.json")))
    peak = max(m["peak_beyond_baseline_per_sample_images"] for m in memory)

    def holds(ok):
        return "yes" if ok else "**no**"

    rows = [
        ["phi_N, N = 4..32, at least 20x faster than PyTorch written from the specification (gather)",
         f"{min(gather):.1f}x to {max(gather):.1f}x (`peers.json`)", holds(min(gather) >= 20)],
        ["phi_N, N = 4..32, at least 2x faster than Pillow's down-and-up",
         f"{min(pillow):.1f}x to {max(pillow):.1f}x", holds(min(pillow) >= 2)],
        ["phi_N, N = 4..32, under 0.5 ms",
         f"{min(peer_times) / 1e3:.2f} to {max(peer_times) / 1e3:.2f} ms in `peers.json`, "
         f"{min(lp_times) / 1e3:.2f} to {max(lp_times) / 1e3:.2f} ms in `low_pass.json`",
         holds(max(peer_times + lp_times) < 500)],
        ["one ILVR step without the denoiser under 1 ms",
         f"{min(steps) / 1e3:.2f} to {max(steps) / 1e3:.2f} ms (`ilvr_step.json`, N = 4 and 16)",
         holds(max(steps) < 1000)],
        ["the step under 1 % of the bundled model's forward, at the model's shape (1 x 32 x 32)",
         f"{at_shape:.1f} us against {forward / 1e3:.1f} ms: {100 * at_shape / forward:.2f} % (`model.json`)",
         holds(at_shape < 0.01 * forward)],
        ["2 threads on a batch of 8 at least 1.7x one thread (library's own work; whole run, Gaussian denoiser)",
         f"{one / 1e3:.0f} -> {two / 1e3:.0f} ms: {one / two:.2f}x (`sampling.json`)", holds(one / two >= 1.7)],
        ["peak memory of a 1024 x 1024 RGB sampling run under 16 images",
         f"at most {peak:.1f} images per sample (`memory.json`)", holds(peak < 16)],
    ]
    return table(["target", "measured", "holds?"], rows)


def peers_times(perf):
    peers = json.load(open(os.path.join(perf, "peers.json")))
    rows = [[p["N"], f"{p['ilvr_us']:.0f}"] + [f"{p[k + '_us']:.0f}" for k, _ in PEERS] for p in peers["phi"]]
    return table(["N", "ilvr"] + [name for _, name in PEERS], rows)


def peers_ratios(perf):
    peers = json.load(open(os.path.join(perf, "peers.json")))
    rows = []
    for p in peers["phi"]:
        r = p["ratio_ilvr_over"]
        rows.append([p["N"]] + [f"{r[k]:.3f} ({1 / r[k]:.1f}x)" for k, _ in PEERS])
    return table(["N"] + [name for _, name in PEERS], rows)


def peers_checks(perf):
    peers = json.load(open(os.path.join(perf, "peers.json")))
    keys = ["ilvr_vs_torch_gather_max_abs", "ilvr_vs_torch_matmul_max_abs", "interior_pixels",
            "pillow_vs_ilvr_interior_max_abs", "pillow_vs_ilvr_whole_max_abs",
            "opencv_area_cubic_vs_ilvr_interior_max_abs", "opencv_cubic_cubic_vs_ilvr_interior_max_abs"]
    rows = []
    for p in peers["phi"]:
        c = p["check"]
        rows.append([p["N"]] + [str(c[k]) if k == "interior_pixels" else f"{c[k]:.2g}" for k in keys])
    return table(["N", "ilvr vs PyTorch gather", "ilvr vs PyTorch matmul", "interior pixels",
                  "Pillow vs ilvr, interior", "Pillow vs ilvr, whole image", "OpenCV area + cubic, interior",
                  "OpenCV cubic + cubic, interior"], rows)


def loop(perf):
    lp = json.load(open(os.path.join(perf, "peers.json")))["loop"]
    return table(["", "ilvr", "PyTorch", "ratio ilvr / PyTorch"],
                 [[f"{lp['steps']} steps, batch 8, N = {lp['N']} (`perf/peers.json`)", f"{lp['ilvr_ms']:.0f} ms",
                   f"{lp['torch_ms']:.0f} ms", f"{lp['ratio_ilvr_over_torch']:.3f} ({1 / lp['ratio_ilvr_over_torch']:.1f}x faster)"]])


def scaling(perf, family):
    rows = [(a, t) for a, t, _ in families(perf, "scaling")[family] if a.get("batch", 1) == 1
            and a.get("threads", 1) == 1]
    sizes = sorted({(a["w"], a["h"]) for a, _ in rows}, key=lambda s: s[0] * s[1])
    factors = sorted({a["N"] for a, _ in rows})
    by = {(a["N"], a["w"], a["h"]): t for a, t in rows}
    out = []
    for n in factors:
        cells = []
        for w, h in sizes:
            t = by.get((n, w, h))
            cells.append("" if t is None else f"{us(t)} ({t * 1e3 / (3 * w * h):.2f})")
        out.append([n] + cells)
    return table(["N"] + [f"{w} x {h}" for w, h in sizes], out)


def threads(perf):
    rows = [(a, t) for a, t, _ in families(perf, "scaling")["scaling_ilvr_run"]]
    by = {(a["side"], a["batch"], a["threads"]): t for a, t in rows}
    out = []
    for side, batch in sorted({(s, b) for s, b, _ in by}):
        one, two = by.get((side, batch, 1)), by.get((side, batch, 2))
        if one and two:
            out.append([f"{side} x {side}", batch, us(one), us(two), f"{one / two:.2f}x"])
    return table(["image", "batch", "1 thread", "2 threads", "speed-up"], out)


def memory(perf):
    rows = []
    for m in json.load(open(os.path.join(perf, "memory.json"))):
        per = m["peak_beyond_baseline_per_sample_images"]
        rows.append([f"batch {m['batch']}, {m['threads']} thread{'s' if m['threads'] > 1 else ''}",
                     f"{m['peak_beyond_baseline_images']:.2f} images" + (f" ({per:.2f} per sample)" if m["batch"] > 1
                                                                          else ""),
                     f"{m['library_beyond_inputs_images']:.2f}", f"{m['checksum']:g}"])
    return table(["run", "beyond the process baseline", "of which the library's own, beyond samples and reference",
                  "checksum"], rows)


def bandwidth(perf):
    rows = []
    for name in ("low_pass", "ilvr_step", "sampling"):
        f = families(perf, name)
        cells = []
        for kind in ("stream_copy", "stream_triad"):
            _, _, raw = f[f"ilvr_bench::{kind}"][0]
            cells.append(f"{raw['bytes_per_second'] / 1e9:.1f} GB/s")
        rows.append([f"`bench_{name}`"] + cells)
    return table(["binary", "copy", "triad"], rows)


def noise(perf):
    f = families(perf, "ilvr_step")["noise_fill"]
    rows = [["portable (SSE2)" if a["avx2"] == 0 else "AVX2", us(t), f"{t * 1e3 / (3 * 256 * 256):.2f} ns"]
            for a, t, _ in f]
    return table(["path", "3 x 256 x 256 normals", "per normal"], rows)


TABLES = {
    "targets": targets, "peers_times": peers_times, "peers_ratios": peers_ratios, "peers_checks": peers_checks,
    "loop": loop, "scaling_phi": lambda p: scaling(p, "scaling_low_pass"),
    "scaling_step": lambda p: scaling(p, "scaling_ilvr_step"), "threads": threads, "memory": memory,
    "bandwidth": bandwidth, "noise": noise,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--perf", default=os.path.join(ROOT, "docs", "perf"))
    parser.add_argument("--update", help="a markdown file whose table blocks are rewritten in place")
    parser.add_argument("--check", help="a markdown file whose table blocks must match the JSON")
    args = parser.parse_args()
    page = args.update or args.check
    if not page:
        for name, make in TABLES.items():
            print(f"<!-- table:{name} -->\n{make(args.perf)}\n<!-- end -->\n")
        return 0
    text = open(page).read()
    found, stale = set(), []

    def replace(m):
        name = m.group(1)
        if name not in TABLES:
            sys.exit(f"tables.py: {page} names an unknown table '{name}'")
        found.add(name)
        block = f"<!-- table:{name} -->\n{TABLES[name](args.perf)}\n<!-- end -->"
        if block != m.group(0):
            stale.append(name)
        return block

    new_text = re.sub(r"<!-- table:(\w+) -->\n.*?<!-- end -->", replace, text, flags=re.S)
    if args.check:
        if stale:
            print(f"tables.py: {page} differs from {args.perf} in: {', '.join(stale)}; "
                  f"run scripts/perf/tables.py --update {page}", file=sys.stderr)
            return 1
        print(f"tables.py: the {len(found)} tables of {page} match {args.perf}")
        return 0
    open(page, "w").write(new_text)
    print(f"tables.py: rewrote {len(found)} tables in {page}: {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
