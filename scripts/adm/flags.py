"""ADM configurations: the official command-line flags or create_model's keyword arguments.

Two ways in, as guided-diffusion has them:
* `parse_flags("--image_size 256 --learn_sigma True ...")`: the flag string of the
  official scripts, verbatim; absent flags take the scripts' defaults
  (`model_and_diffusion_defaults`), booleans read as the scripts read them
  (yes/true/t/y/1, no/false/f/n/0). Sampling flags (`--timestep_respacing`, the
  ILVR script's `--down_N`, `--range_t`, ...) are accepted and recorded.
* `from_config({...})`: create_model's keyword arguments; absent ones take
  create_model's own defaults (which differ from the scripts': num_heads 1,
  attention_resolutions "16", use_scale_shift_norm False).

Both return a `Config`: the resolved network arguments, the diffusion facts the
sampler needs, and what was given.
"""

import argparse
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .unet import DEFAULT_CHANNEL_MULT, NUM_CLASSES, ADMUNet

# create_model's keyword arguments and defaults (image_size, num_channels and
# num_res_blocks have none).
CREATE_MODEL_DEFAULTS: Dict[str, Any] = {
    "channel_mult": "", "learn_sigma": False, "class_cond": False, "use_checkpoint": False,
    "attention_resolutions": "16", "num_heads": 1, "num_head_channels": -1, "num_heads_upsample": -1,
    "use_scale_shift_norm": False, "dropout": 0.0, "resblock_updown": False, "use_fp16": False,
    "use_new_attention_order": False,
}
CREATE_MODEL_REQUIRED = ("image_size", "num_channels", "num_res_blocks")

# The official scripts' defaults for the network and the diffusion.
SCRIPT_DEFAULTS: Dict[str, Any] = {
    "image_size": 64, "num_channels": 128, "num_res_blocks": 2, "num_heads": 4, "num_heads_upsample": -1,
    "num_head_channels": -1, "attention_resolutions": "16,8", "channel_mult": "", "dropout": 0.0,
    "class_cond": False, "use_checkpoint": False, "use_scale_shift_norm": True, "resblock_updown": False,
    "use_fp16": False, "use_new_attention_order": False,
    "learn_sigma": False, "diffusion_steps": 1000, "noise_schedule": "linear", "timestep_respacing": "",
    "use_kl": False, "predict_xstart": False, "rescale_timesteps": False, "rescale_learned_sigmas": False,
}
DIFFUSION_KEYS = ("diffusion_steps", "noise_schedule", "timestep_respacing", "use_kl", "predict_xstart",
                  "rescale_timesteps", "rescale_learned_sigmas")

# Flags of the official sampling scripts (guided-diffusion's image_sample.py and
# classifier_sample.py, ILVR's ilvr_sample.py): accepted and recorded, they do not
# change the network.
SAMPLING_FLAGS: Dict[str, Any] = {
    "clip_denoised": True, "num_samples": 10000, "batch_size": 16, "use_ddim": False, "model_path": "",
    "down_N": 32, "range_t": 0, "base_samples": "", "save_dir": "", "save_latents": False,
    "classifier_path": "", "classifier_scale": 1.0, "classifier_use_fp16": False, "classifier_width": 128,
    "classifier_depth": 2, "classifier_attention_resolutions": "32,16,8", "classifier_use_scale_shift_norm": True,
    "classifier_resblock_updown": True, "classifier_pool": "attention",
}

NOISE_SCHEDULES = ("linear", "cosine")


def read_bool(value: Any) -> bool:
    """A boolean as the official scripts read one."""
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("yes", "true", "t", "y", "1"):
        return True
    if text in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"boolean value expected, got '{value}'")


@dataclass
class Config:
    """A resolved ADM configuration."""

    model: Dict[str, Any]                 # create_model's keyword arguments, all present
    diffusion: Dict[str, Any]             # diffusion_steps, noise_schedule, timestep_respacing, ...
    sampling: Dict[str, Any] = field(default_factory=dict)  # sampling flags given (recorded only)
    source: Dict[str, Any] = field(default_factory=dict)    # {"flags": str} or {"config": dict}

    def channel_mult(self) -> Tuple[float, ...]:
        """The resolved channel multipliers (the image size's default when none is given)."""
        text = str(self.model["channel_mult"]).strip()
        if text == "":
            size = self.model["image_size"]
            if size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(f"image_size {size} has no default channel_mult "
                                 f"(64, 128, 256, 512 have one): give channel_mult")
            return DEFAULT_CHANNEL_MULT[size]
        try:
            return tuple(int(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"channel_mult '{text}': expected integers separated by commas") from None

    def attention_ds(self) -> Tuple[int, ...]:
        """Attention resolutions as downsampling rates (image_size // resolution)."""
        text = str(self.model["attention_resolutions"]).strip()
        try:
            return tuple(self.model["image_size"] // int(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"attention_resolutions '{text}': expected integers separated by commas") from None

    def timestep_scale(self) -> float:
        """What the network's timestep input is multiplied by: 1000/T with rescale_timesteps, else 1."""
        return 1000.0 / self.diffusion["diffusion_steps"] if self.diffusion["rescale_timesteps"] else 1.0

    def build(self, class_label: Optional[int] = None) -> ADMUNet:
        """The network, in eval mode, with fresh parameters."""
        m = self.model
        if m["class_cond"] and class_label is None:
            raise ValueError(f"class_cond True: the network needs a class label; choose one with "
                             f"--class-label K (0 <= K < {NUM_CLASSES})")
        if not m["class_cond"] and class_label is not None:
            raise ValueError("--class-label: the network is not class-conditional (class_cond False)")
        net = ADMUNet(
            image_size=m["image_size"], model_channels=m["num_channels"], num_res_blocks=m["num_res_blocks"],
            channel_mult=self.channel_mult(), attention_ds=self.attention_ds(), learn_sigma=m["learn_sigma"],
            num_classes=NUM_CLASSES if m["class_cond"] else None,
            class_label=-1 if class_label is None else class_label, num_heads=m["num_heads"],
            num_head_channels=m["num_head_channels"], num_heads_upsample=m["num_heads_upsample"],
            use_scale_shift_norm=m["use_scale_shift_norm"], resblock_updown=m["resblock_updown"],
            use_new_attention_order=m["use_new_attention_order"], dropout=m["dropout"],
            timestep_scale=self.timestep_scale())
        return net.eval()


def _check(model: Dict[str, Any], diffusion: Dict[str, Any]) -> None:
    for key in ("image_size", "num_channels", "num_res_blocks", "num_heads"):
        if int(model[key]) < 1:
            raise ValueError(f"{key} {model[key]}: must be at least 1")
    if diffusion["noise_schedule"] not in NOISE_SCHEDULES:
        raise ValueError(f"noise_schedule '{diffusion['noise_schedule']}': expected linear or cosine")
    if int(diffusion["diffusion_steps"]) < 2:
        raise ValueError(f"diffusion_steps {diffusion['diffusion_steps']}: must be at least 2")
    if diffusion["predict_xstart"]:
        raise ValueError("predict_xstart True: the network predicts x0, the ilvr tool needs an eps network")


def parse_flags(text: str) -> Config:
    """The official scripts' flag string -> Config (argparse, as those scripts parse it)."""
    parser = argparse.ArgumentParser(prog="--flags", add_help=False, exit_on_error=False)
    for key, default in {**SCRIPT_DEFAULTS, **SAMPLING_FLAGS}.items():
        kind = read_bool if isinstance(default, bool) else type(default)
        parser.add_argument(f"--{key}", default=default, type=kind)
    words = shlex.split(text)
    try:
        args, unknown = parser.parse_known_args(words)
    except (argparse.ArgumentError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"--flags: {e}") from None
    if unknown:
        raise ValueError(f"--flags: '{unknown[0]}' is not a flag of the official scripts")
    values = vars(args)
    model = {k: values[k] for k in CREATE_MODEL_DEFAULTS.keys() | set(CREATE_MODEL_REQUIRED)}
    diffusion = {k: values[k] for k in DIFFUSION_KEYS}
    given = {w[2:].split("=")[0] for w in words if w.startswith("--")}
    sampling = {k: values[k] for k in SAMPLING_FLAGS if k in given}
    _check(model, diffusion)
    return Config(model, diffusion, sampling, {"flags": text})


def from_config(config: Dict[str, Any]) -> Config:
    """create_model's keyword arguments (plus optional diffusion keys) -> Config."""
    if not isinstance(config, dict):
        raise ValueError("--config: expected a JSON object of create_model keyword arguments")
    known = set(CREATE_MODEL_DEFAULTS) | set(CREATE_MODEL_REQUIRED) | set(DIFFUSION_KEYS) | set(SAMPLING_FLAGS)
    for key in config:
        if key not in known:
            raise ValueError(f"--config: '{key}' is not an argument of create_model or the diffusion")
    for key in CREATE_MODEL_REQUIRED:
        if key not in config:
            raise ValueError(f"--config: '{key}' is required (create_model has no default for it)")
    model: Dict[str, Any] = {}
    for key in list(CREATE_MODEL_REQUIRED) + list(CREATE_MODEL_DEFAULTS):
        default = CREATE_MODEL_DEFAULTS.get(key)
        value = config.get(key, default)
        if isinstance(default, bool):
            value = read_bool(value)
        elif key in ("channel_mult", "attention_resolutions"):
            value = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
        elif key == "dropout":
            value = float(value)
        else:
            value = int(value)
        model[key] = value
    diffusion = {k: SCRIPT_DEFAULTS[k] for k in DIFFUSION_KEYS}
    for key in DIFFUSION_KEYS:
        if key in config:
            default = SCRIPT_DEFAULTS[key]
            diffusion[key] = read_bool(config[key]) if isinstance(default, bool) else type(default)(config[key])
    sampling = {k: config[k] for k in SAMPLING_FLAGS if k in config}
    _check(model, diffusion)
    return Config(model, diffusion, sampling, {"config": config})


def load_config_file(path: str) -> Config:
    """A JSON file holding create_model's keyword arguments -> Config."""
    with open(path) as f:
        try:
            return from_config(json.load(f))
        except json.JSONDecodeError as e:
            raise ValueError(f"--config '{path}': not JSON ({e})") from None
