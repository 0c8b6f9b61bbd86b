#!/usr/bin/python3
"""Speed of two or more builds of the library, interleaved in one script.

Runs the Google Benchmark binaries of each build folder in turn, ROUNDS times
(the order of the builds reversed every other round, so a machine that slows
down or speeds up during the run favours none), keeps each benchmark's minimum
real time per build, and prints every build's time as a ratio to the first's.
On a shared machine, pause other heavy jobs first (kill -STOP); the ratios of
interleaved minima are the figure to read, not the absolute times.

    /usr/bin/python3 scripts/perf/compare_builds.py OLD/build/release NEW/build/release \\
        [--rounds 5] [--filter 'threads:|noise_fill'] [--benchmarks bench_ilvr_step bench_sampling]
"""

import argparse
import json
import os
import subprocess
import sys


def run(binary, pattern, min_time):
    """One run of `binary` over the benchmarks matching `pattern`: {name: (real time, its unit)}."""
    out = subprocess.run([binary, f"--benchmark_filter={pattern}", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"], capture_output=True, text=True, check=True).stdout
    if not out.strip():  # no benchmark of this binary matches
        return {}
    return {b["name"]: (b["real_time"], b["time_unit"]) for b in json.loads(out)["benchmarks"]
            if b.get("run_type") != "aggregate"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("builds", nargs="+", help="build folders (the first is the reference)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--filter", default="threads:|noise_fill", help="Google Benchmark's --benchmark_filter")
    p.add_argument("--benchmarks", nargs="+", default=["bench_ilvr_step", "bench_sampling"],
                   help="binaries under BUILD/benchmarks/")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per benchmark and run")
    args = p.parse_args()
    if len(args.builds) < 2:
        sys.exit("compare_builds: give two build folders or more")
    for build in args.builds:
        for b in args.benchmarks:
            if not os.access(os.path.join(build, "benchmarks", b), os.X_OK):
                sys.exit(f"compare_builds: {build}/benchmarks/{b} is not an executable (build it first)")

    best, units = {}, {}  # name -> build -> minimum real time; name -> its unit
    for r in range(args.rounds):
        for build in (args.builds if r % 2 == 0 else args.builds[::-1]):
            for b in args.benchmarks:
                for name, (t, unit) in run(os.path.join(build, "benchmarks", b), args.filter, args.min_time).items():
                    units[name] = unit
                    slot = best.setdefault(name, {})
                    slot[build] = min(slot.get(build, float("inf")), t)
    if not best:
        sys.exit(f"compare_builds: no benchmark matches {args.filter!r}")
    print(f"minimum real time over {args.rounds} interleaved rounds, as a ratio to {args.builds[0]}")
    print("benchmark".ljust(52) + "".join(f"{i:>9}" for i in range(len(args.builds))) + "   reference")
    for name, times in best.items():
        ref = times[args.builds[0]]
        print(name.ljust(52) + "".join(f"{times[b] / ref:9.3f}" for b in args.builds) + f"   {ref:.3f} {units[name]}")
    for i, build in enumerate(args.builds):
        print(f"  {i}: {build}")


if __name__ == "__main__":
    main()
