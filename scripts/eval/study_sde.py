#!/usr/bin/python3
"""Faithfulness of ILVR with DPM-Solver++(2M) SDE at 20 network calls: variants (issue 22).

A PyTorch prototype of the library's dpmpp_2m_sde + ILVR (docs/spec.md sections
4.8 and 6; phi_N from scripts/perf/peers.py, checked against the library) on
the bundled Fashion-MNIST model, with the variants the literature and the error
analysis suggest, each measured as the solvers preset measures a row
(scripts/eval/evaluate.py: N = 4, phi_N MSE over 200 references x 1 sample and
the Frechet distance of their classifier features to the 10,000 test images,
diversity over 10 references x 4 samples, 95 % bootstrap intervals). Its random
numbers are torch's, not the tool's, so a row matches the tool's row within its
interval, not sample for sample; the baseline row checks that.

Variants (keys of VARIANTS):
  refinements   ILVR refinements per step (the same noised reference each time):
                phi_N (cubic) is not a projection, so one refinement leaves
                phi_N(x) != phi_N(y_a); repeating converges towards it
  final         refinements on the last step only (the clean level, y itself)
  clamp         clamp x to [-1, 1] after each refinement of the last step: alternating
                projections onto {phi_N(x) = phi_N(y)} and the box that the saved
                image is clamped to (y lies in both)
  level         "paper" (the reference noised to the landing level) or
                "reference-code" (one step noisier: the step's start level)
  x0            also refine the x0 prediction: D <- D + phi_N(y - D)
  null_noise    refine the step's mean, then add the SDE noise to (I - phi_N) only
                (the reference's own noise keeps its low frequencies)
  eta           the SDE's noise scale
  steps, lower  K and the lowered final step (K - 1 < lower), for dpm++2m (eta 0)

    /usr/bin/python3 scripts/eval/study_sde.py [--model M] [--only NAME,...] [--out DIR] [--publish]

Writes OUT/study.json and prints the table; --publish copies both to
docs/evaluation/solvers/ (study.json, study.md). Resumable: a variant already in
OUT/study.json with the same settings is not run again.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import evaluate as ev  # noqa: E402  the solvers preset's data, metrics and classifier
from compare_python_loop import respace_count  # noqa: E402  docs/spec.md section 2
from peers import SpecPhi  # noqa: E402

BASE = dict(steps=20, eta=1.0, refinements=1, final=1, level="paper", x0=False, null_noise=False, lower=10,
            clamp=False)
VARIANTS = [
    ("SDE, 20 steps (baseline)", {}),
    ("20 refinements on the last step", dict(final=20)),
    ("20 refinements on the last step, each clamped to [-1, 1]", dict(final=20, clamp=True)),
    ("DPM-Solver++(2M), 12 steps, final step lowered (K <= 15)", dict(eta=0.0, steps=12, lower=15)),
    ("DPM-Solver++(2M), 12 steps, second order to the end (K <= 10 rule)", dict(eta=0.0, steps=12, lower=10)),
    ("2 refinements per step", dict(refinements=2)),
    ("reference noised one step noisier (reference-code level)", dict(level="reference-code")),
    ("x0 refined too", dict(x0=True)),
    ("SDE noise only outside phi_N (refine the mean, then noise)", dict(null_noise=True)),
    ("eta 0.5", dict(eta=0.5)),
    ("2 refinements per step, 20 on the last", dict(refinements=2, final=20)),
    ("5 refinements on the last step", dict(final=5)),
    ("3 refinements per step", dict(refinements=3)),
    ("x0 refined too, 20 refinements on the last step", dict(x0=True, final=20)),
    ("eta 0.5, 20 refinements on the last step", dict(eta=0.5, final=20)),
]


def schedule(steps, timesteps=1000):
    """alpha_bar and alpha_bar_prev of the respaced linear process (docs/spec.md sections 1, 2), float64."""
    betas = np.linspace(1e-4, 0.02, timesteps, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    tau = respace_count(timesteps, steps)
    ab = abar[tau]
    return tau, ab, np.concatenate([[1.0], ab[:-1]])


@torch.no_grad()
def sample(model, refs, settings, seed, factor):
    """ILVR samples [B, 1, 32, 32] of the references [B, 1, 32, 32] with dpmpp_2m_sde and the variant."""
    s = dict(BASE, **settings)
    g = torch.Generator().manual_seed(seed)
    phi = SpecPhi(32, 32, factor).matmul_phi
    tau, ab, abp = schedule(s["steps"])
    k = s["steps"]
    x = torch.randn(refs.shape, generator=g)
    prev, h_prev = None, 0.0
    for i in range(k - 1, -1, -1):
        eps = model(x, torch.full((x.shape[0],), tau[i], dtype=torch.long))
        d = (x / np.sqrt(ab[i]) - np.sqrt(1 / ab[i] - 1) * eps).clamp(-1, 1)
        if s["x0"]:
            d = (d + phi(refs - d)).clamp(-1, 1)
        if abp[i] == 1.0:
            mean, cz, h = d, 0.0, 0.0
        else:
            h = 0.5 * np.log(abp[i] / (1 - abp[i])) - 0.5 * np.log(ab[i] / (1 - ab[i]))
            cx = np.sqrt((1 - abp[i]) / (1 - ab[i])) * np.exp(-s["eta"] * h)
            cd = np.sqrt(abp[i]) * -np.expm1(-(1 + s["eta"]) * h)
            cz = np.sqrt(1 - abp[i]) * np.sqrt(-np.expm1(-2 * s["eta"] * h))
            data = d
            if prev is not None and not (i == 1 and k - 1 < s["lower"]):
                r = h_prev / h
                data = (1 + 1 / (2 * r)) * d - 1 / (2 * r) * prev
            mean = cx * x + cd * data
        prev, h_prev = d, h
        z = torch.randn(refs.shape, generator=g)
        a = abp[i] if s["level"] == "paper" else ab[i]
        y_a = np.sqrt(a) * refs + np.sqrt(1 - a) * torch.randn(refs.shape, generator=g)
        count = s["final"] if i == 0 else s["refinements"]
        if s["null_noise"]:
            x = mean
            for _ in range(count):
                x = x + phi(y_a - x)
            noise = cz * z
            x = x + noise - phi(noise)
        else:
            x = mean + cz * z
            for _ in range(count):
                x = x + phi(y_a - x)
                if s["clamp"] and i == 0:
                    x = x.clamp(-1, 1)
    return x


def to_u8(x):
    """Samples in [-1, 1] -> uint8 as the tool writes them."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()[:, 0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(ROOT, "models/fashion-mnist-ddpm/model.pt"))
    p.add_argument("--classifier", default=os.path.join(ROOT, "models/fashion-mnist-classifier/classifier.pt"))
    p.add_argument("--data", default=ev.DEFAULT_DATA)
    p.add_argument("--only", help="comma-separated words: run only the variants whose name contains one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=os.path.join(ROOT, "out/study-sde"))
    p.add_argument("--publish", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "study.json")
    model_sha = ev.sha256(args.model)
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old.get("model_sha256") == model_sha and old.get("seed") == args.seed:
            done = {r["name"]: r for r in old["rows"]}
    model = torch.jit.load(args.model, map_location="cpu").eval()
    clf = ev.Classifier(args.classifier)
    n, fid_refs, div_refs, div_k = ev.SOLVER_FACTOR, ev.SOLVER_FID_REFS, ev.SOLVER_DIV_REFS, ev.SOLVER_DIV_SAMPLES
    test_u8, _ = ev.load_split(args.data, "t10k")  # 32 x 32, as the tool's references
    fid_u8, div_u8 = test_u8[:fid_refs], test_u8[:div_refs]
    refs = torch.cat([ev.to_model(fid_u8), ev.to_model(np.repeat(div_u8, div_k, 0))])
    _, test_feats = clf(test_u8)
    fid_cls, _ = clf(fid_u8)
    rows = []
    for name, settings in VARIANTS:
        words = [w for w in (args.only or "").split(",") if w]
        settings = dict(BASE, **settings)
        if name in done and dict(BASE, **done[name]["settings"]) == settings:  # keys added later: defaults
            rows.append(done[name])
            continue
        if words and not any(w in name for w in words):
            continue
        start = time.time()
        u8 = to_u8(sample(model, refs, settings, args.seed, n))
        s, d = u8[:fid_refs].reshape(fid_refs, 1, 32, 32), u8[fid_refs:].reshape(div_refs, div_k, 32, 32)
        s_cls, s_feats = clf(s)
        f = ev.faithfulness(s, fid_u8, s_cls, fid_cls, n, args.seed)
        row = {"name": name, "settings": settings, "calls": settings["steps"], "seconds": round(time.time() - start, 1),
               "metrics": {"phi_mse": f["phi_mse"], "class_agreement": f["class_agreement"],
                           "diversity": ev.diversity(d, clf(d)[1], args.seed),
                           "fid": ev.frechet_summary(s_feats.reshape(fid_refs, -1), test_feats, args.seed)}}
        rows.append(row)
        print(f"{name}: phi_N MSE {ev.fmt(row['metrics']['phi_mse'], 5)}, FD {ev.fmt(row['metrics']['fid'], 1)} "
              f"({row['seconds']} s)", flush=True)
        ev.write_json(path, {"issue": 22, "model_sha256": model_sha, "seed": args.seed, "rows": rows})
    res = {"issue": 22, "model_sha256": model_sha, "seed": args.seed, "rows": rows,
           "definitions": "as scripts/eval/evaluate.py --preset solvers; samples drawn by this prototype"}
    ev.write_json(path, res)
    table = ["| variant (20 network calls unless noted) | calls | phi_N MSE | class agreement | diversity (pixels) "
             "| Frechet distance |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["metrics"]
        table.append(f"| {r['name']} | {r['calls']} | {ev.fmt(m['phi_mse'], 5)} | {ev.fmt(m['class_agreement'], 3)} | "
                     f"{ev.fmt(m['diversity']['pixel'], 3)} | {ev.fmt(m['fid'], 1)} |")
    print("\n".join(table))
    if args.publish:
        dest = os.path.join(ROOT, "docs", "evaluation", "solvers")
        ev.write_json(os.path.join(dest, "study.json"), res)
        with open(os.path.join(dest, "study.md"), "w") as f:
            f.write("# Faithfulness at 20 calls: variants (issue 22)\n\nGenerated by `scripts/eval/study_sde.py "
                    f"--publish` (seed {args.seed}, model sha256 {model_sha[:12]}); the numbers are in "
                    "[study.json](study.json).\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
