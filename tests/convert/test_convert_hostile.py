#!/usr/bin/python3
"""scripts/convert.py under hostile or careless input (ctest convert.hostile).

* A checkpoint whose pickle would run a command is refused, one line, exit 2,
  and the command never runs (torch.load(weights_only=True)); a plain state
  dict still loads.
* The output is written through a new, randomly named temporary created
  exclusively: a link planted at the old fixed name (OUT.tmp) is not followed.
* --out may not be an input (the checkpoint, also through a hard link) or a folder.
* Every bad input, argparse's usage errors included, is one line on stderr and
  exit code 2, with control characters escaped; never a traceback.

Exit code 77 (skipped) where Debian's Python lacks torch.
Run: /usr/bin/python3 tests/convert/test_convert_hostile.py
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
CONVERT = os.path.join(SOURCE, "scripts", "convert.py")
SMALL_FLAGS = "--image_size 8 --channel_mult 1 --num_channels 32 --num_res_blocks 1 --attention_resolutions 2 --num_heads 1"

try:
    import torch
except ImportError:
    print("convert.hostile: skipped, this Python lacks torch")
    sys.exit(77)

sys.path.insert(0, os.path.join(SOURCE, "scripts"))
import convert  # noqa: E402
from adm import export  # noqa: E402

failures = []


def check(condition: bool, what: str) -> None:
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def run(*args: str):
    r = subprocess.run([sys.executable, CONVERT, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def one_line_error(result, part: str, what: str) -> None:
    code, out, err = result
    ok = code == 2 and err.startswith("convert: error: ") and err.count("\n") == 1 and part in err
    check(ok and "Traceback" not in err, f"{what}: exit 2, one line with '{part}'" + ("" if ok else f" (got {code}: {err!r})"))


class RunsACommand:
    """Pickles as a call of os.system: what a hostile checkpoint holds."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


with tempfile.TemporaryDirectory(prefix="ilvr-convert-hostile-") as tmp:
    marker = os.path.join(tmp, "the-command-ran")
    evil = os.path.join(tmp, "evil.pt")
    torch.save({"weight": torch.zeros(1), "payload": RunsACommand(marker)}, evil)
    one_line_error(run("adm", "--checkpoint", evil, "--flags", SMALL_FLAGS, "--out", os.path.join(tmp, "x.pt")),
                   "refused, it holds more than tensors", "a checkpoint that runs a command")
    check(not os.path.exists(marker), "the checkpoint's command did not run")

    plain = os.path.join(tmp, "plain.pt")
    torch.save({"weight": torch.ones(2)}, plain)
    check(torch.equal(convert.load_checkpoint(plain)["weight"], torch.ones(2)), "a plain state dict loads")

    os.link(plain, os.path.join(tmp, "linked.pt"))
    for out in (plain, os.path.join(tmp, "linked.pt")):
        one_line_error(run("adm", "--checkpoint", plain, "--flags", SMALL_FLAGS, "--out", out),
                       "is the checkpoint", f"--out {os.path.basename(out)} is the checkpoint")
    check(torch.equal(torch.load(plain, weights_only=True)["weight"], torch.ones(2)), "the checkpoint is unchanged")
    one_line_error(run("adm", "--random-weights", "1", "--flags", SMALL_FLAGS, "--out", tmp),
                   "is a folder", "--out a folder")
    one_line_error(run("adm", "--random-weights", "1", "--flags", SMALL_FLAGS), "--out", "a missing --out")
    one_line_error(run("adm", "--random-weights", "1", "--flags", "--image_size \x1b[2J", "--out",
                       os.path.join(tmp, "y.pt")), "\\x1b[2J", "a flag string with an escape sequence")
    one_line_error(run("metadata", plain, "--image-size", "8", "--channels", "3"), "cannot load it as TorchScript",
                   "metadata on a file that is not TorchScript")

    # A link planted at the temporary's old fixed name is not followed.
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("outside")
    target = os.path.join(tmp, "model.pt")
    os.symlink(victim, target + ".tmp")
    module = torch.jit.script(torch.nn.Identity())
    export.save(module, target, {"format": export.FORMAT})
    check(open(victim).read() == "outside", "the planted link's target is unchanged")
    check(os.path.isfile(target) and not os.path.islink(target), "the output is a regular file")
    check(export.read_metadata(target) == {"format": export.FORMAT}, "the output holds its metadata")
    check(sorted(os.listdir(tmp)).count("model.pt") == 1 and
          not [n for n in os.listdir(tmp) if n.startswith("model.pt.tmp-")], "no temporary is left")

print(f"convert.hostile: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
