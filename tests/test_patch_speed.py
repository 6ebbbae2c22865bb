"""The patch loop's speed options: bfloat16 autocast, torch.compile and the learning-rate
schedule."""

from __future__ import annotations

import math

import pytest
import torch

from mudjack import Mudjacking
from mudjack.errors import InputError


def test_bf16_patch_runs_and_stays_near_fp32(patch_case):
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 3, "batch_size": 16, "augment": None}
    fp32 = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    bf16 = Mudjacking(**kw, precision="bf16").patch(encoder, bug, val, trigger)
    assert bf16.params["precision"] == "bf16" and "precision" not in fp32.params
    x = val[:8]
    cos = torch.nn.functional.cosine_similarity(fp32.encoder.embed(x), bf16.encoder.embed(x))
    assert torch.isfinite(cos).all() and cos.min() > 0.9


@pytest.mark.slow  # compiling takes half a minute
def test_compiled_patch_equals_the_eager_one(patch_case):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile needs a C compiler on the CPU")
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 2, "batch_size": 16, "augment": None}
    eager = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    compiled = Mudjacking(**kw, compile=True).patch(encoder, bug, val, trigger)
    x = val[:8]
    assert torch.allclose(eager.encoder.embed(x), compiled.encoder.embed(x), atol=1e-4)


def test_speed_options_are_checked():
    with pytest.raises(InputError, match="precision one of"):
        Mudjacking(precision="fp16")
    with pytest.raises(InputError, match="compile True or False"):
        Mudjacking(compile="yes")


def learning_rates(patch_case, monkeypatch, **kw):
    """The learning rate each step of a 4-step patch was taken at, and the patch's result."""
    encoder, bug, val, trigger = patch_case
    made = []
    build = Mudjacking._optimizer

    def keep(self, patched):
        made.append(build(self, patched))
        return made[-1]

    monkeypatch.setattr(Mudjacking, "_optimizer", keep)
    lrs = []
    patcher = Mudjacking(max_steps=4, batch_size=16, lr=2e-3, augment=None, **kw)
    res = patcher.patch(
        encoder, bug, val, trigger, on_step=lambda s, e: lrs.append(made[0].param_groups[0]["lr"])
    )
    return lrs, res


def test_cosine_schedule_decays_the_learning_rate_by_step(patch_case, monkeypatch):
    lrs, res = learning_rates(patch_case, monkeypatch, schedule="cosine")
    want = [2e-3 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert lrs == pytest.approx(want) and lrs[0] == 2e-3
    assert res.params["schedule"] == "cosine" and "warmup" not in res.params


@pytest.mark.parametrize(
    ("schedule", "after"),
    [("constant", [2e-3, 2e-3]), ("cosine", [2e-3, 1e-3])],  # cosine over the 2 steps left
)
def test_warmup_rises_linearly_then_the_schedule_runs(patch_case, monkeypatch, schedule, after):
    lrs, res = learning_rates(patch_case, monkeypatch, schedule=schedule, warmup=2)
    assert lrs == pytest.approx([1e-3, 2e-3, *after])
    assert res.params["warmup"] == 2


def test_constant_schedule_is_the_default_and_not_recorded(patch_case):
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 1, "batch_size": 16, "augment": None}
    const = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    cosine = Mudjacking(**kw, schedule="cosine").patch(encoder, bug, val, trigger)
    assert "schedule" not in const.params
    # one step of a cosine schedule is taken at the full rate: the same weights
    for a, b in zip(const.encoder.parameters(), cosine.encoder.parameters(), strict=True):
        assert torch.equal(a, b)


def test_an_unknown_schedule_or_a_bad_warmup_is_bad_input():
    with pytest.raises(InputError, match="schedule 'constant' or 'cosine'"):
        Mudjacking(schedule="linear")
    for bad in (-1, 2.5, True):
        with pytest.raises(InputError, match="warmup to be a whole number"):
            Mudjacking(warmup=bad)


def test_cli_records_the_optimizer_and_schedule(tmp_path, patch_args):
    import json

    from mudjack.cli import main

    argv = [str(a) for a in patch_args]
    flags = ["--optimizer", "sgd", "--schedule", "cosine", "--warmup", "3"]
    assert main([*argv, *flags, "--out", str(tmp_path / "p")]) == 0
    patcher = json.loads((tmp_path / "p" / "mudjack.json").read_text())["provenance"]["patcher"]
    assert (patcher["optimizer"], patcher["schedule"], patcher["warmup"]) == ("sgd", "cosine", 3)
