"""Patches that survive a kill: checkpoints, resuming, and `mudjack patch --resume` after
SIGKILL giving the same weights to the last bit as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mudjack import Mudjacking, create_patcher
from mudjack.errors import InputError
from mudjack.patching import PatchCheckpoint
from mudjack.utils import sha256_tensors


class Interrupted(Exception):
    """Stands for a kill in the in-process tests."""


class StopAfter(PatchCheckpoint):
    """A checkpoint that stops the patch right after saving step ``stop``."""

    def __init__(self, folder, every, stop):
        super().__init__(folder, every)
        self.stop = stop

    def save(self, state):
        path = super().save(state)
        if state["step"] == self.stop:
            raise Interrupted
        return path


def sha(encoder):
    return sha256_tensors(*encoder.state_dict().values())


@pytest.mark.parametrize(
    ("name", "extra"),
    [("mudjacking", {}), ("ft-l2", {}), ("mudjacking", {"schedule": "cosine", "warmup": 4})],
)
def test_a_resumed_patch_equals_an_uninterrupted_one(patch_case, tmp_path, name, extra):
    # 64 inputs in batches of 16: 4 steps an epoch; stopping at step 6 resumes mid-epoch
    encoder, bug, val, trigger = patch_case
    patcher = create_patcher(name, epochs=3, batch_size=16, max_steps=10, log_every=1, **extra)
    whole = patcher.patch(encoder, bug, val, trigger, seed=3)
    ckpt = StopAfter(tmp_path / "work", every=3, stop=6)
    with pytest.raises(Interrupted):
        patcher.patch(encoder, bug, val, trigger, seed=3, checkpoint=ckpt)
    assert PatchCheckpoint.step_of(tmp_path / "work") == 6
    resumed = patcher.patch(
        encoder, bug, val, trigger, seed=3, checkpoint=PatchCheckpoint(tmp_path / "work", 3)
    )
    assert resumed.steps == whole.steps == 10
    assert sha(resumed.encoder) == sha(whole.encoder)
    assert resumed.history == whole.history
    assert sha(encoder) != sha(whole.encoder)  # the patch moved the weights


def test_a_checkpoint_of_another_patch_is_refused(patch_case, tmp_path):
    encoder, bug, val, trigger = patch_case
    patcher = Mudjacking(epochs=1, batch_size=16, max_steps=4)
    with pytest.raises(Interrupted):
        patcher.patch(encoder, bug, val, trigger, checkpoint=StopAfter(tmp_path, 2, 2))
    for change in ({"seed": 1}, {"val_data": val[:32]}):
        kwargs = {"val_data": val, "seed": 0, **change}
        with pytest.raises(InputError, match="other inputs"):
            patcher.patch(encoder, bug, trigger=trigger, checkpoint=PatchCheckpoint(tmp_path, 2),
                          **kwargs)  # fmt: skip
    with pytest.raises(InputError, match="other inputs"):
        Mudjacking(epochs=1, batch_size=16, max_steps=4, lr=1e-2).patch(
            encoder, bug, val, trigger, checkpoint=PatchCheckpoint(tmp_path, 2)
        )


def test_an_unreadable_checkpoint_is_bad_input(patch_case, tmp_path):
    encoder, bug, val, trigger = patch_case
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be read"):
        Mudjacking(epochs=1, batch_size=16, max_steps=2).patch(
            encoder, bug, val, trigger, checkpoint=PatchCheckpoint(tmp_path, 1)
        )


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_a_checkpoint_interval_must_be_a_positive_int(tmp_path, every):
    with pytest.raises(InputError, match="every"):
        PatchCheckpoint(tmp_path, every)


# --- the command line, killed with SIGKILL ---------------------------------------------------
KILL_AT = 6
KILLER = textwrap.dedent(
    f"""
    import os, signal, sys
    from mudjack.cli import main
    from mudjack.patching import checkpoint

    save = checkpoint.PatchCheckpoint.save

    def save_then_die(self, state):
        path = save(self, state)
        if state["step"] == {KILL_AT}:
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    checkpoint.PatchCheckpoint.save = save_then_die
    sys.exit(main(sys.argv[1:]))
    """
)


def cli(*argv, killer=False):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same float reductions in every run
    code = KILLER if killer else "import sys; from mudjack.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, *map(str, argv)]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def weights_sha(folder):
    return json.loads((folder / "mudjack.json").read_text())["weights_sha256"]


def test_a_killed_patch_resumes_to_the_same_weights(patch_args, tmp_path):
    whole = cli(*patch_args, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    assert not (tmp_path / "whole.work").exists()  # removed once the patch is written

    out = tmp_path / "patched"
    killed = cli(*patch_args, "--out", out, killer=True)
    assert killed.returncode == -9
    assert not out.exists() and not list(tmp_path.glob(".patched.*"))  # nothing half-written
    assert PatchCheckpoint.step_of(tmp_path / "patched.work") == KILL_AT

    plain = cli(*patch_args, "--out", out)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "patched.work" in plain.stderr and "--resume" in plain.stderr
    assert f"step {KILL_AT}" in plain.stderr

    resumed = cli(*patch_args, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert weights_sha(out) == weights_sha(tmp_path / "whole")
    assert (out / "trigger.safetensors").is_file()
    assert not (tmp_path / "patched.work").exists()
    prov = json.loads((out / "mudjack.json").read_text())["provenance"]
    assert prov["steps"] == 12
