#!/usr/bin/python3
"""The bundled DDPM's arithmetic per image and the rate LibTorch reaches on this CPU.

Counts the multiply-adds of every Conv2d and Linear layer (the network's bulk;
normalisations, activations and attention's matrix products are left out, so
the count is a lower bound) with forward hooks on the training script's UNet,
then times the exported TorchScript model on one thread. docs/evaluation.md
uses the figures to show why the issue-sized evaluation cannot fit 30 minutes of
this machine's two cores.

Usage (repository root): /usr/bin/python3 scripts/eval/model_flops.py [--batch 16] [--repeats 10]
"""

import argparse
import json
import os
import sys
import time

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "train"))
import train_ddpm  # noqa: E402  the UNet definition the bundled model was trained with


def multiply_adds(model):
    """Multiply-adds of the Conv2d and Linear layers for one 1x32x32 image."""
    total = [0]

    def conv(mod, inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    def linear(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    hooks = [mod.register_forward_hook(conv if isinstance(mod, torch.nn.Conv2d) else linear)
             for mod in model.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 1, 32, 32), torch.tensor([500]))
    for h in hooks:
        h.remove()
    return total[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "models/fashion-mnist-ddpm"))
    p.add_argument("--batch", type=int, default=16, help="the evaluation's batch (evaluate.py --batch)")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)

    cfg = json.load(open(os.path.join(args.model, "config.json")))["model"]
    net = train_ddpm.UNet(in_ch=cfg["in_channels"], out_ch=cfg["out_channels"], base=cfg["base_channels"],
                          mult=tuple(cfg["channel_mult"]), num_res=cfg["num_res_blocks"],
                          attn_levels=tuple(cfg["attention_levels"]), mid_attn=cfg["mid_attention"]).eval()
    macs = multiply_adds(net)

    exported = torch.jit.load(os.path.join(args.model, "model.pt")).eval()
    x = torch.randn(args.batch, 1, 32, 32)
    t = torch.full((args.batch,), 500)
    with torch.no_grad():
        for _ in range(3):
            exported(x, t)
        start = time.perf_counter()
        for _ in range(args.repeats):
            exported(x, t)
        per_image = (time.perf_counter() - start) / args.repeats / args.batch
    print(f"parameters {sum(q.numel() for q in net.parameters())}; "
          f"{macs / 1e9:.3f} G multiply-adds ({2 * macs / 1e9:.3f} GFLOP) per image in Conv2d and Linear")
    print(f"one thread, batch {args.batch}: {per_image * 1e3:.2f} ms per image, "
          f"{2 * macs / per_image / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
