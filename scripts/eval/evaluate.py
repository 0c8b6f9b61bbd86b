#!/usr/bin/python3
"""Evaluate ILVR on Fashion-MNIST with the bundled DDPM (issue 8).

Drives the `ilvr` command-line tool to draw every sample, then measures them
with the bundled classifier (models/fashion-mnist-classifier/classifier.pt):

  diversity     per factor N, mean pairwise distance between the K samples of
                a reference (all K(K-1)/2 pairs), averaged over the references,
                in pixels (RMS difference over the 1024 pixels, images in
                [-1, 1]) and in the classifier's 128-d penultimate features
                (Euclidean), the stand-in for LPIPS (paper Table 2);
  faithfulness  per N, mean over samples of the per-pixel mean squared
                difference between phi_N(sample) and phi_N(reference), and the
                rate at which the classifier gives sample and reference the
                same class;
  quality       Frechet distance in the classifier's feature space between the
                samples and the 10,000 test images, unconditional and ILVR per
                N, next to real training images vs the test images (Table 1);
  range         the diversity at N = 4 for conditioning ranges 1000:0 ..
                1000:750 (paper Fig. 5);
  figures       the tool's grids of a factor sweep and of a range sweep on four
                references of different classes, and the diversity plot
                (plot_evaluation.py).

Means come with 95 % bootstrap intervals over references (2,000 resamples of
the references with replacement, seeded). Every tool run uses --resume: an
interrupted evaluation continues where it stopped when run again; each run's
folder records its options and is redrawn from scratch if they change. The
model is copied to OUT/model/ on the first run (the bundled one is refreshed by
the training job) and that snapshot is used until --refresh-model.

Usage (from the repository root, Debian's interpreter):
    /usr/bin/python3 scripts/eval/evaluate.py --preset issue --publish   # the published numbers
    /usr/bin/python3 scripts/eval/evaluate.py --preset budget            # about 30 minutes
    /usr/bin/python3 scripts/eval/evaluate.py --preset test              # seconds, for development
    /usr/bin/python3 scripts/eval/evaluate.py --preset solvers --publish # samplers per network call

--preset solvers (issue 17) measures faithfulness, diversity and the Frechet
distance of ILVR at N = 4 for each sampler of SOLVER_CONFIGS at a few network
budgets, against DDPM at 100 steps (solvers_main).
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "perf"))
from peers import SpecPhi  # noqa: E402  phi_N written from docs/spec.md section 5, checked against the library
from sample_quality import CLASSES, DEFAULT_DATA, frechet_distance  # noqa: E402
import plot_evaluation  # noqa: E402

# The budget preset: sizes for about 30 minutes on the 2-core development machine.
BUDGET_STEPS = 25
BUDGET_DIV_REFS = 20
BUDGET_DIV_SAMPLES = 6
BUDGET_FID_SAMPLES = 300
BUDGET_GRID_SAMPLES = 6

# The solvers preset (issue 17): ILVR at one factor with each sampler at a few network budgets,
# against DDPM at 100 steps (the paper's setting). (label, --sampler, --respacing K, network calls
# [, more tool options]) in drawing order: the baseline first, then the goal (20 calls),
# then the rest; the bf16 rows (issue 22) last.
SOLVER_CONFIGS = [
    ("DDPM, 100 steps", "ddpm", 100, 100),
    ("DPM-Solver++(2M), 20 steps", "dpm++2m", 20, 20),
    ("DPM-Solver++(2M) SDE, 20 steps", "dpm++2m-sde", 20, 20),
    ("DPM-Solver++(2M) SDE, 20 steps, final projection", "dpm++2m-sde", 20, 20, ["--final-projection", "20"]),
    ("DPM-Solver++(2M) SDE, 10 steps", "dpm++2m-sde", 10, 10),
    ("DPM-Solver++(2M) SDE, 50 steps", "dpm++2m-sde", 50, 50),
    ("Heun, 11 steps", "heun", 11, 20),
    ("DDIM, 20 steps", "ddim", 20, 20),
    ("DPM-Solver++(2M), 10 steps", "dpm++2m", 10, 10),
    ("Heun, 6 steps", "heun", 6, 10),
    ("DPM-Solver++(2M), 50 steps", "dpm++2m", 50, 50),
    ("DDIM, 50 steps", "ddim", 50, 50),
    ("Heun, 26 steps", "heun", 26, 50),
    ("DPM-Solver++(2M) SDE, 20 steps, bf16", "dpm++2m-sde", 20, 20, ["--precision", "bf16"]),
    ("DDPM, 100 steps, bf16", "ddpm", 100, 100, ["--precision", "bf16"]),
    ("DPM-Solver++(2M) SDE, 20 steps, final projection, bf16", "dpm++2m-sde", 20, 20,
     ["--final-projection", "20", "--precision", "bf16"]),
]
SOLVER_FACTOR = 4         # N of every solvers row
SOLVER_FID_REFS = 200     # one sample each: faithfulness and the Frechet distance
SOLVER_DIV_REFS = 10      # x SOLVER_DIV_SAMPLES: diversity
SOLVER_DIV_SAMPLES = 4
SOLVER_GRID_REFS = 2      # the picture: 2 references x 4 samples per row
SOLVER_GRID_SAMPLES = 4
FID_BOOTSTRAP = 200       # resamples of the samples for the Frechet distance's interval
ALL_FACTORS = [1, 2, 4, 8, 16, 32]
ALL_RANGES = ["1000:0", "1000:250", "1000:500", "1000:750"]
PRESETS = {
    "issue": dict(steps=100, factors=ALL_FACTORS, div_refs=50, div_samples=10, fid_samples=2000,
                  ranges=ALL_RANGES, range_factor=4, grid_samples=6),
    "budget": dict(steps=BUDGET_STEPS, factors=ALL_FACTORS, div_refs=BUDGET_DIV_REFS,
                   div_samples=BUDGET_DIV_SAMPLES, fid_samples=BUDGET_FID_SAMPLES, ranges=ALL_RANGES,
                   range_factor=4, grid_samples=BUDGET_GRID_SAMPLES),
    "test": dict(steps=10, factors=[2, 16], div_refs=2, div_samples=2, fid_samples=16,
                 ranges=["1000:0", "1000:750"], range_factor=4, grid_samples=2),
    # Samplers at equal network calls (issue 17): its own flow, solvers_main().
    "solvers": dict(steps=100, factors=[SOLVER_FACTOR], div_refs=SOLVER_DIV_REFS, div_samples=SOLVER_DIV_SAMPLES,
                    fid_samples=SOLVER_FID_REFS, ranges=["1000:0"], range_factor=SOLVER_FACTOR,
                    grid_samples=SOLVER_GRID_SAMPLES),
}
GRID_REFS = 4            # references of different classes in the figure grids
BOOTSTRAP_RESAMPLES = 2000
FULL_RANGE = "1000:0"    # conditions every step: the tool's default


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

def load_idx(path):
    """A gzipped IDX file as a uint8 array: images [N, rows, cols] (magic 2051) or labels [N] (2049)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 2049:
        return np.frombuffer(raw, dtype=np.uint8, offset=8)
    raise ValueError(f"{path}: bad IDX magic {magic}")


def load_split(data_dir, split):
    """Images as the DDPM sees them, uint8 [N, 32, 32] (28x28 padded by 2 px of black), and labels [N]."""
    imgs = load_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = load_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return np.pad(imgs, ((0, 0), (2, 2), (2, 2))), labels


def export_refs(folder, images, indices):
    """Writes test images `indices` as folder/t10k-<index:05d>.png and removes any other PNG there
    (the tool takes every PNG of the folder). Returns the file stems in the tool's (sorted) order."""
    os.makedirs(folder, exist_ok=True)
    stems = [f"t10k-{i:05d}" for i in indices]
    for name in os.listdir(folder):
        if name.endswith(".png") and name[:-4] not in stems:
            os.remove(os.path.join(folder, name))
    for i, stem in zip(indices, stems):
        path = os.path.join(folder, stem + ".png")
        if not os.path.exists(path):
            Image.fromarray(images[i], mode="L").save(path + ".tmp.png")
            os.replace(path + ".tmp.png", path)
    return sorted(stems)


def grid_indices(labels, count):
    """The first `count` test images of pairwise different classes."""
    chosen, seen = [], set()
    for i, c in enumerate(labels):
        if int(c) not in seen:
            chosen.append(i)
            seen.add(int(c))
            if len(chosen) == count:
                break
    return chosen


def load_pngs(paths):
    """8-bit grey PNGs as uint8 [N, H, W]."""
    return np.stack([np.asarray(Image.open(p).convert("L")) for p in paths])


def to_model(u8):
    """uint8 [..., H, W] -> float32 tensor [B, 1, H, W] in [-1, 1], as the models see images."""
    x = torch.from_numpy(u8.reshape(-1, *u8.shape[-2:]).astype(np.float32))
    return (x / 127.5 - 1.0).unsqueeze(1)


# ----------------------------------------------------------------------------
# The tool
# ----------------------------------------------------------------------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot_model(src, out, refresh):
    """Copies model.pt (and its config.json) to OUT/model/ unless a snapshot is there already:
    the training job replaces the bundled model every few minutes, and every stage (and a resumed
    run) must sample the same network."""
    folder = os.path.join(out, "model")
    dst = os.path.join(folder, "model.pt")
    if refresh or not os.path.exists(dst):
        os.makedirs(folder, exist_ok=True)
        cfg = os.path.join(os.path.dirname(src), "config.json")
        if os.path.exists(cfg):
            shutil.copyfile(cfg, os.path.join(folder, "config.json"))
        shutil.copyfile(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    steps_done = None
    cfg = os.path.join(folder, "config.json")
    if os.path.exists(cfg):
        with open(cfg) as f:
            steps_done = json.load(f).get("steps_done")
    return {"source": rel(src), "snapshot": rel(dst), "sha256": sha256(dst), "steps_done": steps_done}


class Tool:
    """Runs `ilvr` jobs restartably: each job has its own folder under OUT/runs/ holding a record of
    its options (eval-run.json); a folder whose record differs is deleted and drawn again."""

    def __init__(self, args, model_path, model_sha256):
        self.path, self.model_sha256 = args.tool, model_sha256
        self.threads, self.batch, self.jobs = args.threads, args.batch, args.jobs
        self.common = ["--model", model_path, "--respacing", str(args.steps), "--seed", str(args.seed)]
        self.steps = args.steps
        self.timings = {}

    def run(self, name, run_dir, job, expected, refs=0, grid=None):
        """Runs `ilvr <common> <job>` into run_dir until every path in `expected` exists.

        refs > 1 shards the job over references (`--shard I/K`, K >= 2, `jobs` processes at a
        time): the samples are the same as unsharded, and no grid is assembled (a grid of
        thousands of rows would be useless). With `grid`, one unsharded run writes that file.
        Records under `name` the time and samples drawn, summed over interrupted and resumed runs."""
        # Not the tool's checksum: a rebuild must not throw away hours of samples.
        key = {"job": job, "common": self.common[2:], "model_sha256": self.model_sha256}
        path = os.path.join(run_dir, "eval-run.json")
        record = {"key": key, "seconds": 0.0, "drawn": 0}
        if os.path.isdir(run_dir):
            try:
                with open(path) as f:
                    old = json.load(f)
            except (OSError, ValueError):
                old = {}
            if old.get("key") == key:
                record = old
            else:
                print(f"  {rel(run_dir)}: options or model changed; drawing again")
                shutil.rmtree(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        write_json(path, record)

        missing = sum(not os.path.exists(p) for p in expected)
        if missing == 0 and (grid is None or os.path.exists(grid)):
            print(f"  {name}: {len(expected)} samples already drawn")
        else:
            try:
                self._draw(name, run_dir, job, expected, missing, refs, grid, record)
            finally:  # keeps the time of an interrupted run
                write_json(path, record)
        self.timings[name] = {"seconds": round(record["seconds"], 1), "samples": record["drawn"],
                              "seconds_per_sample_step": round(record["seconds"] / max(1, record["drawn"])
                                                               / self.steps, 5)}

    def _draw(self, name, run_dir, job, expected, missing, refs, grid, record):
        """One tool invocation (or one per shard) drawing the missing samples; adds to `record`."""
        base = [self.path, "--quiet", "--resume", "--batch", str(self.batch), "--out", run_dir] \
            + self.common + job
        if grid is not None or refs < 2:
            cmds = [base + ["--threads", str(self.threads * self.jobs)]
                    + (["--grid", grid] if grid else [])]
        else:
            shards = min(max(2, self.jobs), refs)
            cmds = [base + ["--threads", str(self.threads), "--shard", f"{i}/{shards}"] for i in range(shards)]
        print(f"  {name}: drawing {missing} of {len(expected)} samples ({missing * self.steps} sample-steps)",
              flush=True)
        start = time.time()
        try:
            self._run_all(name, run_dir, cmds)
        finally:  # an interrupted run's time and samples count too
            record["seconds"] += time.time() - start
            record["drawn"] += missing - sum(not os.path.exists(p) for p in expected)
        absent = [p for p in expected if not os.path.exists(p)]
        if absent:
            sys.exit(f"evaluate: ilvr ended without writing {len(absent)} sample(s) of {name}, e.g. {absent[0]}")
        print(f"  {name}: {time.time() - start:.1f} s", flush=True)

    def _run_all(self, name, run_dir, cmds):
        """Runs the commands, `jobs` at a time; on a failure stops the others and exits with the log."""
        pending, running = list(enumerate(cmds)), []
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    i, cmd = pending.pop(0)
                    log = os.path.join(run_dir, f"tool-{i}.log")
                    with open(log, "w") as f:
                        f.write(" ".join(cmd) + "\n")
                        f.flush()
                        running.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), cmd, log))
                time.sleep(0.2)
                for entry in list(running):
                    proc, cmd, log = entry
                    if proc.poll() is None:
                        continue
                    running.remove(entry)
                    if proc.returncode != 0:
                        with open(log) as f:
                            tail = "".join(f.readlines()[1:])[-2000:]  # line 1 is the command
                        sys.exit(f"evaluate: ilvr failed with exit code {proc.returncode} in {name}:\n"
                                 f"  {' '.join(cmd)}\n{tail}(log: {rel(log)})")
        finally:
            for proc, _, _ in running:  # an exit above or Ctrl-C: stop the jobs still running
                if proc.poll() is None:
                    proc.terminate()
                proc.wait()


def sample_paths(run_dir, stems, factor, count):
    """The tool's sample files: [reference][k] for one factor (factor None: unconditional)."""
    if factor is None:
        return [os.path.join(run_dir, "unconditional", f"sample-{k}.png") for k in range(count)]
    return [[os.path.join(run_dir, s, f"N{factor}", f"sample-{k}.png") for k in range(count)] for s in stems]


def flat(nested):
    return [p for row in nested for p in row]


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------

class Classifier:
    """The bundled classifier: logits and 128-d penultimate features (float64) of uint8 images."""

    def __init__(self, path):
        self.net = torch.jit.load(path).eval()

    @torch.no_grad()
    def __call__(self, u8, batch=500):
        x = to_model(u8)
        logits, feats = [], []
        for i in range(0, x.shape[0], batch):
            f = self.net.features(x[i:i + batch])
            feats.append(f)
            logits.append(self.net.head(f))  # forward() is head(dropout(features)); eval mode
        shape = u8.shape[:-2]
        return (torch.cat(logits).argmax(1).numpy().reshape(shape),
                torch.cat(feats).double().numpy().reshape(*shape, -1))


def mean_pairwise(v):
    """Mean Euclidean distance over the K(K-1)/2 pairs of rows of v [K, D]."""
    d = np.sqrt(((v[:, None, :] - v[None, :, :]) ** 2).sum(-1))
    return d[np.triu_indices(v.shape[0], 1)].mean()


def summary(per_ref, seed):
    """Mean over references with a 95 % bootstrap interval (references resampled with replacement).
    The same seed draws the same resamples for every metric, so intervals of one set are paired."""
    per_ref = np.asarray(per_ref, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = per_ref[rng.integers(0, len(per_ref), (BOOTSTRAP_RESAMPLES, len(per_ref)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": float(per_ref.mean()), "ci95": [float(lo), float(hi)], "refs": len(per_ref)}


def diversity(u8, feats, seed):
    """u8 [R, K, 32, 32], feats [R, K, 128] -> pixel (RMS over 1024 pixels, [-1, 1] units) and feature
    (Euclidean) mean pairwise distance per reference, summarised over references."""
    x = u8.reshape(*u8.shape[:2], -1).astype(np.float64) / 127.5
    pixel = [mean_pairwise(r) / np.sqrt(x.shape[-1]) for r in x]
    feature = [mean_pairwise(r) for r in feats]
    return {"pixel": summary(pixel, seed), "feature": summary(feature, seed)}


@torch.no_grad()
def faithfulness(samples, refs, sample_cls, ref_cls, factor, seed):
    """samples [R, K, 32, 32], refs [R, 32, 32] (uint8): the per-pixel mean squared difference between
    phi_N(sample) and phi_N(reference) ([-1, 1] units), and whether the classifier's argmax class of
    sample and reference agree; each averaged per reference, then summarised over references."""
    phi = SpecPhi(32, 32, factor)
    r, k = samples.shape[:2]
    low_s = phi.matmul_phi(to_model(samples)).reshape(r, k, 32, 32)
    low_r = phi.matmul_phi(to_model(refs)).reshape(r, 1, 32, 32)
    mse = ((low_s - low_r) ** 2).mean((-1, -2)).double().numpy()
    agree = (sample_cls == ref_cls[:, None]).astype(np.float64)
    return {"phi_mse": summary(mse.mean(1), seed), "class_agreement": summary(agree.mean(1), seed)}


# ----------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------

def upscale(path, scale=2):
    """The tool's grid enlarged `scale` times (nearest), for the documentation."""
    im = Image.open(path).convert("L")
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def stack_with_labels(images, labels, pad=4, label_height=16):
    """Stacks grey images vertically, each under a one-line text label."""
    width = max(im.width for im in images)
    height = sum(im.height + label_height + pad for im in images)
    out = Image.new("L", (width, height), 255)
    draw, y = ImageDraw.Draw(out), 0
    for im, label in zip(images, labels):
        draw.text((4, y + 3), label, fill=0)
        out.paste(im, (0, y + label_height))
        y += im.height + label_height + pad
    return out


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------

def fmt(s, digits=3):
    """'mean [lo, hi]' of a summary."""
    return f"{s['mean']:.{digits}f} [{s['ci95'][0]:.{digits}f}, {s['ci95'][1]:.{digits}f}]"


def tables(res):
    """The metrics as markdown tables."""
    m, cfg = res["metrics"], res["config"]
    div_set = f"{cfg['div_refs']} references x {cfg['div_samples']} samples"
    out = [f"### Diversity ({div_set}, {cfg['steps']} steps; mean pairwise distance, 95 % bootstrap CI)", "",
           "| N | pixels (RMS, [-1, 1] units) | classifier features (Euclidean) |", "| --- | --- | --- |"]
    for n in cfg["factors"]:
        d = m["diversity"][str(n)]
        out.append(f"| {n} | {fmt(d['pixel'])} | {fmt(d['feature'])} |")
    u = m["diversity"]["unconditional"]
    out += [f"| unconditional | {fmt(u['pixel'])} | {fmt(u['feature'])} |", ""]

    out += [f"### Faithfulness (phi_N MSE per pixel; class agreement with the reference; 95 % CI)", "",
            f"Diversity set ({div_set}), FID set ({cfg['fid_samples']} references x 1 sample), and "
            f"unconditional sample k paired with FID reference k as the no-conditioning baseline.", "",
            "| N | phi_N MSE, diversity set | agreement, diversity set | phi_N MSE, FID set | "
            "agreement, FID set | phi_N MSE, unconditional | agreement, unconditional |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in cfg["factors"]:
        cells = []
        for part in ("diversity_set", "fid_set", "unconditional"):
            f = m["faithfulness"][part][str(n)]
            cells += [fmt(f["phi_mse"], 4), fmt(f["class_agreement"], 3)]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    out.append("")

    out += [f"### Quality (Frechet distance of classifier features to the 10,000 test images, "
            f"{cfg['fid_samples']} samples per row)", "", "| sampling | Frechet distance |", "| --- | --- |",
            f"| unconditional | {m['fid']['unconditional']:.2f} |"]
    out += [f"| ILVR N={n} | {m['fid'][str(n)]:.2f} |" for n in cfg["factors"]]
    out += [f"| real: {cfg['fid_samples']} training images (baseline) | {m['fid']['real_train']:.2f} |", ""]

    out += [f"### Conditioning range (N = {cfg['range_factor']}, {div_set}; mean pairwise distance, 95 % CI)", "",
            "| range | pixels (RMS) | classifier features |", "| --- | --- | --- |"]
    for r in cfg["ranges"]:
        d = m["range_diversity"][r]
        out.append(f"| {r} | {fmt(d['pixel'])} | {fmt(d['feature'])} |")
    return "\n".join(out) + "\n"


def checks(res):
    """The directions the paper leads us to expect, as (description, passed) pairs."""
    m, cfg = res["metrics"], res["config"]
    out = []
    for space in ("pixel", "feature"):
        v = [m["diversity"][str(n)][space]["mean"] for n in cfg["factors"]]
        out.append((f"diversity ({space}) strictly increasing in N", all(b > a for a, b in zip(v, v[1:]))))
    for space in ("pixel", "feature"):
        v = [m["range_diversity"][r][space]["mean"] for r in cfg["ranges"]]
        out.append((f"range diversity ({space}) strictly increasing as the range narrows",
                    all(b > a for a, b in zip(v, v[1:]))))
    for n in [n for n in cfg["factors"] if n <= 4]:
        out.append((f"FID of ILVR N={n} <= unconditional FID", m["fid"][str(n)] <= m["fid"]["unconditional"]))
    return [{"check": c, "pass": bool(p)} for c, p in out]


def rel(path):
    """A path relative to the repository root where it is inside it (for portable records)."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def machine():
    """Cores available, CPU model, load when started (the machine is shared) and library versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "load_average_at_start": os.getloadavg(),
            "torch": torch.__version__, "numpy": np.__version__}


def git_state():
    """Commit and modified tracked files, with read-only git commands (no index refresh);
    None and [] where there is no git or no repository (a source archive)."""
    def git(*a):
        try:
            r = subprocess.run(["git", "--no-optional-locks", "-C", ROOT, *a], capture_output=True, text=True)
        except OSError:  # no git program
            return None
        return r.stdout.rstrip("\n") if r.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"),
            "modified": [line[3:] for line in status.splitlines()] if status else []}


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="issue", help="sizes (default: issue)")
    p.add_argument("--steps", type=int, help="respaced steps (--respacing)")
    p.add_argument("--factors", help="comma list of factors N")
    p.add_argument("--div-refs", type=int, help="references of the diversity and range sets")
    p.add_argument("--div-samples", type=int, help="samples per reference and N in those sets")
    p.add_argument("--fid-samples", type=int, help="samples per configuration for the Frechet distance")
    p.add_argument("--grid-samples", type=int, help="samples per row in the figure grids")
    p.add_argument("--seed", type=int, default=0, help="the tool's noise seed and the bootstrap seed")
    p.add_argument("--threads", type=int, default=1, help="threads per tool process")
    p.add_argument("--jobs", type=int, default=1, help="tool processes at a time (sharded by reference)")
    p.add_argument("--batch", type=int, default=16, help="the tool's --batch")
    p.add_argument("--tool", default=os.path.join(ROOT, "build/release/examples/ilvr_cli/ilvr"))
    p.add_argument("--model", default=os.path.join(ROOT, "models/fashion-mnist-ddpm/model.pt"))
    p.add_argument("--refresh-model", action="store_true",
                   help="take a new snapshot of --model (runs drawn with the old one are drawn again)")
    p.add_argument("--classifier", default=os.path.join(ROOT, "models/fashion-mnist-classifier/classifier.pt"))
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of the Fashion-MNIST IDX .gz files")
    p.add_argument("--out", help="output folder (default: out/eval, out/eval-solvers for --preset solvers)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 unless diversity increases with N in both spaces (the test suite's check)")
    p.add_argument("--rows", help="--preset solvers: draw only the rows whose label contains one of these "
                                  "comma-separated words and none of those given with a '-' (e.g. "
                                  "'SDE,-bf16'); the other rows' metrics are kept from "
                                  "docs/evaluation/solvers/results.json (same seed, sizes and model), or the "
                                  "rows are left out where it has none")
    p.add_argument("--publish", action="store_true",
                   help="also write docs/evaluation/{results.json,tables.md} and docs/images/eval_*.png "
                        "(preset issue), or docs/evaluation/PRESET/{results.json,tables.md} (others)")
    args = p.parse_args(argv)
    preset = PRESETS[args.preset]
    for name, value in preset.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if isinstance(args.factors, str):
        args.factors = [int(n) for n in args.factors.split(",")]
    if args.div_samples < 2:
        p.error("--div-samples must be at least 2 (diversity needs pairs)")
    if args.fid_samples < args.div_samples:
        p.error("--fid-samples must be at least --div-samples (the unconditional diversity uses them)")
    if args.out is None:
        args.out = os.path.join(ROOT, "out/eval-solvers" if args.preset == "solvers" else "out/eval")
    args.out = os.path.abspath(args.out)
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads * args.jobs)
    if args.preset == "solvers":
        return solvers_main(args)
    if not os.access(args.tool, os.X_OK):
        sys.exit(f"evaluate: no ilvr tool at {args.tool}; build it (cmake --build --preset release) "
                 f"or give --tool")
    started = time.time()
    timings = {}
    print(f"preset {args.preset}: {args.steps} steps, factors {args.factors}, diversity "
          f"{args.div_refs} x {args.div_samples}, FID {args.fid_samples}, ranges {args.ranges} at "
          f"N={args.range_factor}; out {rel(args.out)}")

    # References: exactly the images the model sees, so phi_N(reference) below is the tool's.
    t = time.time()
    test_u8, test_labels = load_split(args.data, "t10k")
    train_u8, _ = load_split(args.data, "train")
    refs_dir = os.path.join(args.out, "refs")
    sets = {"div": list(range(args.div_refs)), "fid": list(range(args.fid_samples)),
            "grid": grid_indices(test_labels, GRID_REFS)}
    stems = {name: export_refs(os.path.join(refs_dir, name), test_u8, idx) for name, idx in sets.items()}
    model = snapshot_model(args.model, args.out, args.refresh_model)
    print(f"model snapshot: {model['steps_done']} training steps (sha256 {model['sha256'][:12]}); "
          f"--refresh-model takes the current one")
    timings["prepare"] = {"seconds": round(time.time() - t, 1)}

    # Sampling: every job restartable, see Tool.run.
    tool = Tool(args, os.path.join(args.out, "model", "model.pt"), model["sha256"])
    runs = os.path.join(args.out, "runs")
    factor_list = ",".join(map(str, args.factors))
    div_dir = os.path.join(runs, "diversity")
    div_paths = {n: sample_paths(div_dir, stems["div"], n, args.div_samples) for n in args.factors}
    tool.run("diversity", div_dir, ["--factor", factor_list, "--samples", str(args.div_samples),
                                    os.path.join(refs_dir, "div")],
             flat(flat(div_paths.values())), refs=args.div_refs)

    # Ranges at one factor; the full range is the diversity run itself where that has the factor.
    range_paths = {}
    for r in args.ranges:
        if r == FULL_RANGE and args.range_factor in args.factors:
            range_paths[r] = div_paths[args.range_factor]
            continue
        d = os.path.join(runs, "range-" + r.replace(":", "-"))
        range_paths[r] = sample_paths(d, stems["div"], args.range_factor, args.div_samples)
        tool.run(f"range {r}", d, ["--factor", str(args.range_factor), "--range", r, "--samples",
                                   str(args.div_samples), os.path.join(refs_dir, "div")],
                 flat(range_paths[r]), refs=args.div_refs)

    uncond_dir = os.path.join(runs, "fid-unconditional")
    uncond_paths = sample_paths(uncond_dir, None, None, args.fid_samples)
    tool.run("FID unconditional", uncond_dir, ["--unconditional", "--samples", str(args.fid_samples)],
             uncond_paths)
    fid_dir = os.path.join(runs, "fid-ilvr")
    fid_paths = {n: sample_paths(fid_dir, stems["fid"], n, 1) for n in args.factors}
    tool.run("FID ILVR", fid_dir, ["--factor", factor_list, "--samples", "1", os.path.join(refs_dir, "fid")],
             flat(flat(fid_paths.values())), refs=args.fid_samples)

    # Figure grids: the tool's own grids of the grid references.
    figures = os.path.join(args.out, "figures")
    os.makedirs(figures, exist_ok=True)
    grid_dir = os.path.join(runs, "grid-factor")
    tool.run("grid factors", grid_dir, ["--factor", factor_list, "--samples", str(args.grid_samples),
                                        os.path.join(refs_dir, "grid")],
             flat(flat(sample_paths(grid_dir, stems["grid"], n, args.grid_samples) for n in args.factors)),
             grid=os.path.join(grid_dir, "grid.png"))
    upscale(os.path.join(grid_dir, "grid.png")).save(os.path.join(figures, "eval_factor_grid.png"))
    blocks = []
    for r in args.ranges:
        d = os.path.join(runs, "grid-range-" + r.replace(":", "-"))
        tool.run(f"grid range {r}", d, ["--factor", str(args.range_factor), "--range", r, "--samples",
                                        str(args.grid_samples), os.path.join(refs_dir, "grid")],
                 flat(sample_paths(d, stems["grid"], args.range_factor, args.grid_samples)),
                 grid=os.path.join(d, "grid.png"))
        blocks.append(upscale(os.path.join(d, "grid.png")))
    stack_with_labels(blocks, [f"N={args.range_factor}, range {r} (conditioned: {r.split(':')[1]} <= t < "
                               f"{r.split(':')[0]})" for r in args.ranges]
                      ).save(os.path.join(figures, "eval_range_grid.png"))
    timings.update(tool.timings)

    # Metrics.
    t = time.time()
    clf = Classifier(args.classifier)
    seed = args.seed
    metrics = {"diversity": {}, "faithfulness": {"diversity_set": {}, "fid_set": {}, "unconditional": {}},
               "fid": {}, "range_diversity": {}}
    div_refs_u8 = test_u8[sets["div"]]
    fid_refs_u8 = test_u8[sets["fid"]]
    div_ref_cls, _ = clf(div_refs_u8)
    fid_ref_cls, _ = clf(fid_refs_u8)
    _, test_feats = clf(test_u8)
    _, train_feats = clf(train_u8[:args.fid_samples])
    metrics["fid"]["real_train"] = frechet_distance(train_feats, test_feats)

    u8 = load_pngs(uncond_paths)
    cls, feats = clf(u8)
    metrics["fid"]["unconditional"] = frechet_distance(feats, test_feats)
    # Unconditional diversity, the limit of large N: the first samples in up to R groups of K.
    groups = min(args.div_refs, args.fid_samples // args.div_samples)
    g = groups * args.div_samples
    metrics["diversity"]["unconditional"] = diversity(
        u8[:g].reshape(groups, args.div_samples, 32, 32), feats[:g].reshape(groups, args.div_samples, -1), seed)
    for n in args.factors:
        # Baseline for faithfulness: unconditional sample k against FID reference k.
        metrics["faithfulness"]["unconditional"][str(n)] = faithfulness(
            u8[:, None], fid_refs_u8, cls[:, None], fid_ref_cls, n, seed)

        s = load_pngs(flat(div_paths[n])).reshape(args.div_refs, args.div_samples, 32, 32)
        s_cls, s_feats = clf(s)
        metrics["diversity"][str(n)] = diversity(s, s_feats, seed)
        metrics["faithfulness"]["diversity_set"][str(n)] = faithfulness(s, div_refs_u8, s_cls, div_ref_cls, n, seed)

        s = load_pngs(flat(fid_paths[n])).reshape(args.fid_samples, 1, 32, 32)
        s_cls, s_feats = clf(s)
        metrics["fid"][str(n)] = frechet_distance(s_feats.reshape(args.fid_samples, -1), test_feats)
        metrics["faithfulness"]["fid_set"][str(n)] = faithfulness(s, fid_refs_u8, s_cls, fid_ref_cls, n, seed)
    for r in args.ranges:
        s = load_pngs(flat(range_paths[r])).reshape(args.div_refs, args.div_samples, 32, 32)
        metrics["range_diversity"][r] = diversity(s, clf(s)[1], seed)
    timings["metrics"] = {"seconds": round(time.time() - t, 1)}
    timings["total"] = {"seconds": round(time.time() - started, 1)}

    res = {
        "issue": 8,
        "config": {"preset": args.preset, "steps": args.steps, "factors": args.factors,
                   "div_refs": args.div_refs, "div_samples": args.div_samples, "fid_samples": args.fid_samples,
                   "ranges": args.ranges, "range_factor": args.range_factor, "grid_samples": args.grid_samples,
                   "grid_references": [f"t10k-{i:05d} ({CLASSES[test_labels[i]]})" for i in sets["grid"]],
                   "seed": seed, "threads": args.threads, "jobs": args.jobs, "batch": args.batch,
                   "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
        "definitions": {
            "references": "Fashion-MNIST test images 0..R-1, 28x28 padded by 2 px of black, x = u8/127.5 - 1",
            "diversity": "per reference the mean distance over all K(K-1)/2 pairs of its samples, averaged "
                         "over references; pixel: RMS difference over the 1024 pixels in [-1, 1] units; "
                         "feature: Euclidean distance of the classifier's 128-d penultimate features",
            "faithfulness": "phi_mse: per-pixel mean squared difference of phi_N(sample) and phi_N(reference) "
                            "(cubic antialiased, docs/spec.md section 5), [-1, 1] units; class_agreement: argmax class of "
                            "sample == argmax class of reference, by the classifier",
            "fid": "Frechet distance of classifier features (float64) to all 10,000 test images; real_train: "
                   "the first fid_samples training images",
            "ci95": "2.5 and 97.5 percentiles of the mean over 2,000 bootstrap resamples of the references",
        },
        "tool": {"path": rel(args.tool), "sha256": sha256(args.tool), **git_state()},
        "model": model,
        "classifier": rel(args.classifier),
        "machine": machine(),
        "timings": timings,
        "metrics": metrics,
    }
    res["checks"] = checks(res)
    write_json(os.path.join(args.out, "results.json"), res)
    plot_evaluation.plot(res, os.path.join(figures, "eval_diversity.png"))

    print()
    print(tables(res))
    for c in res["checks"]:
        print(f"{'PASS' if c['pass'] else 'FAIL'}: {c['check']}")
    print(f"\ntotal {timings['total']['seconds']:.0f} s; wrote {rel(os.path.join(args.out, 'results.json'))} "
          f"and {rel(figures)}/eval_*.png")

    if args.publish:
        publish(res, figures, args.preset)
    if args.check and not all(c["pass"] for c in res["checks"] if "increasing in N" in c["check"]):
        print("evaluate: --check: diversity does not increase with N", file=sys.stderr)
        return 1
    return 0


def publish(res, figures, preset):
    """Copies the results into docs/: the issue preset's to docs/evaluation/ with the figures
    (the published evaluation), another preset's numbers to docs/evaluation/<preset>/."""
    docs = os.path.join(ROOT, "docs", "evaluation")
    dest = docs if preset == "issue" else os.path.join(docs, preset)
    os.makedirs(dest, exist_ok=True)
    write_json(os.path.join(dest, "results.json"), res)
    with open(os.path.join(dest, "tables.md"), "w") as f:
        f.write(f"# Evaluation tables (issue 8), preset `{preset}`\n\nGenerated by `scripts/eval/evaluate.py "
                f"--preset {preset} --publish` (seed {res['config']['seed']}, model after "
                f"{res['model']['steps_done']} training steps); the numbers are in "
                f"[results.json](results.json).\n\n" + tables(res))
    written = [rel(os.path.join(dest, "results.json")), rel(os.path.join(dest, "tables.md"))]
    if preset == "issue":
        for name in ("eval_factor_grid.png", "eval_range_grid.png", "eval_diversity.png"):
            shutil.copyfile(os.path.join(figures, name), os.path.join(ROOT, "docs", "images", name))
        written.append("docs/images/eval_*.png")
    print("published " + ", ".join(written))


# ----------------------------------------------------------------------------
# The solvers preset (issue 17): quality per network call
# ----------------------------------------------------------------------------

def frechet_summary(feats, test_feats, seed):
    """Frechet distance of the sample features to the test set's, with a 95 % bootstrap interval over
    the samples (FID_BOOTSTRAP resamples with replacement; duplicates shrink the sample covariance,
    so resampled distances sit above the plain one: the interval is wide on the high side). The test
    set's mean, covariance and its square root are computed once (sample_quality.frechet_distance's
    formula, with the roles of the two sets swapped, which the trace leaves unchanged)."""
    mu_t, s_t = test_feats.mean(0), np.cov(test_feats, rowvar=False)
    w, v = np.linalg.eigh(s_t)
    root_t = (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    def distance(f):
        mu, s = f.mean(0), np.cov(f, rowvar=False)
        m = root_t @ s @ root_t
        cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
        return float(((mu - mu_t) ** 2).sum() + np.trace(s) + np.trace(s_t) - 2.0 * cross)

    rng = np.random.default_rng(seed)
    boot = [distance(feats[rng.integers(0, len(feats), len(feats))]) for _ in range(FID_BOOTSTRAP)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"mean": distance(feats), "ci95": [float(lo), float(hi)], "refs": len(feats)}


def solver_tables(res):
    """The solvers preset's table: per row the network calls and every metric with its interval."""
    cfg, rows = res["config"], res["metrics"]["solvers"]
    out = [f"### ILVR at N = {cfg['factor']} by sampler and network calls (95 % bootstrap intervals)", "",
           f"Faithfulness and Frechet distance: {cfg['fid_refs']} references x 1 sample; diversity: "
           f"{cfg['div_refs']} references x {cfg['div_samples']} samples.", "",
           "| sampler | network calls | phi_N MSE | class agreement | diversity (pixels) | diversity (features) "
           "| Frechet distance |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["metrics"]
        out.append(f"| {r['label']} | {r['calls']} | {fmt(m['phi_mse'], 5)} | {fmt(m['class_agreement'], 3)} | "
                   f"{fmt(m['diversity']['pixel'], 3)} | {fmt(m['diversity']['feature'], 2)} | "
                   f"{fmt(m['fid'], 1)} |")
    out += ["", f"Real: {cfg['fid_refs']} training images give a Frechet distance of "
                f"{res['metrics']['fid_real_train']:.1f} (the floor at this sample count)."]
    return "\n".join(out) + "\n"


def solver_checks(res):
    """The issue's goal: 20 network calls within DDPM-100's intervals on faithfulness and Frechet distance,
    or better (below them: both are distances, lower is better)."""
    rows = res["metrics"]["solvers"]
    base = next(r for r in rows if r["sampler"] == "ddpm")["metrics"]
    out = []
    for r in rows:
        if r["calls"] != 20:
            continue
        for key, name in (("phi_mse", "phi_N MSE"), ("fid", "Frechet distance")):
            lo, hi = base[key]["ci95"]
            v = r["metrics"][key]["mean"]
            out.append({"check": f"{r['label']}: {name} {v:.5g} within DDPM-100's interval [{lo:.5g}, {hi:.5g}] "
                                 f"or below", "pass": bool(v <= hi)})
    return out


def kept_solver_rows(args, model_sha256):
    """--rows: the published rows not drawn this time, by label (empty without --rows). Refuses where
    the published run used another seed, other sizes or another model."""
    if not args.rows:
        return {}
    path = os.path.join(ROOT, "docs", "evaluation", "solvers", "results.json")
    with open(path) as f:
        old = json.load(f)
    cfg = old["config"]
    same = (cfg["seed"], cfg["fid_refs"], cfg["div_refs"], cfg["div_samples"], old["model"]["sha256"]) == \
        (args.seed, args.fid_samples, args.div_refs, args.div_samples, model_sha256)
    if not same:
        sys.exit(f"evaluate: --rows: {rel(path)} was made with another seed, sizes or model; draw every row")
    words = [w for w in args.rows.split(",") if w and not w.startswith("-")]
    unwanted = [w[1:] for w in args.rows.split(",") if w.startswith("-") and len(w) > 1]
    published = {r["label"]: r for r in old["metrics"]["solvers"]}
    kept = {}
    for label, *_ in SOLVER_CONFIGS:
        if not any(w in label for w in words) or any(w in label for w in unwanted):
            if label in published:
                kept[label] = dict(published[label], kept_from=rel(path))
            else:
                print(f"  {label}: not drawn (--rows) and not published: left out of the table")
                kept[label] = None
    return kept


def solvers_main(args):
    """Draws ILVR samples at N = SOLVER_FACTOR with every SOLVER_CONFIGS row (restartable), measures
    faithfulness, diversity and the Frechet distance, and writes results.json, the table and a picture."""
    started = time.time()
    n = SOLVER_FACTOR
    fid_refs, div_refs, div_k = args.fid_samples, args.div_refs, args.div_samples
    print(f"preset solvers: N={n}, {len(SOLVER_CONFIGS)} samplers, {fid_refs} x 1 + {div_refs} x {div_k} "
          f"samples each; out {rel(args.out)}")
    test_u8, test_labels = load_split(args.data, "t10k")
    train_u8, _ = load_split(args.data, "train")
    refs_dir = os.path.join(args.out, "refs")
    sets = {"div": list(range(div_refs)), "fid": list(range(fid_refs)),
            "grid": grid_indices(test_labels, SOLVER_GRID_REFS)}
    stems = {name: export_refs(os.path.join(refs_dir, name), test_u8, idx) for name, idx in sets.items()}
    model = snapshot_model(args.model, args.out, args.refresh_model)
    model_path = os.path.join(args.out, "model", "model.pt")
    runs = os.path.join(args.out, "runs")
    kept = kept_solver_rows(args, model["sha256"])
    timings, drawn = {}, []
    for label, sampler, steps, calls, *more in SOLVER_CONFIGS:
        if label in kept and kept[label] is None:
            continue  # --rows: neither drawn nor published
        a = argparse.Namespace(**vars(args))
        a.steps = steps
        tool = Tool(a, model_path, model["sha256"])
        extra = more[0] if more else []
        tag = f"{sampler}-{steps}" + "".join("-" + o.lstrip("-") for o in extra)
        job = ["--sampler", sampler, "--factor", str(n)] + extra
        fid_dir, div_dir, grid_dir = (os.path.join(runs, f"{part}-{tag}") for part in ("fid", "div", "grid"))
        fid_paths = sample_paths(fid_dir, stems["fid"], n, 1)
        div_paths = sample_paths(div_dir, stems["div"], n, div_k)
        if label not in kept:
            tool.run(f"{label}: Frechet set", fid_dir, job + ["--samples", "1", os.path.join(refs_dir, "fid")],
                     flat(fid_paths))
            tool.run(f"{label}: diversity set", div_dir, job + ["--samples", str(div_k),
                                                                 os.path.join(refs_dir, "div")],
                     flat(div_paths))
        tool.run(f"{label}: grid", grid_dir, job + ["--samples", str(SOLVER_GRID_SAMPLES),
                                                    os.path.join(refs_dir, "grid")],
                 flat(sample_paths(grid_dir, stems["grid"], n, SOLVER_GRID_SAMPLES)),
                 grid=os.path.join(grid_dir, "grid.png"))
        timings.update(tool.timings)
        drawn.append((label, sampler, steps, calls, fid_paths, div_paths, grid_dir))

    t = time.time()
    clf = Classifier(args.classifier)
    seed = args.seed
    _, test_feats = clf(test_u8)
    _, train_feats = clf(train_u8[:fid_refs])
    fid_refs_u8, div_refs_u8 = test_u8[sets["fid"]], test_u8[sets["div"]]
    fid_ref_cls, _ = clf(fid_refs_u8)
    rows = []
    for label, sampler, steps, calls, fid_paths, div_paths, _ in drawn:
        if label in kept:
            rows.append(kept[label])
            continue
        s = load_pngs(flat(fid_paths)).reshape(fid_refs, 1, 32, 32)
        s_cls, s_feats = clf(s)
        f = faithfulness(s, fid_refs_u8, s_cls, fid_ref_cls, n, seed)
        d = load_pngs(flat(div_paths)).reshape(div_refs, div_k, 32, 32)
        rows.append({"label": label, "sampler": sampler, "steps": steps, "calls": calls,
                     "metrics": {"phi_mse": f["phi_mse"], "class_agreement": f["class_agreement"],
                                 "diversity": diversity(d, clf(d)[1], seed),
                                 "fid": frechet_summary(s_feats.reshape(fid_refs, -1), test_feats, seed)}})
    timings["metrics"] = {"seconds": round(time.time() - t, 1)}
    timings["total"] = {"seconds": round(time.time() - started, 1)}

    # The picture: per sampler its grid (2 references: reference, phi_N, 4 samples), labelled.
    figures = os.path.join(args.out, "figures")
    os.makedirs(figures, exist_ok=True)
    stack_with_labels([upscale(os.path.join(g, "grid.png")) for *_, g in drawn],
                      [f"{label} ({calls} network calls)" for label, _, _, calls, *_ in drawn]
                      ).save(os.path.join(figures, "eval_solvers.png"))

    res = {
        "issue": 17,
        "config": {"preset": "solvers", "factor": n, "fid_refs": fid_refs, "div_refs": div_refs,
                   "div_samples": div_k, "samplers": [list(c) for c in SOLVER_CONFIGS], "seed": seed,
                   "threads": args.threads, "jobs": args.jobs, "batch": args.batch,
                   "bootstrap_resamples": BOOTSTRAP_RESAMPLES, "fid_bootstrap_resamples": FID_BOOTSTRAP},
        "definitions": {
            "calls": "network evaluations per sample: K for ddpm, ddim, dpm++2m and dpm++2m-sde, 2K - 2 for heun",
            "phi_mse": "per-pixel mean squared difference of phi_N(sample) and phi_N(reference), [-1, 1] units",
            "fid": "Frechet distance of classifier features to the 10,000 test images; interval: bootstrap "
                   "over the samples",
            "ci95": "2.5 and 97.5 percentiles of the bootstrap means (references resampled)",
        },
        "tool": {"path": rel(args.tool), "sha256": sha256(args.tool), **git_state()},
        "model": model, "classifier": rel(args.classifier), "machine": machine(), "timings": timings,
        "metrics": {"solvers": rows, "fid_real_train": frechet_distance(train_feats, test_feats)},
    }
    res["checks"] = solver_checks(res)
    write_json(os.path.join(args.out, "results.json"), res)
    print()
    print(solver_tables(res))
    for c in res["checks"]:
        print(f"{'PASS' if c['pass'] else 'FAIL'}: {c['check']}")
    print(f"\ntotal {timings['total']['seconds']:.0f} s; wrote {rel(os.path.join(args.out, 'results.json'))} "
          f"and {rel(figures)}/eval_solvers.png")
    if args.publish:
        dest = os.path.join(ROOT, "docs", "evaluation", "solvers")
        os.makedirs(dest, exist_ok=True)
        write_json(os.path.join(dest, "results.json"), res)
        with open(os.path.join(dest, "tables.md"), "w") as f:
            f.write(f"# Evaluation tables (issue 17), preset `solvers`\n\nGenerated by `scripts/eval/evaluate.py "
                    f"--preset solvers --publish` (seed {seed}, model after {model['steps_done']} training "
                    f"steps); the numbers are in [results.json](results.json).\n\n" + solver_tables(res))
        shutil.copyfile(os.path.join(figures, "eval_solvers.png"),
                        os.path.join(ROOT, "docs", "images", "eval_solvers.png"))
        print(f"published {rel(dest)}/{{results.json,tables.md}}, docs/images/eval_solvers.png")
    return 0


def on_sigterm(signum, frame):
    """SIGTERM as Ctrl-C: unwinding stops the tool processes still running (Tool._run_all)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("evaluate: interrupted; run the same command again to continue")
