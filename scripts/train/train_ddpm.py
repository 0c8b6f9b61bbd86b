#!/usr/bin/env python3
"""Train a small eps-prediction DDPM (UNet, ~0.9M parameters) on Fashion-MNIST.

The exported TorchScript module (model.pt) follows the guided-diffusion convention:
    forward(x: float32 [B,1,32,32], t: int64 [B]) -> float32 [B,C,32,32]
where t is the original (not rescaled) timestep in [0, 1000) and C = 1 (eps) or,
with --learn-sigma, C = 2 (eps, v), v in [-1, 1] interpolating log beta_t and
log of the clipped posterior variance.

Usage (see README.md next to this file):
    /usr/bin/python3 scripts/train/train_ddpm.py --out models/fashion-mnist-ddpm
    /usr/bin/python3 scripts/train/train_ddpm.py --out models/fashion-mnist-ddpm --sample 64
"""

import argparse
import copy
import gzip
import json
import math
import os
import random
import signal
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

def load_idx_images(path):
    """Read a gzipped IDX3 image file into a uint8 array [N, rows, cols]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError(f"{path}: bad IDX3 magic {magic}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def load_fashion_mnist(data_dir):
    """Training images as uint8 tensor [60000, 1, 32, 32] (2 px zero padding)."""
    imgs = load_idx_images(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)), mode="constant", constant_values=0)
    return torch.from_numpy(np.ascontiguousarray(imgs)).unsqueeze(1)


def get_batch(data, step, batch_size, seed):
    """Batch for a given global step: a fixed per-epoch permutation (seed + epoch),
    so the data order depends only on the step number and resumes exactly."""
    steps_per_epoch = data.shape[0] // batch_size
    epoch, pos = divmod(step, steps_per_epoch)
    g = torch.Generator().manual_seed(seed * 1000003 + epoch)
    perm = torch.randperm(data.shape[0], generator=g)
    idx = perm[pos * batch_size:(pos + 1) * batch_size]
    return data[idx].float() / 127.5 - 1.0  # scale u8 -> [-1, 1]


# ----------------------------------------------------------------------------
# Model: small UNet (TorchScript-compatible)
# ----------------------------------------------------------------------------

def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of the (integer) timestep, computed in float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def zero_init(m):
    """Zero a layer's weights so residual branches start as identity."""
    nn.init.zeros_(m.weight)
    if m.bias is not None:
        nn.init.zeros_(m.bias)
    return m


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv x2 residual block with additive timestep embedding."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head spatial self-attention (residual); emb is ignored."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = zero_init(nn.Conv2d(ch, ch, 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=-1)  # [b, hw, hw]
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv; emb is ignored."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 followed by a 3x3 conv; emb is ignored."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Sequence(nn.Module):
    """A list of blocks sharing the (x, emb) signature, applied in order."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        for blk in self.blocks:
            x = blk(x, emb)
        return x


class UNet(nn.Module):
    """Guided-diffusion style UNet: every encoder stage output is a skip for the decoder."""

    def __init__(self, in_ch=1, out_ch=1, base=32, mult=(1, 2, 2), num_res=1,
                 attn_levels=(), mid_attn=True, dropout=0.0):
        super().__init__()
        self.base = base
        emb_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        # Encoder: conv_in, then per level num_res ResBlocks (+attn) and a Downsample (not on the last level).
        self.conv_in = nn.Conv2d(in_ch, base, 3, padding=1)
        enc = []
        skip_ch = [base]
        ch = base
        for lvl, m in enumerate(mult):
            for _ in range(num_res):
                blocks = [ResBlock(ch, base * m, emb_dim, dropout)]
                ch = base * m
                if lvl in attn_levels:
                    blocks.append(Attention(ch))
                enc.append(Sequence(blocks))
                skip_ch.append(ch)
            if lvl != len(mult) - 1:
                enc.append(Sequence([Downsample(ch)]))
                skip_ch.append(ch)
        self.encoder = nn.ModuleList(enc)

        # Bottleneck at the lowest resolution: ResBlock (+ one self-attention block).
        mid = [ResBlock(ch, ch, emb_dim, dropout)]
        if mid_attn:
            mid.append(Attention(ch))
        self.middle = Sequence(mid)

        # Decoder: per level num_res + 1 ResBlocks, each consuming one skip; Upsample between levels.
        dec = []
        for lvl in reversed(range(len(mult))):
            m = mult[lvl]
            for i in range(num_res + 1):
                blocks = [ResBlock(ch + skip_ch.pop(), base * m, emb_dim, dropout)]
                ch = base * m
                if lvl in attn_levels:
                    blocks.append(Attention(ch))
                if lvl != 0 and i == num_res:
                    blocks.append(Upsample(ch))
                dec.append(Sequence(blocks))
        self.decoder = nn.ModuleList(dec)

        self.out = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), zero_init(nn.Conv2d(ch, out_ch, 3, padding=1)))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base))
        h = self.conv_in(x)
        hs = [h]
        for blk in self.encoder:
            h = blk(h, emb)
            hs.append(h)
        h = self.middle(h, emb)
        for blk in self.decoder:
            h = blk(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


# ----------------------------------------------------------------------------
# Diffusion (linear schedule, T = 1000)
# ----------------------------------------------------------------------------

class Diffusion:
    """Precomputed float64 schedule quantities for training and sampling."""

    def __init__(self, betas):
        self.betas = torch.as_tensor(betas, dtype=torch.float64)
        self.T = len(self.betas)
        alphas = 1.0 - self.betas
        self.acp = torch.cumprod(alphas, 0)                                  # alpha_bar_t
        self.acp_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.acp[:-1]])
        self.post_var = self.betas * (1 - self.acp_prev) / (1 - self.acp)    # posterior variance
        self.post_logvar = torch.log(torch.cat([self.post_var[1:2], self.post_var[1:]]))  # clipped at t=0
        self.post_c0 = self.betas * torch.sqrt(self.acp_prev) / (1 - self.acp)   # coef of x0 in posterior mean
        self.post_ct = (1 - self.acp_prev) * torch.sqrt(alphas) / (1 - self.acp)  # coef of x_t

    @staticmethod
    def linear(T=1000, beta_start=1e-4, beta_end=0.02):
        return Diffusion(np.linspace(beta_start, beta_end, T, dtype=np.float64))

    def respaced(self, timesteps):
        """Schedule restricted to the given increasing subset of original timesteps."""
        acp = self.acp[timesteps]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), acp[:-1]])
        return Diffusion((1 - acp / prev).numpy())

    @staticmethod
    def gather(a, t, x):
        """a[t] as float32, broadcastable against x."""
        return a[t].to(torch.float32).view(-1, *([1] * (x.dim() - 1)))

    def q_sample(self, x0, t, noise):
        return self.gather(self.acp.sqrt(), t, x0) * x0 + self.gather((1 - self.acp).sqrt(), t, x0) * noise

    def predict_x0(self, xt, t, eps):
        return self.gather((1 / self.acp).sqrt(), t, xt) * xt - self.gather((1 / self.acp - 1).sqrt(), t, xt) * eps

    def posterior_mean(self, x0, xt, t):
        return self.gather(self.post_c0, t, xt) * x0 + self.gather(self.post_ct, t, xt) * xt

    def model_logvar(self, v, t):
        """Learned log-variance: interpolate log(beta_t) and clipped log(posterior var) with frac=(v+1)/2."""
        frac = (v + 1) / 2
        return frac * self.gather(self.betas.log(), t, v) + (1 - frac) * self.gather(self.post_logvar, t, v)


def normal_kl(mean1, logvar1, mean2, logvar2):
    """KL(N1 || N2) elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_loglik(x, mean, logvar):
    """Log-likelihood of 8-bit data x in [-1,1] under a discretised Gaussian (nats, elementwise)."""
    inv_std = torch.exp(-0.5 * logvar)
    cdf = lambda z: 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    cdf_plus = cdf(inv_std * (x - mean + 1 / 255))
    cdf_min = cdf(inv_std * (x - mean - 1 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def training_loss(model, diff, x0, learn_sigma, vlb_weight):
    """L_simple (MSE on eps), plus the hybrid VLB term (per-t, bits/dim, stop-grad on the mean)."""
    b = x0.shape[0]
    t = torch.randint(0, diff.T, (b,), dtype=torch.int64)
    noise = torch.randn_like(x0)
    xt = diff.q_sample(x0, t, noise)
    out = model(xt, t)
    if not learn_sigma:
        return F.mse_loss(out, noise)
    eps, v = out[:, :1], out[:, 1:]
    loss = F.mse_loss(eps, noise)
    # VLB term: the mean comes from a detached eps so only the variance output learns from it.
    mean = diff.posterior_mean(diff.predict_x0(xt, t, eps.detach()), xt, t)
    logvar = diff.model_logvar(v, t)
    true_mean = diff.posterior_mean(x0, xt, t)
    true_logvar = Diffusion.gather(diff.post_logvar, t, xt)
    kl = normal_kl(true_mean, true_logvar, mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
    nll = -discretized_gaussian_loglik(x0, mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
    vb = torch.where(t == 0, nll, kl)
    # guided-diffusion: L_vlb = sum over T terms, weighted by lambda -> per-sample weight lambda*T.
    return loss + vlb_weight * diff.T * vb.mean()


# ----------------------------------------------------------------------------
# Sampling and PNG output
# ----------------------------------------------------------------------------

def space_timesteps(T, n):
    """n evenly spaced original timesteps in [0, T-1] (both ends included)."""
    stride = (T - 1) / (n - 1) if n > 1 else 0.0
    return sorted({int(round(i * stride)) for i in range(n)})


@torch.no_grad()
def sample(model, base_diff, n, steps, seed):
    """DDPM ancestral sampling on a respaced schedule; model gets original timesteps."""
    g = torch.Generator().manual_seed(seed)
    ts = space_timesteps(base_diff.T, steps)
    diff = base_diff.respaced(ts)
    x = torch.randn(n, 1, 32, 32, generator=g)
    for i in reversed(range(len(ts))):
        ti = torch.full((n,), i, dtype=torch.int64)           # index into the respaced schedule
        out = model(x, torch.full((n,), ts[i], dtype=torch.int64))
        eps = out[:, :1]
        x0 = diff.predict_x0(x, ti, eps).clamp(-1, 1)
        mean = diff.posterior_mean(x0, x, ti)
        logvar = diff.model_logvar(out[:, 1:], ti) if out.shape[1] == 2 else Diffusion.gather(diff.post_logvar, ti, x)
        x = mean + (torch.exp(0.5 * logvar) * torch.randn(x.shape, generator=g) if i > 0 else 0.0)
    return x


def write_png_gray(path, img):
    """Minimal 8-bit grayscale PNG writer (img: uint8 [H, W])."""
    h, w = img.shape
    chunk = lambda typ, data: struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))  # filter type 0 per row
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def save_grid(path, x, pad=2):
    """Tile images in [-1, 1] ([N,1,H,W]) into a square-ish grid PNG."""
    n, _, h, w = x.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 128, dtype=np.uint8)
    imgs = ((x[:, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    for k in range(n):
        r, c = divmod(k, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = imgs[k]
    write_png_gray(path, grid)


# ----------------------------------------------------------------------------
# Checkpointing / export
# ----------------------------------------------------------------------------

def atomic_torch_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_json(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def export_torchscript(ema, path, learn_sigma):
    """Script the EMA model (eval mode) and save it atomically, with the metadata
    (ilvr.json) that lets the ilvr tool run it without model flags."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from adm import export  # scripts/adm/export.py

    ema.eval()
    meta = export.make_metadata(32, 1, learn_sigma, 1000, "linear",
                                source={"description": SOURCE_DESCRIPTION})
    export.save(torch.jit.script(ema), path, meta)


SOURCE_DESCRIPTION = "Fashion-MNIST DDPM trained by scripts/train/train_ddpm.py (config.json beside it)"


def make_config(args, n_params, step, train_seconds):
    return {
        "dataset": "fashion-mnist train (60000), 28x28 zero-padded to 32x32, x = u8/127.5 - 1",
        "model": {
            "type": "unet", "in_channels": 1, "out_channels": 2 if args.learn_sigma else 1,
            "base_channels": args.base, "channel_mult": list(args.mult), "num_res_blocks": args.num_res,
            "attention_levels": list(args.attn_levels), "mid_attention": args.mid_attn,
            "groupnorm_groups": 8, "dropout": args.dropout, "parameters": n_params,
            "prediction": "eps", "learn_sigma": args.learn_sigma,
            "forward": "forward(x: float32[B,1,32,32], t: int64[B] original timestep) -> float32[B,C,32,32]",
        },
        "diffusion": {"schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02, "num_timesteps": 1000},
        "training": {
            "optimizer": "adam", "lr": args.lr, "warmup_steps": args.warmup, "batch_size": args.batch,
            "ema_decay": args.ema, "grad_clip": args.grad_clip, "hflip": not args.no_flip,
            "loss": "hybrid (mse + lambda*vlb)" if args.learn_sigma else "mse on eps",
            "vlb_lambda": args.vlb_lambda if args.learn_sigma else None,
            "seed": args.seed, "max_steps": args.max_steps, "threads": args.threads,
        },
        "steps_done": step,
        "train_seconds": round(train_seconds, 1),
        "export": "model.pt = TorchScript of the EMA weights, eval mode",
    }


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="models/fashion-mnist-ddpm", help="output folder")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with the Fashion-MNIST IDX .gz files")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=60000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=500, help="linear LR warm-up steps")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--no-flip", action="store_true", help="disable random horizontal flips")
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--mult", type=int, nargs="+", default=[1, 2, 2])
    p.add_argument("--num-res", type=int, default=1)
    p.add_argument("--attn-levels", type=int, nargs="*", default=[], help="levels with attention after each ResBlock")
    p.add_argument("--no-mid-attn", dest="mid_attn", action="store_false", help="no self-attention in the bottleneck")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--learn-sigma", action="store_true", help="2 output channels, hybrid loss")
    p.add_argument("--vlb-lambda", type=float, default=0.001)
    p.add_argument("--sample", type=int, default=0, metavar="N", help="only draw N samples from <out>/model.pt")
    p.add_argument("--sample-steps", type=int, default=100)
    p.add_argument("--sample-out", default=None, help="PNG path (default <out>/samples.png)")
    return p.parse_args()


def run_sampling(args):
    """--sample mode: load the TorchScript export and save a PNG grid."""
    model = torch.jit.load(os.path.join(args.out, "model.pt")).eval()
    t0 = time.time()
    x = sample(model, Diffusion.linear(), args.sample, args.sample_steps, args.seed)
    path = args.sample_out or os.path.join(args.out, "samples.png")
    save_grid(path, x)
    print(f"wrote {path} ({args.sample} samples, {args.sample_steps} steps, {time.time() - t0:.1f}s)")


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    if args.sample:
        return run_sampling(args)

    # Seeding (the data order is a function of seed and step, see get_batch).
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    # Model, EMA copy, optimiser, schedule.
    model = UNet(out_ch=2 if args.learn_sigma else 1, base=args.base, mult=tuple(args.mult), num_res=args.num_res,
                 attn_levels=tuple(args.attn_levels), mid_attn=args.mid_attn, dropout=args.dropout)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    diff = Diffusion.linear()
    print(f"parameters: {n_params}", flush=True)

    # Resume if a checkpoint exists.
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    step, train_seconds = 0, 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, train_seconds = ck["step"], ck.get("train_seconds", 0.0)
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        random.setstate(ck["python_rng"])
        print(f"resumed from {ckpt_path} at step {step}", flush=True)

    data = load_fashion_mnist(args.data)
    log = open(os.path.join(args.out, "train.log"), "a")

    def log_line(msg):
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    log_line(f"start step={step} params={n_params} threads={args.threads} batch={args.batch} "
             f"learn_sigma={args.learn_sigma} max_steps={args.max_steps}")

    def save_all():
        """Checkpoint + TorchScript export + config, each written atomically."""
        atomic_torch_save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                           "step": step, "train_seconds": train_seconds, "args": vars(args),
                           "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                           "python_rng": random.getstate()}, ckpt_path)
        export_torchscript(ema, os.path.join(args.out, "model.pt"), args.learn_sigma)
        atomic_write_json(make_config(args, n_params, step, train_seconds), os.path.join(args.out, "config.json"))

    # Stop cleanly (checkpoint first) on SIGTERM / SIGINT.
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Training loop.
    model.train()
    losses = []
    t_last, step_last, t_prev = time.time(), step, time.time()
    while step < args.max_steps and not stop["flag"]:
        x0 = get_batch(data, step, args.batch, args.seed)
        if not args.no_flip:
            flip = torch.rand(x0.shape[0]) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        for g in opt.param_groups:  # linear LR warm-up
            g["lr"] = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        loss = training_loss(model, diff, x0, args.learn_sigma, args.vlb_lambda)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        # EMA with warm-up of the decay: min(ema, (1+step)/(10+step)).
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)
        step += 1
        now = time.time()
        train_seconds += now - t_prev
        t_prev = now
        losses.append(loss.item())
        if step % args.log_every == 0 or step == args.max_steps:
            rate = (step - step_last) / max(1e-9, now - t_last)
            log_line(f"step {step} loss {sum(losses) / len(losses):.5f} steps/s {rate:.4f} "
                     f"s/step {1 / max(rate, 1e-9):.3f} elapsed {train_seconds:.0f}s")
            losses, t_last, step_last = [], now, step
        if step % args.ckpt_every == 0:
            save_all()
            t_prev = time.time()  # do not count checkpoint time as training time
    save_all()
    log_line(f"{'stopped by signal' if stop['flag'] else 'finished'} at step {step}, saved checkpoint and model.pt")
    log.close()


if __name__ == "__main__":
    sys.exit(main())
