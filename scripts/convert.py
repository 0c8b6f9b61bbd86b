#!/usr/bin/python3
"""Convert networks into TorchScript files the `ilvr` tool runs with no model flags.

    convert.py adm --checkpoint CKPT (--config JSON | --flags "FLAGS") --out OUT.pt
        A guided-diffusion (ADM) checkpoint, e.g. ILVR's ffhq_10m.pt or
        guided-diffusion's 256x256_diffusion_uncond.pt, with the flags it was
        trained with (the official command-line string, verbatim) or
        create_model's keyword arguments (a JSON object, inline or a file).
        The file holds forward(x float32[B,3,S,S], t int64[B]) -> eps
        [B,3,S,S] or eps and v [B,6,S,S] (learn_sigma), t the original timestep,
        and its metadata (image size, channels, learn_sigma, diffusion steps,
        schedule, respacing, class label, source). --random-weights SEED instead
        of --checkpoint makes a network of the same architecture with random
        parameters (for measuring cost).

    convert.py metadata MODEL.pt --image-size S --channels C [--learn-sigma] ... --out OUT.pt
        Adds the metadata to a TorchScript file exported some other way
        (the parameters are kept as they are).

Details, and the paper's models: docs/paper-models.md. Use Debian's interpreter
(/usr/bin/python3), which has python3-torch.
"""

import argparse
import json
import os
import pickle
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adm import export, flags  # noqa: E402
from adm.unet import load_official_state  # noqa: E402


def printable(text: str) -> str:
    """`text` on one line, safe for a terminal: line breaks become spaces, other
    control characters (C0, DEL, C1) are escaped as \\xNN."""
    text = " ".join(str(text).splitlines()).strip()
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def fail(message: str) -> None:
    print(f"convert: error: {printable(message)}", file=sys.stderr)
    sys.exit(2)


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file: the same device and inode where both
    exist (a hard link or another path through a link counts), else the same real path."""
    try:
        sa, sb = os.stat(a), os.stat(b)
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_out(out: str, inputs: dict) -> None:
    """--out must be a file name whose place holds nothing or a regular file (or a
    link, which is replaced, not followed), under a folder, and none of the inputs."""
    if not os.path.basename(out) or os.path.isdir(out):
        fail(f"--out '{out}': is a folder, not a file name")
    if os.path.lexists(out) and not (os.path.isfile(out) or os.path.islink(out)):
        fail(f"--out '{out}': not a regular file; it is not replaced")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"--out '{out}': '{parent}' is not a folder")
    for name, path in inputs.items():
        if path is not None and same_file(out, path):
            fail(f"--out '{out}' is the {name} '{path}': the input would be overwritten; choose another --out")


def random_parameters(net: torch.nn.Module, seed: int) -> None:
    """Parameters with non-degenerate outputs (the official initialisation zeroes
    every output convolution): weights normal / sqrt(fan_in), norm scales 1 + 0.1
    normal, other vectors 0.1 normal."""
    g = torch.Generator().manual_seed(seed)
    norm_scales = {id(m.weight) for m in net.modules() if isinstance(m, torch.nn.GroupNorm)}
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / (p[0].numel() ** 0.5))
            elif id(p) in norm_scales:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def load_checkpoint(path: str) -> dict:
    """The checkpoint's state dict (a plain dict of tensors, as guided-diffusion saves them).
    Loaded with weights_only=True: the unpickler builds tensors and plain containers
    only, so a checkpoint whose pickle names any other callable (a command, a
    pickled module) is refused before anything of it runs."""
    if not os.path.isfile(path):
        fail(f"--checkpoint '{path}': no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        fail(f"--checkpoint '{path}': refused, it holds more than tensors (loading it could run code; "
             f"only plain state dicts are read): {str(e).splitlines()[0] if str(e) else 'unpickling error'}")
    except Exception as e:  # noqa: BLE001 - any unreadable file
        fail(f"--checkpoint '{path}': cannot read it as a PyTorch file ({(str(e) or type(e).__name__).splitlines()[0]})")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        fail(f"--checkpoint '{path}': not a state dict (an ordered dict of tensors)")
    return state


def check_export(net: torch.nn.Module, path: str, size: int) -> float:
    """Largest |saved - eager| over one random input at two timesteps."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, size, size, generator=g)
    t = torch.tensor([10, 900], dtype=torch.long)
    loaded = torch.jit.load(path, map_location="cpu")
    with torch.inference_mode():
        return (loaded(x, t) - net(x, t)).abs().max().item()


def convert_adm(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    check_out(args.out, {"checkpoint": args.checkpoint,
                         "config file": args.config if args.config and not args.config.strip().startswith("{") else None})
    try:
        if args.flags is not None:
            config = flags.parse_flags(args.flags)
        else:
            text = args.config.strip()
            config = (flags.from_config(json.loads(text)) if text.startswith("{")
                      else flags.load_config_file(args.config))
        net = config.build(args.class_label)
    except (ValueError, json.JSONDecodeError) as e:
        fail(str(e))
    source = dict(config.source)
    if args.checkpoint is not None:
        state = load_checkpoint(args.checkpoint)
        try:
            load_official_state(net, state)
        except ValueError as e:
            fail(f"--checkpoint '{args.checkpoint}' does not fit the flags: {e}")
        source["checkpoint"] = os.path.basename(args.checkpoint)
        if not args.no_hash:
            source["checkpoint_sha256"] = export.sha256(args.checkpoint)
    else:
        random_parameters(net, args.random_weights)
        source["random_weights_seed"] = args.random_weights
    net.eval()

    size = config.model["image_size"]
    if args.trace:
        example = (torch.zeros(1, 3, size, size), torch.zeros(1, dtype=torch.long))
        with torch.no_grad():
            module = torch.jit.trace(net, example, check_trace=False)
    else:
        module = torch.jit.script(net)
    meta = export.make_metadata(
        size, 3, config.model["learn_sigma"], config.diffusion["diffusion_steps"], config.diffusion["noise_schedule"],
        config.diffusion["timestep_respacing"], config.diffusion["rescale_timesteps"], args.class_label, source,
        architecture="adm", exported_by="torch.jit.trace" if args.trace else "torch.jit.script",
        weights_dtype="float32", use_fp16_in_source=config.model["use_fp16"],
        parameters=sum(p.numel() for p in net.parameters()), create_model=config.model,
        diffusion=config.diffusion, sampling=config.sampling)
    export.save(module, args.out, meta)
    line = f"convert: wrote {args.out} (ADM {size}x{size}, {meta['parameters']:,} parameters"
    line += ", eps and v" if config.model["learn_sigma"] else ", eps"
    if args.class_label is not None:
        line += f", class {args.class_label}"
    if not args.no_check:
        line += f"; saved vs eager max |diff| {check_export(net, args.out, size):.2e}"
    print(line + f") in {time.perf_counter() - start:.1f} s")


def add_metadata(args: argparse.Namespace) -> None:
    if not os.path.isfile(args.model):
        fail(f"model '{args.model}': no such file")
    if args.out:
        check_out(args.out, {})
    try:
        module = torch.jit.load(args.model, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any file that is not TorchScript
        fail(f"model '{args.model}': cannot load it as TorchScript ({(str(e) or type(e).__name__).splitlines()[0]})")
    if args.noise_schedule not in flags.NOISE_SCHEDULES:
        fail(f"--noise-schedule '{args.noise_schedule}': expected linear or cosine")
    meta = export.make_metadata(args.image_size, args.channels, args.learn_sigma, args.diffusion_steps,
                                args.noise_schedule, args.respacing, False, None,
                                {"description": args.source} if args.source else {})
    export.save(module, args.out or args.model, meta)
    print(f"convert: wrote {args.out or args.model} with {export.METADATA_FILE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    adm = sub.add_parser("adm", help="a guided-diffusion (ADM) checkpoint -> TorchScript with metadata")
    weights = adm.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="the official state dict (.pt)")
    weights.add_argument("--random-weights", type=int, metavar="SEED",
                         help="random parameters of the same architecture instead of a checkpoint")
    how = adm.add_mutually_exclusive_group(required=True)
    how.add_argument("--config", help="create_model keyword arguments: a JSON object or a JSON file")
    how.add_argument("--flags", help="the official command-line flag string, verbatim")
    adm.add_argument("--class-label", type=int, help="the class of a class-conditional network (class_cond True)")
    adm.add_argument("--out", required=True, help="the TorchScript file to write")
    adm.add_argument("--trace", action="store_true", help="torch.jit.trace instead of torch.jit.script")
    adm.add_argument("--no-check", action="store_true", help="skip comparing the saved file with the eager network")
    adm.add_argument("--no-hash", action="store_true", help="do not record the checkpoint's SHA-256")
    adm.set_defaults(run=convert_adm)

    meta = sub.add_parser("metadata", help="add the metadata to a TorchScript file")
    meta.add_argument("model", help="the TorchScript file")
    meta.add_argument("--image-size", type=int, required=True)
    meta.add_argument("--channels", type=int, required=True, choices=(1, 3))
    meta.add_argument("--learn-sigma", action="store_true", help="forward returns eps and v [B, 2C, S, S]")
    meta.add_argument("--diffusion-steps", type=int, default=1000)
    meta.add_argument("--noise-schedule", default="linear")
    meta.add_argument("--respacing", default="", help="the default respacing to record")
    meta.add_argument("--source", help="a line saying what the model is, recorded as source.description")
    meta.add_argument("--out", help="where to write (default: in place)")
    meta.set_defaults(run=add_metadata)

    def usage_error(message: str) -> None:  # argparse's errors, on one line like every other
        fail(f"{message} (see --help)")
    parser.error = usage_error
    for subparser in (adm, meta):
        subparser.error = usage_error
    args = parser.parse_args()
    try:
        args.run(args)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("convert: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - one line, never a traceback, whatever failed
        fail(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
