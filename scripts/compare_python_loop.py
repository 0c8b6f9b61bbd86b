#!/usr/bin/python3
"""A straightforward Python/PyTorch ILVR loop, as a speed baseline for the ilvr tool.

It runs the DDPM sampler with ILVR of docs/spec.md sections 1, 2, 4 and 6 (linear
schedule, respaced to --steps, fixed small variance, clipped x0, every step
conditioned, the reference noised to the proposal's level) over the same
TorchScript model as the C++ tool, with a simple phi_N: torch's antialiased
bicubic down, bicubic up. Its pixels are not meant to match the tool's (other
random numbers, another cubic); its time per step is.

Compare, on the same machine and thread count:

    /usr/bin/python3 scripts/compare_python_loop.py --threads 1 --steps 100 --batch 8 --factor 4
    build-cli/examples/ilvr_cli/ilvr --threads 1 --respacing 100 --batch 8 --samples 8 --factor 4 --out /tmp/ilvr-speed

The script prints the loop's seconds (model loaded, warm-up call excluded) and
the whole process's; the tool prints "sampled ... in X s" for its loop.
A model that describes itself (ilvr.json, scripts/convert.py) sets the image
size, channels, T and learn_sigma (then the variance is the learned one, as in
the tool); e.g. a converted 256 x 256 ADM (docs/performance.md):

    /usr/bin/python3 scripts/compare_python_loop.py --model ffhq256.pt --threads 2 --steps 2 --batch 1 --factor 8
    ilvr --model ffhq256.pt --threads 2 --respacing 2 --batch 1 --samples 1 --factor 8 --out /tmp/ilvr-speed

On a GPU, `--device cuda` runs the same loop there (model, tensors and random
numbers on the GPU; the clock waits for the GPU once, at the loop's end, so the
model calls are not timed apart); scripts/gpu-check.sh compares it with
`ilvr --device cuda`.

Use Debian's interpreter, which has python3-torch.
"""
import argparse
import json
import math
import os
import time
import zipfile

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(HERE, "..", "models", "fashion-mnist-ddpm")


def respace_count(steps, count):
    """docs/spec.md section 2 for one section: stride (T-1)/(n-1), accumulated, rounded half to even."""
    if count > steps:
        raise ValueError(f"cannot keep {count} of {steps} steps")
    stride = 1.0 if count <= 1 else (steps - 1) / (count - 1)
    kept, cur = [], 0.0
    for _ in range(count):
        kept.append(int(round(cur)))  # Python's round is half to even
        cur += stride
    return kept


def tables(timesteps, count):
    """Respaced process (docs/spec.md sections 1 and 2) in double: per index the step's constants."""
    scale = 1000.0 / timesteps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    abar = torch.cumprod(1.0 - betas, 0)
    tau = respace_count(timesteps, count)
    new_betas, last = [], 1.0
    for t in tau:
        new_betas.append(1.0 - abar[t].item() / last)
        last = abar[t].item()
    b = torch.tensor(new_betas, dtype=torch.float64)
    a = 1.0 - b
    ab = torch.cumprod(a, 0)
    abp = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    pv = b * (1.0 - abp) / (1.0 - ab)
    log_pv = torch.log(torch.cat([pv[1:2], pv[1:]]))
    return {
        "tau": tau,
        "log_beta": torch.log(b).tolist(),
        "log_pv": log_pv.tolist(),
        "sqrt_recip": torch.sqrt(1.0 / ab).tolist(),
        "sqrt_recipm1": torch.sqrt(1.0 / ab - 1.0).tolist(),
        "c1": (b * torch.sqrt(abp) / (1.0 - ab)).tolist(),
        "c2": ((1.0 - abp) * torch.sqrt(a) / (1.0 - ab)).tolist(),
        "sigma": torch.exp(0.5 * log_pv).tolist(),
        "abar_prev": abp.tolist(),
    }


def phi(x, n):
    """Low-pass: antialiased bicubic down by n, bicubic up to the original size."""
    size = x.shape[-2:]
    low = F.interpolate(x, scale_factor=1.0 / n, mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(low, size=size, mode="bicubic", align_corners=False)


def load_reference(path, size, channels):
    try:
        from PIL import Image
    except ImportError:  # no PIL: a fixed random reference (speed is the same)
        return torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    image = Image.open(path).convert("L" if channels == 1 else "RGB").resize((size, size), Image.BICUBIC)
    data = torch.tensor(list(image.getdata()), dtype=torch.float32).view(size, size, channels).permute(2, 0, 1)
    return data.unsqueeze(0).contiguous() / 127.5 - 1.0


def read_metadata(path):
    """The model's ilvr.json (scripts/adm/export.py), or {} where it has none."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.split("/")[1:] == ["extra", "ilvr.json"]:
                return json.loads(archive.read(name))
    return {}


def ilvr_loop(model, y, batch, factor, k, generator, clock):
    """DDPM + ILVR over every step; clock[0] accumulates the seconds spent in model calls.
    A model returning eps and v (2C channels) samples with its learned variance."""
    x = torch.randn(batch, *y.shape[1:], generator=generator, device=y.device)
    channels = y.shape[1]
    for i in reversed(range(len(k["tau"]))):
        t = torch.full((batch,), k["tau"][i], dtype=torch.long, device=x.device)
        t0 = time.perf_counter()
        out = model(x, t)
        clock[0] += time.perf_counter() - t0
        eps = out[:, :channels]
        x0 = (k["sqrt_recip"][i] * x - k["sqrt_recipm1"][i] * eps).clamp(-1.0, 1.0)
        mean = k["c1"][i] * x0 + k["c2"][i] * x
        if i > 0:
            if out.shape[1] == 2 * channels:  # learned range: log variance between log beta and the posterior's
                frac = (out[:, channels:] + 1.0) * 0.5
                sigma = torch.exp(0.5 * (frac * k["log_beta"][i] + (1.0 - frac) * k["log_pv"][i]))
            else:
                sigma = k["sigma"][i]
            mean = mean + sigma * torch.randn(x.shape, generator=generator, device=x.device)
        a = k["abar_prev"][i]
        y_a = math.sqrt(a) * y + math.sqrt(1.0 - a) * torch.randn(x.shape, generator=generator, device=x.device)
        x = mean - phi(mean, factor) + phi(y_a, factor)
    return x


def main():
    start = time.perf_counter()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(MODEL_DIR, "model.pt"))
    p.add_argument("--reference", default=os.path.join(MODEL_DIR, "references", "t10k-0000-ankle-boot.png"))
    p.add_argument("--image-size", type=int, default=32, help="ignored where the model has metadata")
    p.add_argument("--channels", type=int, default=1, help="ignored where the model has metadata")
    p.add_argument("--timesteps", type=int, default=1000, help="ignored where the model has metadata")
    p.add_argument("--steps", type=int, default=100, help="respaced steps (one section)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="time the loop this many times, report each")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    meta = read_metadata(args.model)
    size, channels = meta.get("image_size", args.image_size), meta.get("channels", args.channels)
    timesteps = meta.get("diffusion_steps", args.timesteps)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    model = torch.jit.load(args.model, map_location=device).eval()
    y = load_reference(args.reference, size, channels).to(device)
    k = tables(timesteps, args.steps)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    with torch.inference_mode():
        if not meta:  # as the tool's probe call, which a self-describing model skips
            warm = torch.zeros(1, channels, size, size, device=device)
            model(warm, torch.full((1,), k["tau"][-1], dtype=torch.long, device=device))
        for _ in range(args.repeat):
            clock = [0.0]
            t0 = time.perf_counter()
            x = ilvr_loop(model, y, args.batch, args.factor, k, generator, clock)
            if gpu:
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            where = "on the GPU" if gpu else f"{args.threads} thread(s)"
            split = ("model calls not timed apart (asynchronous)" if gpu else
                     f"model calls {clock[0]:.2f} s, the rest {seconds - clock[0]:.3f} s "
                     f"({1000 * (seconds - clock[0]) / args.steps:.2f} ms/step)")
            print(f"python loop: {args.steps} steps, batch {args.batch}, factor {args.factor}, "
                  f"{where}: {seconds:.2f} s ({args.steps / seconds:.2f} steps/s); {split}", flush=True)
    assert torch.isfinite(x).all()
    print(f"python process: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
