#!/usr/bin/python3
"""CPU levers for a converted ADM network: one forward pass under each, interleaved.

Variants of the same TorchScript file (the ilvr tool runs it through the same
LibTorch): as saved; torch.jit.freeze; freeze + torch.jit.optimize_for_inference
(oneDNN); the input in channels-last memory; batch 2 (time per image); one
thread instead of two. Each variant is warmed up once (TorchScript's profiling
runs), then the rounds run the variants in turn, so a busy machine slows all of
them alike. Prints wall and CPU seconds (all threads) per image, the median over
the rounds, and each variant's largest difference from the plain output.

    /usr/bin/python3 scripts/perf/adm_levers.py MODEL.pt [--rounds 2] [--threads 2]
"""

import argparse
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    def load():
        return torch.jit.load(args.model, map_location="cpu").eval()

    plain = load()
    frozen = torch.jit.freeze(load())
    optimized = torch.jit.optimize_for_inference(torch.jit.freeze(load()))
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, 3, args.size, args.size, generator=g)
    x2 = torch.cat([x1, torch.randn(1, 3, args.size, args.size, generator=g)])
    t1, t2 = torch.tensor([500]), torch.tensor([500, 500])
    variants = {
        "plain": (plain, x1, t1, args.threads),
        "freeze": (frozen, x1, t1, args.threads),
        "freeze + optimize_for_inference": (optimized, x1, t1, args.threads),
        "channels-last input": (plain, x1.contiguous(memory_format=torch.channels_last), t1, args.threads),
        "batch 2 (per image)": (plain, x2, t2, args.threads),
        "1 thread": (plain, x1, t1, 1),
    }
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    with torch.inference_mode():
        reference = plain(x1, t1)
        diff = {}
        for name, (m, x, t, threads) in variants.items():  # warm-up: profiling runs, oneDNN primitives
            torch.set_num_threads(threads)
            diff[name] = (m(x, t)[:1] - reference).abs().max().item()
        for _ in range(args.rounds):
            for name, (m, x, t, threads) in variants.items():
                torch.set_num_threads(threads)
                w0, c0 = time.perf_counter(), time.process_time()
                m(x, t)
                wall[name].append((time.perf_counter() - w0) / x.shape[0])
                cpu[name].append((time.process_time() - c0) / x.shape[0])
                print(f"  {name}: wall {wall[name][-1]:.2f} s, CPU {cpu[name][-1]:.2f} s per image", flush=True)
    print(f"{args.size} x {args.size}, {args.threads} threads unless noted, median of {args.rounds} rounds:")
    base = statistics.median(cpu["plain"])
    for name in variants:
        c = statistics.median(cpu[name])
        print(f"{name:34s} wall {statistics.median(wall[name]):6.2f} s  CPU {c:6.2f} s per image "
              f"({c / base:.2f} x plain's CPU)  max |diff| {diff[name]:.1e}")


if __name__ == "__main__":
    main()
