#!/usr/bin/python3
"""Arithmetic of one ADM forward pass per image, counted without running it.

Builds the network from the official flag string on PyTorch's "meta" device
(shapes only, no memory, no arithmetic) and counts the multiply-adds of every
convolution and linear layer plus attention's two matrix products (q^T k and
the weighted sum of v); normalisations and activations are left out (under 1 %).
docs/paper-models.md uses it for the GPU estimate.

    /usr/bin/python3 scripts/adm/cost.py --flags "--image_size 256 --num_channels 128 ..."
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from adm import flags  # noqa: E402
from adm.unet import AttentionBlock  # noqa: E402


def multiply_adds(config: "flags.Config") -> int:
    """Multiply-adds of one forward pass on one image."""
    net = config.build(0 if config.model["class_cond"] else None).to("meta")
    total = [0]

    def conv(mod, inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * int(torch.tensor(mod.kernel_size).prod())

    def linear(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    def attention(mod, inp, out):
        b, c, h, w = inp[0].shape
        total[0] += 2 * b * (h * w) * (h * w) * c  # q^T k and the sum over v, all heads together

    for mod in net.modules():
        if isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d)):
            mod.register_forward_hook(conv)
        elif isinstance(mod, torch.nn.Linear):
            mod.register_forward_hook(linear)
        elif isinstance(mod, AttentionBlock):
            mod.register_forward_hook(attention)
    size = config.model["image_size"]
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size, device="meta"), torch.zeros(1, dtype=torch.long, device="meta"))
    return total[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--flags", required=True, help="the official flag string")
    args = p.parse_args()
    config = flags.parse_flags(args.flags)
    macs = multiply_adds(config)
    params = sum(p.numel() for p in config.build(0 if config.model["class_cond"] else None).parameters())
    print(f"parameters {params:,} ({params * 4 / 2**20:.0f} MiB float32); "
          f"{macs / 1e9:.1f} G multiply-adds = {2 * macs / 1e9:.1f} GFLOP per image and step")


if __name__ == "__main__":
    main()
