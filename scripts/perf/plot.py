#!/usr/bin/python3
"""Draws docs/images/perf_scaling.png from the benchmark JSON of docs/perf/.

Left: time of phi_N and of one ILVR step (batch 1, one thread) against the
number of pixels, log-log, with a line of slope 1 (cost proportional to pixels).
Middle: phi_N's time against N for each image size, log-log (flat = cost
independent of N). Right: images per second of whole ILVR runs (Gaussian-prior
denoiser, 20 steps) against batch size on 1 and 2 threads.

    /usr/bin/python3 scripts/perf/plot.py [--perf docs/perf] [--out docs/images/perf_scaling.png]
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
UNIT_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def load(path):
    """Google Benchmark JSON -> [(family, {arg: value}, real time in us, counters)], medians where repeated."""
    with open(path) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    has_median = any(b.get("aggregate_name") == "median" for b in runs)
    rows = []
    for b in runs:
        if has_median and b.get("aggregate_name") != "median":
            continue
        if not has_median and b.get("run_type") == "aggregate":
            continue
        name = b.get("run_name", b["name"]).removesuffix("/real_time")
        family, *parts = name.split("/")
        args = {}
        for p in parts:
            m = re.fullmatch(r"(\w+):(\d+)", p)
            if m:
                args[m.group(1)] = int(m.group(2))
        rows.append((family, args, b["real_time"] * UNIT_US[b["time_unit"]], b))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--perf", default=os.path.join(ROOT, "docs", "perf"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images", "perf_scaling.png"))
    args = parser.parse_args()
    path = os.path.join(args.perf, "scaling.json")
    if not os.path.exists(path):
        print(f"plot.py: {path} is missing; run scripts/perf/scaling.sh first", file=sys.stderr)
        return 1
    rows = load(path)

    phi = defaultdict(dict)   # N -> pixels -> us
    step = defaultdict(dict)  # N -> pixels -> us
    by_size = defaultdict(dict)  # (h, w) -> N -> us
    runs = defaultdict(dict)  # threads -> batch -> images/s
    for family, a, us, raw in rows:
        if family == "scaling_low_pass":
            phi[a["N"]][a["h"] * a["w"]] = us
            by_size[(a["h"], a["w"])][a["N"]] = us
        elif family == "scaling_ilvr_step" and a.get("batch") == 1 and a.get("threads") == 1:
            step[a["N"]][a["h"] * a["w"]] = us
        elif family == "scaling_ilvr_run":
            runs[a["threads"]][a["batch"]] = raw.get("images_per_second", a["batch"] / (us * 1e-6))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    for n in sorted(phi):
        if n in (2, 8, 64):
            xs = sorted(phi[n])
            ax.plot(xs, [phi[n][x] for x in xs], "o-", label=f"phi_N, N = {n}")
    for n in sorted(step):
        if n in (2, 8, 64):
            xs = sorted(step[n])
            ax.plot(xs, [step[n][x] for x in xs], "s--", label=f"ILVR step, N = {n}")
    if phi.get(8):
        xs = sorted(phi[8])
        ax.plot(xs, [phi[8][xs[-1]] * x / xs[-1] for x in xs], ":", color="grey", label="proportional to pixels")
    ax.set(xscale="log", yscale="log", xlabel="pixels (H x W), 3 channels", ylabel="time per image (us)",
           title="cost against image size (1 thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    ax = axes[1]
    for (h, w) in sorted(by_size, key=lambda s: s[0] * s[1]):
        ns = sorted(by_size[(h, w)])
        ax.plot(ns, [by_size[(h, w)][n] for n in ns], "o-", label=f"{w} x {h}")
    ax.set(xscale="log", yscale="log", xlabel="factor N", ylabel="phi_N time per image (us)",
           title="phi_N against N (1 thread)")
    ax.set_xticks([2, 3, 4, 5, 8, 12, 16, 32, 64])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, title="W x H")

    ax = axes[2]
    for threads in sorted(runs):
        bs = sorted(runs[threads])
        ax.plot(bs, [runs[threads][b] for b in bs], "o-", label=f"{threads} thread{'s' if threads > 1 else ''}")
    if 1 in runs and 2 in runs:
        for b in sorted(set(runs[1]) & set(runs[2])):
            ax.annotate(f"x{runs[2][b] / runs[1][b]:.2f}", (b, runs[2][b]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8)
    ax.set(xscale="log", xlabel="batch", ylabel="images per second",
           title="ILVR run, 3x256x256, 20 steps, Gaussian denoiser")
    ax.set_xticks([1, 2, 4, 8, 16, 32])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"plot.py: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
