#!/usr/bin/python3
"""ilvr's phi_N and ILVR loop against peers, on the same inputs, one thread.

Peers of phi_N (3 x 256 x 256 float32 image, N = 2, 4, 8, 16, 32):
  torch_gather  PyTorch written from docs/spec.md section 5: per-axis weight/index
                tables built with NumPy as docs/spec.md section 5 says (float64, normalised,
                stored as float32, half-sample mirrored indices), applied with
                index_select + multiply + sum over the taps, height then width.
                This is how the ILVR reference code applies its tables.
  torch_matmul  the same tables as dense [out, in] matrices, applied with one
                matmul per axis (A_h @ x @ A_w^T): same semantics, a stronger peer.
  pillow        Pillow's Image.resize with BICUBIC (a = -0.5, antialiased when
                shrinking) in float mode 'F', per channel, down then up. Pillow
                renormalises the weights at the borders instead of mirroring, so
                only the interior agrees with ilvr.
  opencv_*      cv::resize from C++ (build-perf/benchmarks/opencv_phi): INTER_AREA
                down + INTER_CUBIC up, and INTER_CUBIC both ways. OpenCV's cubic
                has a = -0.75 and no antialiasing; not the same operation.
ilvr: build-perf/benchmarks/bench_low_pass (Google Benchmark, JSON).

The ILVR loop: a straightforward PyTorch loop (docs/spec.md sections 1, 2, 4, 6: linear schedule,
respaced to 20 steps, DDPM with fixed small variance and clipping, the exact
Gaussian-prior denoiser eps = c_t x, every step conditioned with
x = x' - phi(x') + phi(y_i), torch_gather phi) against bench_sampling's
ilvr_run/side:256/batch:8/threads:1.

Checks: ilvr's phi_N (benchmarks/peers/phi_dump) against torch_gather and
torch_matmul, max |diff| <= 1e-5; torch_gather against the reference's golden
phi (../shared/golden); Pillow against ilvr in the interior (pixels none of
whose taps, in either pass, touch the border); OpenCV reported for information;
the PyTorch loop against ilvr's loop with the same (replayed) noise on a small
case.

Run with Debian's interpreter (python3-torch, numpy, PIL):
    /usr/bin/python3 scripts/perf/peers.py [--build build-perf] [--out docs/perf/peers.json]
Pause other heavy work on the machine while it runs (docs/performance.md).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

torch.set_num_threads(1)
torch.set_grad_enabled(False)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GOLDEN = os.environ.get("ILVR_GOLDEN_DIR", os.path.normpath(os.path.join(ROOT, "..", "shared", "golden")))
BICUBIC = getattr(Image, "Resampling", Image).BICUBIC


# ---------------------------------------------------------------- docs/spec.md section 5 tables

def cubic(x):
    """Keys cubic, a = -0.5, support 4 (docs/spec.md section 5)."""
    a = np.abs(x)
    return np.where(a <= 1.0, 1.5 * a**3 - 2.5 * a**2 + 1.0,
                    np.where(a <= 2.0, -0.5 * a**3 + 2.5 * a**2 - 4.0 * a + 2.0, 0.0))


def axis_table(in_len, out_len, scale, kernel=cubic, support=4.0):
    """One axis of a resize, as docs/spec.md section 5 states it, in float64.

    Returns float32 weights [out_len, taps], mirrored int64 indices [out_len, taps]
    and the unmirrored positions (to tell interior outputs from border ones).
    """
    shrink = scale < 1.0
    width = support / scale if shrink else support
    o = np.arange(out_len, dtype=np.float64)
    g = (o + 0.5) / scale - 0.5 - (out_len - in_len * scale) / (2.0 * scale)  # input coordinate of output o
    first = np.floor(g - width / 2.0).astype(np.int64)
    taps = int(math.ceil(width)) + 2
    j = first[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    d = g[:, None] - j
    w = scale * kernel(scale * d) if shrink else kernel(d)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total != 0.0, w / np.where(total != 0.0, total, 1.0), w)
    used = np.flatnonzero((w.astype(np.float32) != 0.0).any(axis=0))  # drop all-zero columns
    w, j = w[:, used[0]:used[-1] + 1], j[:, used[0]:used[-1] + 1]
    period = 2 * in_len
    m = np.mod(j, period)
    index = np.where(m < in_len, m, period - 1 - m)
    return w.astype(np.float32), index, j


class SpecPhi:
    """phi_N = up_N(down_N(.)) for [.., H, W] tensors, from the tables of docs/spec.md section 5."""

    def __init__(self, height, width, factor):
        self.factor = factor
        lh, lw = -(-height // factor), -(-width // factor)
        down, up = 1.0 / factor, float(factor)
        self.tables = [axis_table(height, lh, down), axis_table(width, lw, down),
                       axis_table(lh, height, up), axis_table(lw, width, up)]
        self.gather = [(torch.from_numpy(w), torch.from_numpy(i.reshape(-1))) for w, i, _ in self.tables]
        self.dense = []
        for w, i, _ in self.tables:
            a = np.zeros((w.shape[0], int(i.max()) + 1 if w.size else 0), dtype=np.float32)
            for col in range(w.shape[1]):
                np.add.at(a, (np.arange(w.shape[0]), i[:, col]), w[:, col])
            self.dense.append(a)
        # Pad the dense matrices to their input lengths (a tap table may not reach the last input).
        in_lengths = [height, width, lh, lw]
        self.dense = [torch.from_numpy(np.pad(a, ((0, 0), (0, n - a.shape[1])))) for a, n in zip(self.dense, in_lengths)]
        self.dense_t = [a.t().contiguous() for a in self.dense]

    @staticmethod
    def _rows(x, w, index):
        """Height pass: out[.., o, :] = sum_m w[o, m] x[.., index[o, m], :]."""
        m, taps = w.shape
        g = x.index_select(-2, index).reshape(*x.shape[:-2], m, taps, x.shape[-1])
        return (g * w[:, :, None]).sum(-2)

    @staticmethod
    def _cols(x, w, index):
        """Width pass: out[.., :, o] = sum_m w[o, m] x[.., :, index[o, m]]."""
        m, taps = w.shape
        g = x.index_select(-1, index).reshape(*x.shape[:-1], m, taps)
        return (g * w).sum(-1)

    def gather_phi(self, x):
        (wdh, idh), (wdw, idw), (wuh, iuh), (wuw, iuw) = self.gather
        low = self._cols(self._rows(x, wdh, idh), wdw, idw)
        return self._cols(self._rows(low, wuh, iuh), wuw, iuw)

    def matmul_phi(self, x):
        dh, dw, uh, uw = self.dense
        _, dwt, _, uwt = self.dense_t
        low = torch.matmul(torch.matmul(dh, x), dwt)
        return torch.matmul(torch.matmul(uh, low), uwt)

    def interior(self):
        """[H, W] mask of outputs no border reflection reaches (through either pass)."""
        masks = []
        for (wd, _, jd), (wu, _, ju) in ((self.tables[0], self.tables[2]), (self.tables[1], self.tables[3])):
            length, low = wu.shape[0], wd.shape[0]  # the axis's full and low-resolution lengths
            clean_low = np.all((wd == 0) | ((jd >= 0) & (jd < length)), axis=1)
            ok = (ju >= 0) & (ju < low) & clean_low[np.clip(ju, 0, low - 1)]
            masks.append(np.all((wu == 0) | ok, axis=1))
        return masks[0][:, None] & masks[1][None, :]


def pillow_phi(images, size, factor):
    """Pillow down and up, per channel; `images` are mode 'F' planes."""
    w, h = size
    small = (-(-w // factor), -(-h // factor))
    return [im.resize(small, BICUBIC).resize((w, h), BICUBIC) for im in images]


# ---------------------------------------------------------------- timing

def time_it(fn, repeats, min_time):
    """Median and min seconds per call over `repeats` batches of calls lasting >= min_time."""
    fn()
    number, start = 1, time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples), min(samples)


def run_benchmark(binary, pattern, repetitions, min_time):
    """Median real time (microseconds) of each Google Benchmark case matching `pattern`."""
    if not os.path.exists(binary):
        return {}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [binary, f"--benchmark_filter={pattern}", f"--benchmark_repetitions={repetitions}",
           "--benchmark_report_aggregates_only=true", f"--benchmark_min_time={min_time}",
           f"--benchmark_out={out}", "--benchmark_out_format=json"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    result = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b.get("run_name", b["name"]).removesuffix("/real_time")
        result[name] = b["real_time"] * scale[b["time_unit"]]
    return result


# ---------------------------------------------------------------- ILVR loop (docs/spec.md sections 1, 2, 4, 6)

def respace_count(steps, count):
    stride = 1.0 if count <= 1 else (steps - 1) / (count - 1)
    kept, cur = [], 0.0
    for _ in range(count):
        kept.append(int(round(cur)))  # half to even, as docs/spec.md section 2
        cur += stride
    return kept


def process_tables(count, prior_std, timesteps=1000):
    betas = np.linspace(1e-4 * 1000 / timesteps, 0.02 * 1000 / timesteps, timesteps, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    tau = respace_count(timesteps, count)
    last, nb = 1.0, []
    for t in tau:
        nb.append(1.0 - abar[t] / last)
        last = abar[t]
    b = np.array(nb)
    ab = np.cumprod(1.0 - b)
    abp = np.concatenate([[1.0], ab[:-1]])
    pv = b * (1.0 - abp) / (1.0 - ab)
    log_pv = np.log(np.concatenate([pv[1:2], pv[1:]]))
    f32 = lambda v: [float(np.float32(x)) for x in v]
    model_c = np.sqrt(1.0 - abar) / (abar * prior_std**2 + 1.0 - abar)  # Gaussian prior, mu = 0
    return {
        "tau": tau,
        "sqrt_recip": f32(np.sqrt(1.0 / ab)), "sqrt_recipm1": f32(np.sqrt(1.0 / ab - 1.0)),
        "c1": f32(b * np.sqrt(abp) / (1.0 - ab)), "c2": f32((1.0 - abp) * np.sqrt(1.0 - b) / (1.0 - ab)),
        "sigma": [float(np.exp(np.float32(0.5) * np.float32(v))) for v in log_pv],
        "sqrt_a": f32(np.sqrt(abp)), "sqrt_1ma": f32(np.sqrt(1.0 - abp)),
        "model_c": [float(np.float32(model_c[t])) for t in tau],
    }


def torch_ilvr_loop(x, ref, tables, phi, z=None, e=None, generator=None):
    """Straightforward ILVR sampling: x is x_T; z, e [K, B, C, H, W] or drawn with torch.randn."""
    steps = len(tables["tau"])
    for i in reversed(range(steps)):
        eps = tables["model_c"][i] * x  # exact denoiser of N(0, s^2 I)
        x0 = (tables["sqrt_recip"][i] * x - tables["sqrt_recipm1"][i] * eps).clamp(-1.0, 1.0)
        mean = tables["c1"][i] * x0 + tables["c2"][i] * x
        if i > 0:
            zi = z[i] if z is not None else torch.randn(x.shape, generator=generator)
            proposal = mean + tables["sigma"][i] * zi
        else:
            proposal = mean
        ei = e[i] if e is not None else torch.randn(x.shape, generator=generator)
        y_i = tables["sqrt_a"][i] * ref + tables["sqrt_1ma"][i] * ei
        x = proposal - phi(proposal) + phi(y_i)
    return x


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    parser.add_argument("--out", help="JSON results (default docs/perf/peers.json; with --quick, a temporary folder)")
    parser.add_argument("--factors", default="2,4,8,16,32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timed batch of calls")
    parser.add_argument("--loop-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="few repeats, small loop: a smoke test, not a measurement")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.min_time, args.loop_repeats = 1, 0.02, 1
    if args.out is None:
        args.out = (os.path.join(tempfile.gettempdir(), "peers-quick.json") if args.quick
                    else os.path.join(ROOT, "docs", "perf", "peers.json"))
    factors = [int(f) for f in args.factors.split(",")]
    bench_dir = os.path.join(args.build, "benchmarks")
    C, H, W = 3, 256, 256
    load_start = os.getloadavg()

    rng = np.random.default_rng(2024)
    image = rng.standard_normal((C, H, W)).astype(np.float32)
    x = torch.from_numpy(image)
    planes = [Image.fromarray(image[c], mode="F") for c in range(C)]
    results = {"image": [C, H, W], "factors": factors, "phi": [], "checks": {}}

    # Golden check of the PyTorch-from-spec implementation (the reference's own phi).
    golden = []
    manifest = os.path.join(GOLDEN, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            cases = json.load(f)["cases"]
        for case in cases:
            if case["kind"] != "resize" or case["kernel"] != "cubic":
                continue
            gx = np.load(os.path.join(GOLDEN, case["files"]["x"]))
            gphi = np.load(os.path.join(GOLDEN, case["files"]["phi"]))
            spec = SpecPhi(case["H"], case["W"], case["N"])
            ours = spec.gather_phi(torch.from_numpy(gx)).numpy()
            golden.append({"case": case["id"], "max_abs_diff": float(np.abs(ours - gphi).max())})
    results["checks"]["torch_gather_vs_golden_phi"] = golden

    with tempfile.TemporaryDirectory() as tmp:
        in_path = os.path.join(tmp, "x.raw")
        image.tofile(in_path)
        for n in factors:
            spec = SpecPhi(H, W, n)
            row = {"N": n}
            # numbers
            ref_gather = spec.gather_phi(x).numpy()
            ref_matmul = spec.matmul_phi(x).numpy()
            out_path = os.path.join(tmp, f"phi{n}.raw")
            subprocess.run([os.path.join(bench_dir, "phi_dump"), "phi", in_path, out_path, str(C), str(H), str(W), str(n)],
                           check=True)
            ours = np.fromfile(out_path, dtype=np.float32).reshape(C, H, W)
            pil = np.stack([np.asarray(im, dtype=np.float32) for im in pillow_phi(planes, (W, H), n)])
            inside = spec.interior()
            row["check"] = {
                "ilvr_vs_torch_gather_max_abs": float(np.abs(ours - ref_gather).max()),
                "ilvr_vs_torch_matmul_max_abs": float(np.abs(ours - ref_matmul).max()),
                "pillow_vs_ilvr_interior_max_abs": float(np.abs(pil - ours)[:, inside].max()) if inside.any() else None,
                "pillow_vs_ilvr_whole_max_abs": float(np.abs(pil - ours).max()),
                "interior_pixels": int(inside.sum()),
            }
            opencv = os.path.join(bench_dir, "opencv_phi")
            if os.path.exists(opencv):
                area, cub = os.path.join(tmp, "area.raw"), os.path.join(tmp, "cubic.raw")
                subprocess.run([opencv, "--dump", in_path, area, cub, str(C), str(H), str(W), str(n)], check=True)
                for name, path in (("area_cubic", area), ("cubic_cubic", cub)):
                    o = np.fromfile(path, dtype=np.float32).reshape(C, H, W)
                    row["check"][f"opencv_{name}_vs_ilvr_interior_max_abs"] = (
                        float(np.abs(o - ours)[:, inside].max()) if inside.any() else None)
            # times (seconds per 3 x 256 x 256 image)
            row["torch_gather_us"] = time_it(lambda: spec.gather_phi(x), args.repeats, args.min_time)[0] * 1e6
            row["torch_matmul_us"] = time_it(lambda: spec.matmul_phi(x), args.repeats, args.min_time)[0] * 1e6
            row["pillow_us"] = time_it(lambda: pillow_phi(planes, (W, H), n), args.repeats, args.min_time)[0] * 1e6
            results["phi"].append(row)
            print(f"N={n}: torch_gather {row['torch_gather_us']:.0f} us, torch_matmul {row['torch_matmul_us']:.0f} us, "
                  f"pillow {row['pillow_us']:.0f} us; ilvr-vs-torch {row['check']['ilvr_vs_torch_gather_max_abs']:.2e}",
                  flush=True)

    # ilvr and OpenCV through their Google Benchmark binaries, in the same run.
    alt = "|".join(str(n) for n in factors)
    ilvr_times = run_benchmark(os.path.join(bench_dir, "bench_low_pass"),
                               f"^low_pass/side:256/N:({alt})/threads:1$", args.repeats, args.min_time)
    cv_times = run_benchmark(os.path.join(bench_dir, "opencv_phi"), f"^opencv_.*/side:256/N:({alt})$",
                             args.repeats, args.min_time)
    for row in results["phi"]:
        n = row["N"]
        row["ilvr_us"] = ilvr_times.get(f"low_pass/side:256/N:{n}/threads:1")
        row["opencv_area_cubic_us"] = cv_times.get(f"opencv_area_cubic/side:256/N:{n}")
        row["opencv_cubic_cubic_us"] = cv_times.get(f"opencv_cubic_cubic/side:256/N:{n}")
        row["ratio_ilvr_over"] = {
            peer: (row["ilvr_us"] / row[f"{peer}_us"]) if row["ilvr_us"] and row.get(f"{peer}_us") else None
            for peer in ("torch_gather", "torch_matmul", "pillow", "opencv_area_cubic", "opencv_cubic_cubic")}

    # The ILVR loop: correctness on a small case with the same noise, then time.
    loop = {"steps": 20, "N": 8, "prior_std": 0.5, "batch": 8, "image": [C, H, W]}
    with tempfile.TemporaryDirectory() as tmp:
        b, c, h, w, n, steps = 2, 3, 64, 64, 4, 20
        r = np.random.default_rng(7)
        x_T = r.standard_normal((b, c, h, w)).astype(np.float32)
        ref = np.clip(r.standard_normal((1, c, h, w)) * 0.5, -1, 1).astype(np.float32)
        z = r.standard_normal((steps, b, c, h, w)).astype(np.float32)
        e = r.standard_normal((steps, b, c, h, w)).astype(np.float32)
        for name, arr in (("x_T", x_T), ("ref", ref), ("z", z), ("e", e)):
            arr.tofile(os.path.join(tmp, name + ".raw"))
        subprocess.run([os.path.join(bench_dir, "phi_dump"), "loop", tmp, str(b), str(c), str(h), str(w), str(n),
                        str(steps), "0.5"], check=True)
        ours = np.fromfile(os.path.join(tmp, "final_ilvr.raw"), dtype=np.float32).reshape(b, c, h, w)
        small_phi = SpecPhi(h, w, n)
        theirs = torch_ilvr_loop(torch.from_numpy(x_T), torch.from_numpy(ref), process_tables(steps, 0.5),
                                 small_phi.gather_phi, torch.from_numpy(z), torch.from_numpy(e)).numpy()
        loop["check"] = {"case": [b, c, h, w], "N": n, "steps": steps,
                         "ilvr_vs_torch_final_max_abs": float(np.abs(ours - theirs).max())}
    big = SpecPhi(H, W, loop["N"])
    tables = process_tables(loop["steps"], loop["prior_std"])
    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn((loop["batch"], C, H, W), generator=gen)
    y = torch.zeros((1, C, H, W))
    samples = []
    for _ in range(args.loop_repeats):
        start = time.perf_counter()
        torch_ilvr_loop(x_T, y, tables, big.gather_phi, generator=gen)
        samples.append(time.perf_counter() - start)
    loop["torch_ms"] = statistics.median(samples) * 1e3
    run = run_benchmark(os.path.join(bench_dir, "bench_sampling"), "^ilvr_run/side:256/batch:8/threads:1(/real_time)?$",
                        args.loop_repeats, 0.0 if args.quick else 1.0)
    loop["ilvr_ms"] = run.get("ilvr_run/side:256/batch:8/threads:1", float("nan")) / 1e3
    loop["ratio_ilvr_over_torch"] = loop["ilvr_ms"] / loop["torch_ms"]
    results["loop"] = loop

    load_end = os.getloadavg()
    results["machine"] = machine()
    results["load_average"] = {"start": load_start, "end": load_end}
    results["method"] = ("median of repeated timings; one thread everywhere; times per 3x256x256 image (phi) and per "
                         "20-step run of a batch of 8 (loop); ratio = ilvr time / peer time (< 1: ilvr faster)")
    check_ok = all(r["check"]["ilvr_vs_torch_gather_max_abs"] <= 1e-5 and r["check"]["ilvr_vs_torch_matmul_max_abs"] <= 1e-5
                   for r in results["phi"]) and all(g["max_abs_diff"] <= 1e-5 for g in golden)
    results["checks"]["ilvr_equals_torch_from_spec_within_1e-5"] = check_ok
    results["checks"]["loop_within_1e-4"] = loop["check"]["ilvr_vs_torch_final_max_abs"] <= 1e-4
    results["quick"] = args.quick
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    report(results)
    return 0 if check_ok and results["checks"]["loop_within_1e-4"] else 1


def machine():
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "numpy": np.__version__,
            "pillow": Image.__version__ if hasattr(Image, "__version__") else "?"}


def report(r):
    fmt = lambda v, spec="{:.0f}": "-" if v is None else spec.format(v)
    print(f"\nphi_N on a {'x'.join(map(str, r['image']))} float image, one thread; times in microseconds (median)")
    print(f"{'N':>3} {'ilvr':>7} {'torch_gather':>12} {'torch_matmul':>12} {'pillow':>7} {'cv_area':>8} {'cv_cubic':>8}")
    for row in r["phi"]:
        print(f"{row['N']:>3} {fmt(row['ilvr_us']):>7} {fmt(row['torch_gather_us']):>12} {fmt(row['torch_matmul_us']):>12} "
              f"{fmt(row['pillow_us']):>7} {fmt(row['opencv_area_cubic_us']):>8} {fmt(row['opencv_cubic_cubic_us']):>8}")
    print("\nratio ilvr time / peer time (< 1: ilvr faster)")
    print(f"{'N':>3} {'torch_gather':>12} {'torch_matmul':>12} {'pillow':>7} {'cv_area':>8} {'cv_cubic':>8}")
    for row in r["phi"]:
        q = row["ratio_ilvr_over"]
        f3 = lambda v: fmt(v, "{:.3f}")
        print(f"{row['N']:>3} {f3(q['torch_gather']):>12} {f3(q['torch_matmul']):>12} {f3(q['pillow']):>7} "
              f"{f3(q['opencv_area_cubic']):>8} {f3(q['opencv_cubic_cubic']):>8}")
    print("\nchecks: max |diff|")
    print(f"{'N':>3} {'vs torch_gather':>15} {'vs torch_matmul':>15} {'pillow interior':>15} {'pillow whole':>12} {'interior px':>11}")
    for row in r["phi"]:
        c = row["check"]
        e = lambda v: fmt(v, "{:.1e}")
        print(f"{row['N']:>3} {e(c['ilvr_vs_torch_gather_max_abs']):>15} {e(c['ilvr_vs_torch_matmul_max_abs']):>15} "
              f"{e(c['pillow_vs_ilvr_interior_max_abs']):>15} {e(c['pillow_vs_ilvr_whole_max_abs']):>12} {c['interior_pixels']:>11}")
    g = r["checks"]["torch_gather_vs_golden_phi"]
    if g:
        print(f"torch_gather vs the reference's golden phi ({len(g)} cubic cases): max {max(x['max_abs_diff'] for x in g):.1e}")
    L = r["loop"]
    print(f"\nILVR loop, batch {L['batch']}, {L['steps']} steps, N = {L['N']}: ilvr {L['ilvr_ms']:.0f} ms, "
          f"torch {L['torch_ms']:.0f} ms, ratio {L['ratio_ilvr_over_torch']:.3f}; "
          f"same-noise check max |diff| {L['check']['ilvr_vs_torch_final_max_abs']:.1e}")
    print(f"load average at start {r['load_average']['start'][0]:.2f}, at end {r['load_average']['end'][0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
