#!/usr/bin/python3
"""The ADM port and scripts/convert.py (ctest adm.python).

* Golden: every configuration folder of <golden>/adm/ is converted with the
  one command's command line (scripts/convert.py adm --checkpoint ... --config
  ..., run in this process to save a second start of torch), scripted, and
  again traced; the saved files reproduce the official network's out.npy
  within 1e-4 absolute (a port doing the same float32 operations in the same
  order agrees to about 1e-6). The scripted files are left in --out for the C++
  check (ctest adm.torch).
* Flags: the ILVR README's flag string parses as the official scripts parse it;
  sampling flags are recorded; unknown flags and x0-predicting networks are refused.
* Strict loading: a checkpoint that does not fit is refused naming the first
  mismatching key and both shapes; an extra key is refused.
* Every create_model option builds, loads its own state dict strictly, scripts
  and traces: default channel_mult of 64/128/256/512, explicit channel_mult,
  num_heads/num_head_channels/num_heads_upsample, new attention order,
  class_cond with a fixed label, dropout (inert in eval), use_fp16 (float32
  weights), rescale_timesteps (applied inside the network).

Exit code 77 (skipped) where the golden folder or Python's torch is absent.
Run: /usr/bin/python3 tests/adm/test_adm.py [--golden DIR] [--out DIR]
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
CONVERT = os.path.join(SOURCE, "scripts", "convert.py")
TOLERANCE = 1e-4
BF16_TOLERANCE = 0.05  # relative RMS of the output under bf16 autocast against the float32 golden

ILVR_README_FLAGS = ("--attention_resolutions 16 --class_cond False --diffusion_steps 1000 --dropout 0.0 "
                     "--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 128 "
                     "--num_head_channels 64 --num_res_blocks 1 --resblock_updown True --use_fp16 False "
                     "--use_scale_shift_norm True --timestep_respacing 100")

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIPPED: Python's torch or numpy is absent ({e}); install python3-torch")
    sys.exit(77)

sys.path.insert(0, os.path.join(SOURCE, "scripts"))
from adm import export, flags  # noqa: E402
from adm.unet import load_official_state  # noqa: E402
import convert  # noqa: E402

torch.set_num_threads(1)


def expect_error(fn, *fragments):
    """fn() must raise ValueError whose message holds every fragment."""
    try:
        fn()
    except ValueError as e:
        for fragment in fragments:
            assert fragment in str(e), f"error '{e}' lacks '{fragment}'"
        return str(e)
    raise AssertionError(f"no error (expected one mentioning {fragments})")


def run_convert(*args):
    """scripts/convert.py with `args`, in this process (saves importing torch again): (exit code, stderr)."""
    err = io.StringIO()
    saved = sys.argv
    sys.argv = [CONVERT, *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            convert.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = saved
    return code, err.getvalue()


def cpu_has_bf16():
    """Whether this CPU has native bfloat16 arithmetic (the library's ilvr::torch::cpu_has_bf16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def check_golden(golden, out):
    folders = sorted(d for d in os.listdir(golden) if os.path.isfile(os.path.join(golden, d, "config.json")))
    assert folders, f"no configuration folders in {golden}"
    for name in folders:
        d = os.path.join(golden, name)
        x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
        t = torch.from_numpy(np.load(os.path.join(d, "t.npy")))
        ref = torch.from_numpy(np.load(os.path.join(d, "out.npy")))
        for how in ("script", "trace"):
            target = os.path.join(out, f"{name}.pt" if how == "script" else f"{name}.traced.pt")
            extra = ["--trace"] if how == "trace" else []
            code, err = run_convert("adm", "--checkpoint", os.path.join(d, "model_state.pt"),
                                    "--config", os.path.join(d, "config.json"), "--out", target, "--no-hash", *extra)
            assert code == 0, f"convert {name} ({how}) failed: {err}"
            with torch.inference_mode():
                got = torch.jit.load(target)(x, t)
            assert got.shape == ref.shape, f"{name} ({how}): shape {list(got.shape)}, golden {list(ref.shape)}"
            err = (got - ref).abs().max().item()
            assert err <= TOLERANCE, f"{name} ({how}): max |diff| {err:.3g} > {TOLERANCE}"
            print(f"  {name} ({how}): max |diff| {err:.2e} (tolerance {TOLERANCE})")
            if cpu_has_bf16():  # the file runs under bf16 autocast (ilvr --precision bf16), float32 out
                with torch.inference_mode(), torch.cpu.amp.autocast(dtype=torch.bfloat16):
                    low = torch.jit.load(target)(x, t)
                assert low.dtype == torch.float32, f"{name} ({how}) under bf16 returns {low.dtype}"
                rel = ((low - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item()
                # bf16 keeps 8 bits of mantissa (2^-8 = 0.4 % a rounding); a few dozen layers
                # accumulate a few percent at most, while a wrong layer is off by O(1).
                assert rel <= BF16_TOLERANCE, f"{name} ({how}) under bf16: relative RMS {rel:.3g} > {BF16_TOLERANCE}"
                print(f"  {name} ({how}) under bf16 autocast: relative RMS {rel:.2e} (tolerance {BF16_TOLERANCE})")
        meta = export.read_metadata(os.path.join(out, f"{name}.pt"))
        config = json.load(open(os.path.join(d, "config.json")))
        assert meta["image_size"] == config["image_size"] and meta["channels"] == 3
        assert meta["learn_sigma"] == config.get("learn_sigma", False)
        assert meta["diffusion_steps"] == 1000 and meta["noise_schedule"] == "linear"
        assert meta["source"]["config"] == config and meta["source"]["checkpoint"] == "model_state.pt"


def check_flags():
    c = flags.parse_flags(ILVR_README_FLAGS)
    m = c.model
    assert (m["image_size"], m["num_channels"], m["num_res_blocks"], m["num_head_channels"]) == (256, 128, 1, 64)
    assert m["learn_sigma"] and m["resblock_updown"] and m["use_scale_shift_norm"] and not m["class_cond"]
    assert m["attention_resolutions"] == "16" and m["num_heads"] == 4  # the scripts' default num_heads
    assert c.channel_mult() == (1, 1, 2, 2, 4, 4) and c.attention_ds() == (16,)
    assert c.diffusion["timestep_respacing"] == "100" and c.diffusion["diffusion_steps"] == 1000
    # Sampling flags are accepted and recorded; both flag forms and the scripts' booleans work.
    c = flags.parse_flags(ILVR_README_FLAGS + " --down_N 32 --range_t=20 --use_ddim no --model_path models/ffhq_10m.pt")
    assert c.sampling == {"down_N": 32, "range_t": 20, "use_ddim": False, "model_path": "models/ffhq_10m.pt"}
    # Absent flags take the scripts' defaults, not create_model's.
    c = flags.parse_flags("--image_size 64")
    assert c.model["num_heads"] == 4 and c.model["attention_resolutions"] == "16,8"
    assert c.model["use_scale_shift_norm"] and c.model["num_channels"] == 128
    # --config takes create_model's defaults.
    c = flags.from_config({"image_size": 64, "num_channels": 32, "num_res_blocks": 1})
    assert c.model["num_heads"] == 1 and c.model["attention_resolutions"] == "16"
    assert not c.model["use_scale_shift_norm"]
    expect_error(lambda: flags.parse_flags("--image_size 64 --num_chanels 32"), "'--num_chanels'")
    expect_error(lambda: flags.parse_flags("--image_size 64 --learn_sigma maybe"), "boolean")
    expect_error(lambda: flags.parse_flags("--image_size 64 --predict_xstart True"), "predict_xstart")
    expect_error(lambda: flags.parse_flags("--image_size 64 --noise_schedule sqrt"), "noise_schedule")
    expect_error(lambda: flags.from_config({"image_size": 64, "num_channels": 32}), "'num_res_blocks' is required")
    expect_error(lambda: flags.from_config({"image_size": 64, "num_channels": 32, "num_res_blocks": 1, "x": 1}),
                 "'x'")
    expect_error(lambda: flags.from_config({"image_size": 48, "num_channels": 32, "num_res_blocks": 1}).build(),
                 "image_size 48", "channel_mult")
    print("  flags: ILVR README string, sampling flags, defaults, refusals")


def check_strict(golden):
    d = os.path.join(golden, "ffhq_flags_32")
    state = torch.load(os.path.join(d, "model_state.pt"))
    config = json.load(open(os.path.join(d, "config.json")))
    wide = flags.from_config({**config, "num_channels": 64, "num_head_channels": 32}).build()
    expect_error(lambda: load_official_state(wide, state), "'time_embed.0.weight'", "[128, 32]", "[256, 64]")
    never = os.path.join(tempfile.gettempdir(), "ilvr-adm-never-written.pt")
    code, err = run_convert("adm", "--checkpoint", os.path.join(d, "model_state.pt"), "--flags", ILVR_README_FLAGS,
                            "--out", never)
    assert code == 2 and "time_embed.0.weight" in err and "[512, 128]" in err and not os.path.exists(never), err
    net = flags.from_config(config).build()
    extra = dict(state, extra_weight=torch.zeros(3))
    expect_error(lambda: load_official_state(net, extra), "'extra_weight'", "[3]")
    missing = {k: v for k, v in state.items() if k != "out.2.bias"}
    expect_error(lambda: load_official_state(net, missing), "'out.2.bias'", "[6]")
    print("  strict loading: first mismatching key with both shapes, extra and missing keys")


def roundtrip(config, label=None, size=None, script=False):
    """Builds, randomises and reloads its own state dict strictly; with `size`, runs it
    (and with `script`, checks the scripted and traced networks agree bitwise); returns (net, x, t, out)."""
    net = config.build(label)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    state = net.state_dict()
    again = config.build(label)
    load_official_state(again, state)
    if size is None:
        return again, None, None, None
    x = torch.randn(2, 3, size, size, generator=g)
    t = torch.tensor([3, 700])
    with torch.inference_mode():
        out = again(x, t)
        if script:
            scripted = torch.jit.script(again)(x, t)
            traced = torch.jit.trace(again, (x, t), check_trace=False)(x, t)
            assert torch.equal(out, scripted) and torch.equal(out, traced)
    return again, x, t, out


def check_options():
    base = {"num_channels": 32, "num_res_blocks": 1, "attention_resolutions": "8"}
    # Default channel_mult per size (512 starts at half the channels); checked by their parameter shapes.
    for size, mult in ((64, (1, 2, 3, 4)), (128, (1, 1, 2, 3, 4)), (256, (1, 1, 2, 2, 4, 4))):
        net, *_ = roundtrip(flags.from_config({**base, "image_size": size}))
        last = net.state_dict()[f"input_blocks.{2 * len(mult) - 1}.0.in_layers.2.weight"]
        assert last.shape[0] == 32 * mult[-1], (size, last.shape)
    net, *_ = roundtrip(flags.from_config({**base, "num_channels": 64, "image_size": 512}))
    assert net.state_dict()["input_blocks.0.0.weight"].shape == (32, 3, 3, 3)
    # Explicit channel_mult at any size, heads, new attention order, up/down residual blocks.
    cfg = {"image_size": 24, "num_channels": 32, "num_res_blocks": 2, "channel_mult": "1,2",
           "attention_resolutions": "24,12", "num_heads": 2, "num_heads_upsample": 4,
           "use_new_attention_order": True, "resblock_updown": True, "use_scale_shift_norm": True}
    roundtrip(flags.from_config(cfg), size=24, script=True)
    roundtrip(flags.from_config({**cfg, "num_head_channels": 16, "use_new_attention_order": False}), size=24)
    # class_cond: the label is fixed at conversion and changes the output.
    cc = flags.from_config({**cfg, "class_cond": True})
    expect_error(lambda: cc.build(), "--class-label")
    expect_error(lambda: cc.build(1000), "class label 1000")
    _, x, t, out3 = roundtrip(cc, 3, size=24, script=True)
    _, _, _, out5 = roundtrip(cc, 5, size=24)
    assert not torch.equal(out3, out5)
    expect_error(lambda: flags.from_config(cfg).build(3), "not class-conditional")
    # dropout is inert in eval mode.
    _, _, _, plain = roundtrip(flags.from_config(cfg), size=24)
    _, _, _, dropped = roundtrip(flags.from_config({**cfg, "dropout": 0.3}), size=24)
    assert torch.equal(plain, dropped)
    # use_fp16: a half-precision state dict loads as float32.
    net = flags.from_config({**cfg, "use_fp16": True}).build()
    half = {k: v.half() for k, v in net.state_dict().items()}
    load_official_state(net, half)
    assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    # rescale_timesteps: the network takes original timesteps and scales them by 1000/T itself.
    scaled = flags.from_config({**cfg, "rescale_timesteps": True, "diffusion_steps": 4000}).build()
    scaled.load_state_dict(flags.from_config(cfg).build().state_dict())
    ref = flags.from_config(cfg).build()
    ref.load_state_dict(scaled.state_dict())
    with torch.inference_mode():
        assert torch.allclose(scaled(x, torch.tensor([400, 2000])), ref(x, torch.tensor([100.0, 500.0])), atol=1e-6)
    print("  options: default channel_mult 64/128/256/512, heads, attention order, updown, class label, "
          "dropout, fp16, rescale_timesteps")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--golden", default="", help="the golden folder ($ILVR_GOLDEN_DIR wins; default ../shared/golden)")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "ilvr-adm"), help="converted files")
    args = p.parse_args()
    golden = os.environ.get("ILVR_GOLDEN_DIR") or args.golden or os.path.join(SOURCE, "..", "shared", "golden")
    adm = os.path.join(golden, "adm")
    if not os.path.isdir(adm):
        print(f"SKIPPED: ADM golden data not found at '{adm}' (set ILVR_GOLDEN_DIR to the golden folder)")
        sys.exit(77)
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for name, fn in (("golden", lambda: check_golden(adm, args.out)), ("flags", check_flags),
                     ("strict", lambda: check_strict(adm)), ("options", check_options)):
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failing check
            failed += 1
            print(f"FAILED: {name}")
            traceback.print_exc()
    print("adm: all checks passed" if not failed else f"adm: {failed} check(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
