#!/usr/bin/env python3
"""Measure the quality of the bundled Fashion-MNIST DDPM with the bundled classifier.

Draws K unconditional samples from models/fashion-mnist-ddpm/model.pt with DDPM
ancestral sampling over respaced timesteps (guided-diffusion's space_timesteps
"<steps>", fixed-small posterior variance, predicted x0 clipped to [-1, 1]),
classifies them with models/fashion-mnist-classifier/classifier.pt and reports:

  - confident_fraction: fraction of samples whose max softmax probability is
    >= --threshold (0.5); the issue's criterion is >= 0.8 at 256 samples;
  - the histogram of predicted classes;
  - a Frechet distance between the classifier's 128-d penultimate features of
    the samples and of the 10,000 test images, next to the same distance for K
    real training images (the floor for that sample size: with small K the
    estimate is biased upwards, so only compare numbers at equal K).

It writes a JSON report (--out-json) and an 8x8 PNG grid of the first 64
samples, each 32x32 image upscaled x2 (nearest) (--grid).

Usage:
    nice -n 5 /usr/bin/python3 scripts/eval/sample_quality.py            # 256 samples
    nice -n 5 /usr/bin/python3 scripts/eval/sample_quality.py --samples 64
"""

import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
from PIL import Image

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


# ----------------------------------------------------------------------------
# Diffusion schedule and sampler (float64 tables, float32 arithmetic)
# ----------------------------------------------------------------------------

def space_timesteps(num_timesteps, count):
    """guided-diffusion's space_timesteps(T, "count") for a single section:
    `count` original timesteps, evenly strided over [0, T-1], both ends kept."""
    if count > num_timesteps:
        raise ValueError(f"cannot take {count} steps out of {num_timesteps}")
    if count == 1:
        return [0]
    stride = (num_timesteps - 1) / (count - 1)
    return sorted({int(round(i * stride)) for i in range(count)})


class RespacedSchedule:
    """Tables for ancestral sampling on a subset of the original timesteps.

    With abar the original cumulative product of (1 - beta), the respaced chain
    has abar_i = abar[ts[i]] and beta_i = 1 - abar_i / abar_{i-1} (abar_{-1} = 1).
    """

    def __init__(self, betas, timesteps):
        abar_full = np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))
        self.timesteps = list(timesteps)
        abar = abar_full[self.timesteps]
        abar_prev = np.concatenate([[1.0], abar[:-1]])
        beta = 1.0 - abar / abar_prev
        alpha = 1.0 - beta
        self.sqrt_recip_abar = np.sqrt(1.0 / abar)
        self.sqrt_recipm1_abar = np.sqrt(1.0 / abar - 1.0)
        # q(x_{i-1} | x_i, x0) = N(c0 * x0 + ct * x_i, var)
        self.post_c0 = beta * np.sqrt(abar_prev) / (1.0 - abar)
        self.post_ct = (1.0 - abar_prev) * np.sqrt(alpha) / (1.0 - abar)
        self.post_var = beta * (1.0 - abar_prev) / (1.0 - abar)   # "fixed small" variance; 0 at i = 0


@torch.no_grad()
def ddpm_sample(model, sched, n, gen):
    """n samples [n,1,32,32] in [-1,1]; the model is called with the original timesteps."""
    x = torch.randn(n, 1, 32, 32, generator=gen)
    for i in reversed(range(len(sched.timesteps))):
        t = torch.full((n,), sched.timesteps[i], dtype=torch.int64)
        eps = model(x, t)[:, :1]          # a learn-sigma model's second channel is ignored
        x0 = (float(sched.sqrt_recip_abar[i]) * x - float(sched.sqrt_recipm1_abar[i]) * eps).clamp(-1.0, 1.0)
        mean = float(sched.post_c0[i]) * x0 + float(sched.post_ct[i]) * x
        if i > 0:
            x = mean + float(np.sqrt(sched.post_var[i])) * torch.randn(x.shape, generator=gen)
        else:
            x = mean
    return x


# ----------------------------------------------------------------------------
# Data, features, Frechet distance
# ----------------------------------------------------------------------------

def load_images(data_dir, split):
    """float32 [N,1,32,32] in [-1,1], 28x28 padded by 2 px of background, as the DDPM sees them."""
    with gzip.open(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError(f"bad IDX3 magic {magic}")
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)), mode="constant", constant_values=0)
    return torch.from_numpy(np.ascontiguousarray(imgs)).unsqueeze(1).float() / 127.5 - 1.0


@torch.no_grad()
def classify(clf, x, batch=500):
    logits, feats = [], []
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        logits.append(clf(xb))
        feats.append(clf.features(xb))
    return torch.cat(logits), torch.cat(feats).double().numpy()


def frechet_distance(f1, f2):
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2) for feature rows f1, f2."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                    # S1^1/2
    m = r1 @ s2 @ r1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * cross)


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------

def save_grid(path, x, cols=8, scale=2, pad=2):
    """First cols*cols images of x ([N,1,H,W] in [-1,1]) as a grid PNG, each upscaled x`scale` (nearest)."""
    x = x[:cols * cols]
    n, _, h, w = x.shape
    rows = (n + cols - 1) // cols
    imgs = ((x[:, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale, w * scale
    grid = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad), 128, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[pad + r * (th + pad):pad + r * (th + pad) + th, pad + c * (tw + pad):pad + c * (tw + pad) + tw] = imgs[k]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(grid, mode="L").save(path, optimize=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=256, help="number of samples K")
    p.add_argument("--steps", type=int, default=100, help="respaced timesteps (space_timesteps count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--model", default="models/fashion-mnist-ddpm/model.pt")
    p.add_argument("--classifier", default="models/fashion-mnist-classifier/classifier.pt")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--threshold", type=float, default=0.5, help="max softmax probability counted as confident")
    p.add_argument("--out-json", default="models/fashion-mnist-ddpm/quality.json")
    p.add_argument("--grid", default="docs/images/unconditional_samples.png")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    model = torch.jit.load(args.model).eval()
    clf = torch.jit.load(args.classifier).eval()

    # Steps of training behind model.pt, when its config.json says so.
    steps_done = None
    cfg_path = os.path.join(os.path.dirname(args.model), "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path) as f:
            steps_done = json.load(f).get("steps_done")

    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    sched = RespacedSchedule(betas, space_timesteps(len(betas), args.steps))
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.time()
    chunks = []
    for start in range(0, args.samples, args.batch):
        n = min(args.batch, args.samples - start)
        chunks.append(ddpm_sample(model, sched, n, gen))
        print(f"sampled {start + n}/{args.samples} ({time.time() - t0:.1f}s)", flush=True)
    x = torch.cat(chunks)
    sample_seconds = time.time() - t0

    logits, feats = classify(clf, x)
    prob = torch.softmax(logits, 1)
    maxp, pred = prob.max(1)
    confident = (maxp >= args.threshold).float().mean().item()
    hist = torch.bincount(pred, minlength=10).tolist()
    conf_hist = torch.bincount(pred[maxp >= args.threshold], minlength=10).tolist()

    # Frechet distance in classifier feature space, against the test set; the
    # same for K real training images gives the small-sample floor.
    test = load_images(args.data, "t10k")
    _, f_test = classify(clf, test)
    train = load_images(args.data, "train")
    g = torch.Generator().manual_seed(args.seed)
    real = train[torch.randperm(train.shape[0], generator=g)[:args.samples]]
    _, f_real = classify(clf, real)
    fd_samples = frechet_distance(feats, f_test)
    fd_real = frechet_distance(f_real, f_test)

    save_grid(args.grid, x)

    report = {
        "model": args.model,
        "model_steps_done": steps_done,
        "classifier": args.classifier,
        "samples": args.samples,
        "steps": args.steps,
        "sampler": "DDPM ancestral, fixed-small posterior variance, x0 clipped to [-1,1], "
                   "guided-diffusion space_timesteps",
        "seed": args.seed,
        "batch": args.batch,
        "threshold": args.threshold,
        "confident_fraction": round(confident, 4),
        "criterion": "confident_fraction >= 0.8 at 256 samples",
        "criterion_met": bool(confident >= 0.8 and args.samples >= 256),
        "mean_max_prob": round(maxp.mean().item(), 4),
        "class_histogram": dict(zip(CLASSES, hist)),
        "class_histogram_confident": dict(zip(CLASSES, conf_hist)),
        "frechet_distance_features_vs_test": round(fd_samples, 3),
        "frechet_distance_real_train_vs_test": round(fd_real, 3),
        "features": "classifier.features(): 128-d penultimate layer; 10,000 test images as reference",
        "sample_seconds": round(sample_seconds, 1),
        "seconds_per_sample": round(sample_seconds / args.samples, 3),
        "threads": args.threads,
        "grid": args.grid,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
    with open(args.out_json + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(args.out_json + ".tmp", args.out_json)

    print(f"confident (max p >= {args.threshold}): {confident:.3f} of {args.samples}; "
          f"mean max p {maxp.mean().item():.3f}")
    print("classes: " + ", ".join(f"{c} {h}" for c, h in zip(CLASSES, hist)))
    print(f"FD(features, test) samples {fd_samples:.2f}, real train {fd_real:.2f} (K = {args.samples})")
    print(f"sampling {sample_seconds:.1f}s ({sample_seconds / args.samples:.2f} s/sample); "
          f"wrote {args.out_json}, {args.grid}")


if __name__ == "__main__":
    main()
