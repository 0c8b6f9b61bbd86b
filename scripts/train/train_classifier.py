#!/usr/bin/env python3
"""Train a small Fashion-MNIST CNN classifier on the DDPM's input domain.

Inputs are exactly what the bundled DDPM sees: 28x28 images padded by 2 pixels
of background (u8 0) to 32x32, then x = u8/127.5 - 1 (so the border is -1).

The exported TorchScript module (classifier.pt, eval mode) has
    forward(x: float32 [B,1,32,32]) -> logits float32 [B,10]
    features(x: float32 [B,1,32,32]) -> float32 [B,128]   (penultimate, after ReLU)
The 128-d features serve as a stand-in for Inception / LPIPS features
(Frechet distance, diversity) when measuring sample quality.

Usage:
    nice -n 5 /usr/bin/python3 scripts/train/train_classifier.py \
        --out models/fashion-mnist-classifier
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

def read_idx(path, expect_magic):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic != expect_magic:
        raise ValueError(f"{path}: bad IDX magic {magic}")
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return np.frombuffer(raw, dtype=np.uint8, offset=8).reshape(n)


def load_split(data_dir, split):
    """(images float32 [N,1,32,32] in [-1,1], labels int64 [N]) for 'train' or 't10k'."""
    imgs = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"), 2051)
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"), 2049)
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)), mode="constant", constant_values=0)
    x = torch.from_numpy(np.ascontiguousarray(imgs)).unsqueeze(1).float() / 127.5 - 1.0
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x, g, max_shift):
    """Random horizontal flip and integer shifts in [-max_shift, max_shift] (fill -1)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    if max_shift <= 0:
        return x
    s = max_shift
    padded = F.pad(x, (s, s, s, s), value=-1.0)
    dy = torch.randint(0, 2 * s + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * s + 1, (b,), generator=g)
    out = torch.empty_like(x)
    h, w = x.shape[2], x.shape[3]
    for oy in range(2 * s + 1):
        for ox in range(2 * s + 1):
            idx = ((dy == oy) & (dx == ox)).nonzero().flatten()
            if idx.numel():
                out[idx] = padded[idx, :, oy:oy + h, ox:ox + w]
    return out


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------

def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class Classifier(nn.Module):
    """3 x (conv3x3 + BN + ReLU + maxpool2): 32x32 -> 4x4, then FC 128 (+ReLU) -> 10."""

    def __init__(self, widths=(32, 64, 64), feat_dim: int = 128, dropout: float = 0.3):
        super().__init__()
        layers = []
        cin = 1
        for w in widths:
            layers.append(conv_block(cin, w))
            cin = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * 4 * 4, feat_dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feat_dim, 10)

    @torch.jit.export
    def features(self, x: Tensor) -> Tensor:
        """Penultimate features [B,128] (after ReLU, before dropout)."""
        h = self.body(x).flatten(1)
        return F.relu(self.fc(h))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.drop(self.features(x)))


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="models/fashion-mnist-classifier")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-shift", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    model = Classifier()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (xtr.shape[0] + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.15)

    log_path = os.path.join(args.out, "train.log")
    log = open(log_path, "w")

    def log_line(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    command = "nice -n 5 /usr/bin/python3 " + " ".join([sys.argv[0]] + sys.argv[1:])
    log_line(f"# {command}")
    log_line(f"# parameters {n_params}, train {xtr.shape[0]}, test {xte.shape[0]}, "
             f"batch {args.batch_size}, threads {args.threads}")
    t_start = time.time()
    test_acc = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            xb = augment(xtr[idx], g, args.max_shift)
            yb = ytr[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * yb.shape[0]
            correct += (logits.argmax(1) == yb).sum().item()
            seen += yb.shape[0]
        test_acc = evaluate(model, xte, yte)
        log_line(f"epoch {epoch} loss {loss_sum / seen:.4f} train_acc {correct / seen:.4f} "
                 f"test_acc {test_acc:.4f} seconds {time.time() - t0:.1f}")
    total = time.time() - t_start
    log_line(f"# total {total:.1f}s, final test accuracy {test_acc:.4f}")
    log.close()

    model.eval()
    scripted = torch.jit.script(model)
    pt_path = os.path.join(args.out, "classifier.pt")
    scripted.save(pt_path + ".tmp")
    os.replace(pt_path + ".tmp", pt_path)

    # Sanity check of the export: same logits, features of the right shape.
    loaded = torch.jit.load(pt_path)
    with torch.no_grad():
        xb = xte[:16]
        assert torch.allclose(loaded(xb), model(xb), atol=1e-5)
        assert tuple(loaded.features(xb).shape) == (16, 128)

    config = {
        "dataset": "fashion-mnist train (60000) / test (10000), 28x28 zero-padded to 32x32, x = u8/127.5 - 1",
        "classes": CLASSES,
        "model": {
            "type": "cnn",
            "layers": ["conv3x3(1->32, no bias) + BatchNorm + ReLU + maxpool2  (32x32 -> 16x16)",
                       "conv3x3(32->64, no bias) + BatchNorm + ReLU + maxpool2  (16x16 -> 8x8)",
                       "conv3x3(64->64, no bias) + BatchNorm + ReLU + maxpool2  (8x8 -> 4x4)",
                       "linear(1024->128) + ReLU  = features",
                       "dropout(0.3) + linear(128->10)  = logits"],
            "parameters": n_params,
            "forward": "forward(x: float32[B,1,32,32] in [-1,1]) -> logits float32[B,10]",
            "features": "features(x: float32[B,1,32,32]) -> float32[B,128] (penultimate, after ReLU)",
        },
        "training": {
            "optimizer": "adam", "lr_max": args.lr, "lr_schedule": "one-cycle (15% warm-up, cosine decay)",
            "epochs": args.epochs, "batch_size": args.batch_size,
            "augmentation": f"random horizontal flip, random shift up to {args.max_shift} px (fill -1)",
            "loss": "cross-entropy", "seed": args.seed, "threads": args.threads,
        },
        "test_accuracy": round(test_acc, 4),
        "train_seconds": round(total, 1),
        "command": command,
        "export": "classifier.pt = torch.jit.script of the model in eval mode; features() is an exported method",
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {pt_path} ({os.path.getsize(pt_path)} bytes)")


if __name__ == "__main__":
    main()
