#!/usr/bin/python3
"""The figures of scripts/gpu-check.sh, read off its logs; each command prints
its lines and appends `key = value` lines to the figures file (--figures).

    gpu_check.py compare-samples A B       the PNG samples of two tool runs of one job
    gpu_check.py bench BENCH.json          the device benchmarks against the copy kernel
    gpu_check.py speed LOG...              per-step times of the tool and the Python loop
    gpu_check.py tests LOG                 Catch2's totals

Needs only Python's standard library (the bare GPU machine and a bare Debian root
have no Pillow for certain).
"""
import argparse
import json
import os
import re
import statistics
import struct
import sys
import zlib

# Samples of the tool on the GPU against the CPU, same job: the sampler's
# arithmetic agrees within 1e-5 (the device tests), but the network does not:
# cuDNN's convolutions (TF32 allowed by LibTorch's defaults) differ from the CPU's
# by about 1e-3 relative per call, and 100 steps carry that into the samples.
# Measured in 8-bit levels of the PNG files: a wrong noise key, batch or step
# moves the mean by tens of levels, so these bounds still catch real errors.
MEAN_LEVELS = 1.0
MAX_LEVELS = 32
FUSED_TARGET = 0.70  # fused update + phi_N bandwidth as a fraction of the copy's


def record(figures, key, value):
    if figures:
        with open(figures, "a") as f:
            f.write(f"{key} = {value}\n")


def read_png(path):
    """8-bit grey, grey+alpha, RGB or RGBA PNG, not interlaced -> (width, height, channels, bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit, non-interlaced grey or RGB(A) PNGs are read here")
    raw, stride = zlib.decompress(idat), width * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row filter (PNG specification, section 9)
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += row
        prev = row
    return width, height, channels, bytes(out)


def samples(folder):
    """Relative paths of the sample PNGs of a tool run (every PNG but the grid)."""
    found = []
    for base, _, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(base, f), folder) for f in files
                  if f.endswith(".png") and f != "grid.png"]
    return sorted(found)


def compare_samples(args):
    names = samples(args.a)
    if not names or names != samples(args.b):
        print(f"samples: the two runs wrote different files ({len(names)} vs {len(samples(args.b))})")
        return 1
    diffs = []
    for name in names:
        a, b = read_png(os.path.join(args.a, name)), read_png(os.path.join(args.b, name))
        if a[:3] != b[:3]:
            print(f"samples: {name}: {a[:3]} against {b[:3]}")
            return 1
        diffs += [abs(p - q) for p, q in zip(a[3], b[3])]
    mean, worst = statistics.fmean(diffs), max(diffs)
    same = sum(d == 0 for d in diffs) / len(diffs)
    bound_mean, bound_max = (0, 0) if args.exact else (MEAN_LEVELS, MAX_LEVELS)
    ok = mean <= bound_mean and worst <= bound_max
    print(f"{args.label}: {len(names)} samples, mean |diff| {mean:.3f} levels of 255, max {worst}, "
          f"{100 * same:.1f} % of pixels equal (bounds: mean <= {bound_mean}, max <= {bound_max}): "
          + ("within" if ok else "OUTSIDE"))
    key = args.label.replace(" ", "_")
    record(args.figures, f"{key}.samples", len(names))
    record(args.figures, f"{key}.mean_abs_diff_levels", f"{mean:.4f}")
    record(args.figures, f"{key}.max_abs_diff_levels", worst)
    record(args.figures, f"{key}.equal_pixels", f"{same:.4f}")
    return 0 if ok else 1


def bench(args):
    runs = {b["name"]: b for b in json.load(open(args.json))["benchmarks"]}
    copy = next(b for name, b in runs.items() if name.startswith("copy"))["bytes_per_second"]
    print(f"copy: {copy / 1e9:.0f} GB/s (the bandwidth reference, same run)")
    record(args.figures, "bench.copy_GBps", f"{copy / 1e9:.1f}")
    status = 0
    for name, b in runs.items():
        if name.startswith(("low_pass", "ilvr_update")):
            frac = b["bytes_per_second"] / copy
            fused = name.startswith("ilvr_update")
            if fused and frac < FUSED_TARGET:
                status = 1
            print(f"{name}: {b['real_time']:.1f} {b['time_unit']}, {b['bytes_per_second'] / 1e9:.0f} GB/s = "
                  f"{100 * frac:.0f} % of the copy" + (f" (target >= {100 * FUSED_TARGET:.0f} %)" if fused else ""))
            key = "bench." + re.sub(r"[^A-Za-z0-9_.]+", "_", name)
            record(args.figures, key + ".time_" + b["time_unit"], f"{b['real_time']:.2f}")
            record(args.figures, key + ".copy_fraction", f"{frac:.3f}")
    return status


def speed(args):
    """Lines 'tool #r: sampled B image(s) in X s' and 'python #r: python loop: ...: X s' -> ms per step."""
    tool, python = [], []
    for path in args.logs:
        for line in open(path):
            m = re.search(r"sampled \d+ image\(s\) in ([0-9.]+) s", line)
            if m:
                tool.append(float(m.group(1)))
            m = re.search(r"python loop: .*?: ([0-9.]+) s", line)
            if m:
                python.append(float(m.group(1)))
    if not tool or not python:
        print(f"speed: no timings found (tool {len(tool)}, python {len(python)})")
        return 1
    t, p = 1000 * min(tool) / args.steps, 1000 * min(python) / args.steps
    print(f"{args.label}: tool {t:.1f} ms/step, Python loop {p:.1f} ms/step (best of {len(tool)} and "
          f"{len(python)} interleaved runs, {args.steps} steps, {args.what}): tool / Python = {t / p:.2f}")
    key = args.label.replace(" ", "_")
    record(args.figures, f"{key}.tool_ms_per_step", f"{t:.2f}")
    record(args.figures, f"{key}.python_ms_per_step", f"{p:.2f}")
    record(args.figures, f"{key}.tool_runs_s", " ".join(f"{x:.3f}" for x in tool))
    record(args.figures, f"{key}.python_runs_s", " ".join(f"{x:.3f}" for x in python))
    return 0


def tests(args):
    text = open(args.log, errors="replace").read()
    found = re.findall(r"(All tests passed.*|test cases:.*)", text)
    line = found[-1] if found else "no Catch2 totals in the log"
    print(f"{args.label}: {line}")
    record(args.figures, args.label.replace(" ", "_"), line)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--figures", help="append key = value lines to this file")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare-samples")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--label", default="tool cuda vs cpu")
    c.add_argument("--exact", action="store_true", help="require equal pixels (two runs on one device)")
    c.set_defaults(run=compare_samples)
    b = sub.add_parser("bench")
    b.add_argument("json")
    b.set_defaults(run=bench)
    s = sub.add_parser("speed")
    s.add_argument("logs", nargs="+")
    s.add_argument("--steps", type=int, required=True)
    s.add_argument("--what", default="")
    s.add_argument("--label", default="adm256 speed")
    s.set_defaults(run=speed)
    t = sub.add_parser("tests")
    t.add_argument("log")
    t.add_argument("--label", default="device tests")
    t.set_defaults(run=tests)
    args = p.parse_args()
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
