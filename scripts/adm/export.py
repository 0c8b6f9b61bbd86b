"""TorchScript files that describe themselves: the network plus `ilvr.json` in the archive.

The `ilvr` tool reads `ilvr.json` (torch.jit.save's extra files) so that
`ilvr --model OUT.pt` needs no model flags. Its keys (docs/paper-models.md):

    format            "ilvr-model-1"
    image_size        S: the network samples S x S images
    channels          C: image channels (3 for ADM)
    learn_sigma       true: forward returns eps and v [B, 2C, S, S]; false: eps [B, C, S, S]
    diffusion_steps   T of the training process
    noise_schedule    "linear" or "cosine"
    timestep_input    "original": forward takes original timesteps in [0, T) as int64
    rescale_timesteps whether training rescaled t to [0, 1000) (the network applies it itself)
    timestep_respacing the source's respacing ("" if none); the tool's default --respacing
    class_label       the fixed class of a class-conditional network, or null
    source            what the file was made from (flags or configuration, checkpoint, ...)

Other keys (architecture, create_model, weights_dtype, sampling) are recorded for people.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from typing import Any, Dict, Optional

import torch

METADATA_FILE = "ilvr.json"
FORMAT = "ilvr-model-1"


def sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 16 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 24), b""):
            digest.update(piece)
    return digest.hexdigest()


def make_metadata(image_size: int, channels: int, learn_sigma: bool, diffusion_steps: int = 1000,
                  noise_schedule: str = "linear", timestep_respacing: str = "", rescale_timesteps: bool = False,
                  class_label: Optional[int] = None, source: Optional[Dict[str, Any]] = None,
                  **extra: Any) -> Dict[str, Any]:
    """The metadata dictionary (the keys the tool reads first, then `extra`)."""
    meta = {
        "format": FORMAT, "image_size": int(image_size), "channels": int(channels), "learn_sigma": bool(learn_sigma),
        "diffusion_steps": int(diffusion_steps), "noise_schedule": noise_schedule,
        "timestep_input": "original", "rescale_timesteps": bool(rescale_timesteps),
        "timestep_respacing": str(timestep_respacing), "class_label": class_label, "source": source or {},
    }
    meta.update(extra)
    return meta


def save(module: torch.jit.ScriptModule, path: str, metadata: Dict[str, Any]) -> None:
    """torch.jit.save with `ilvr.json`, written to a new temporary file beside `path`
    (created exclusively under a random name, O_EXCL | O_NOFOLLOW: a link planted
    there is never followed) and renamed into place."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".tmp-")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o644 & ~umask)  # mkstemp's 0600 would hide the model from other users
        with os.fdopen(fd, "wb") as f:
            torch.jit.save(module, f, _extra_files={METADATA_FILE: json.dumps(metadata, indent=1, sort_keys=False)})
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


def read_metadata(path: str) -> Optional[Dict[str, Any]]:
    """The metadata of a TorchScript file, or None where it has none (read from the zip, the model not loaded)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[1:] == ["extra", METADATA_FILE]:
                return json.loads(archive.read(name).decode("utf-8"))
    return None
