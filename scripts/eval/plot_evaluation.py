#!/usr/bin/python3
"""Plot the diversity results of scripts/eval/evaluate.py (issue 8).

Reads a results JSON and writes one PNG with four panels: the mean pairwise
distance of the samples of a reference against the factor N (log2 axis) in
pixels and in classifier features, and the same at a fixed N against the
conditioning range (paper Table 2 and Fig. 5). Error bars are the 95 %
bootstrap intervals; the dashed line is the diversity of unconditional samples.

evaluate.py calls plot() itself; to redraw from a saved results file:
    /usr/bin/python3 scripts/eval/plot_evaluation.py [--results out/eval/results.json] [--out FILE.png]
"""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SPACES = [("pixel", "pixels: RMS distance ([-1, 1] units)"), ("feature", "classifier features: Euclidean distance")]


def errorbar(ax, x, summaries, **kw):
    """Means with asymmetric CI error bars."""
    means = [s["mean"] for s in summaries]
    lo = [s["mean"] - s["ci95"][0] for s in summaries]
    hi = [s["ci95"][1] - s["mean"] for s in summaries]
    ax.errorbar(x, means, yerr=[lo, hi], marker="o", capsize=3, **kw)


def plot(res, path):
    """Writes the four-panel diversity figure of results `res` to `path`."""
    cfg, m = res["config"], res["metrics"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for col, (space, label) in enumerate(SPACES):
        uncond = m["diversity"]["unconditional"][space]["mean"]

        ax = axes[0, col]
        errorbar(ax, cfg["factors"], [m["diversity"][str(n)][space] for n in cfg["factors"]], label="ILVR")
        ax.axhline(uncond, color="grey", linestyle="--", label="unconditional")
        ax.set_xscale("log", base=2)
        ax.set_xticks(cfg["factors"])
        ax.set_xticklabels([str(n) for n in cfg["factors"]])
        ax.set_xlabel("factor N")
        ax.set_ylabel(label)
        ax.set_title(f"diversity vs N ({space})")
        ax.legend(loc="upper left")

        ax = axes[1, col]
        x = list(range(len(cfg["ranges"])))
        errorbar(ax, x, [m["range_diversity"][r][space] for r in cfg["ranges"]], color="C1",
                 label=f"ILVR N={cfg['range_factor']}")
        ax.axhline(uncond, color="grey", linestyle="--", label="unconditional")
        ax.set_xticks(x)
        ax.set_xticklabels(cfg["ranges"])
        ax.set_xlabel("conditioned range FROM:TO (steps with TO <= t < FROM)")
        ax.set_ylabel(label)
        ax.set_title(f"diversity vs conditioning range ({space})")
        ax.legend(loc="upper left")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"ILVR sample diversity, Fashion-MNIST: {cfg['div_refs']} references x {cfg['div_samples']} "
                 f"samples, {cfg['steps']} steps (preset {cfg['preset']}); bars: 95 % bootstrap CI")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="out/eval/results.json")
    p.add_argument("--out", help="PNG to write (default: eval_diversity.png in figures/ beside the results)")
    args = p.parse_args(argv)
    with open(args.results) as f:
        res = json.load(f)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.results)), "figures", "eval_diversity.png")
    plot(res, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
