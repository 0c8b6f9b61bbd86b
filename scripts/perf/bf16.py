#!/usr/bin/python3
"""bf16 against fp32: one forward pass of a converted network, interleaved, on 1 and 2 threads.

The module as `ilvr --precision fp32` and `--precision bf16` run it (the same
TorchScript file; bf16 is LibTorch's CPU autocast to bfloat16, as
ilvr::torch::module_options::precision sets it). Each variant is warmed up twice
(TorchScript's profiling runs, oneDNN's primitives), then the rounds run fp32 and
bf16 in turn at each thread count, so a busy machine slows both alike. Prints the
median wall and CPU time (all threads) per forward, the speed ratios fp32 / bf16
per thread count (on a shared machine the CPU ratio is the steadier), and
how far bf16's output is from fp32's (relative RMS of eps and v), with the load
average before and after.

    /usr/bin/python3 scripts/perf/bf16.py MODEL.pt [--rounds 3] [--threads 1 2] [--size 256]
"""

import argparse
import os
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channels", type=int, default=3)
    args = p.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    module = torch.jit.load(args.model, map_location="cpu").eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, args.channels, args.size, args.size, generator=g)
    t = torch.tensor([500])

    def forward(precision):
        with torch.inference_mode(), torch.cpu.amp.autocast(enabled=precision == "bf16", dtype=torch.bfloat16):
            return module(x, t).float()

    outputs = {}
    for precision in ("fp32", "bf16"):
        for _ in range(2):
            outputs[precision] = forward(precision)
    a, b = outputs["fp32"], outputs["bf16"]
    rel = ((b - a).pow(2).mean().sqrt() / a.pow(2).mean().sqrt()).item()

    wall = {(n, prec): [] for n in args.threads for prec in ("fp32", "bf16")}
    cpu = {key: [] for key in wall}
    for r in range(args.rounds):
        for n in args.threads:
            torch.set_num_threads(n)
            for precision in ("fp32", "bf16"):
                start, start_cpu = time.perf_counter(), time.process_time()
                forward(precision)
                wall[(n, precision)].append(time.perf_counter() - start)
                cpu[(n, precision)].append(time.process_time() - start_cpu)
                print(f"  round {r + 1}, {n} thread(s), {precision}: wall {wall[(n, precision)][-1]:.2f} s, "
                      f"CPU {cpu[(n, precision)][-1]:.2f} s", flush=True)
    print(f"{args.size} x {args.size}, median of {args.rounds} interleaved rounds; bf16 output vs fp32: "
          f"relative RMS {rel:.2e}")
    for n in args.threads:
        f32, b16 = statistics.median(wall[(n, "fp32")]), statistics.median(wall[(n, "bf16")])
        c32, c16 = statistics.median(cpu[(n, "fp32")]), statistics.median(cpu[(n, "bf16")])
        print(f"{n} thread(s): wall fp32 {f32:.2f} s, bf16 {b16:.2f} s per forward: bf16 {f32 / b16:.2f}x faster; "
              f"CPU fp32 {c32:.2f} s, bf16 {c16:.2f} s: {c32 / c16:.2f}x")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
