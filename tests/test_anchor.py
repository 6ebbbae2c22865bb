"""The weight-space anchor (L2-SP) of the patch loop."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mudjack import Mudjacking
from mudjack.errors import InputError
from mudjack.patching.anchor import WeightAnchor


def test_pull_adds_the_penalty_gradient():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    anchor = WeightAnchor([p], strength=3.0)
    with torch.no_grad():
        p.add_(torch.tensor([0.1, 0.0, -0.2]))
    p.grad = torch.tensor([1.0, 1.0, 1.0])
    anchor.pull()
    assert torch.allclose(p.grad, torch.tensor([1.3, 1.0, 0.4]))
    assert anchor.drift() == pytest.approx(math.sqrt(0.1**2 + 0.2**2))


def drift(a, b) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return math.sqrt(sum(float((x - y).pow(2).sum()) for x, y in pairs))


def test_a_strong_anchor_keeps_the_weights_nearer(patch_case):
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 6, "batch_size": 16, "augment": None, "log_every": 1}
    free = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    held = Mudjacking(**kw, anchor=50.0).patch(encoder, bug, val, trigger)
    moved_free, moved_held = drift(free.encoder, encoder), drift(held.encoder, encoder)
    assert 0 < moved_held < 0.8 * moved_free
    # the logged drift is the distance from the encoder's own weights
    assert held.history[-1]["anchor_drift"] == pytest.approx(moved_held, rel=1e-4)
    assert "anchor_drift" not in free.history[-1]
    assert held.params["anchor"] == 50.0 and "anchor" not in free.params


def test_anchor_zero_is_the_plain_patch(patch_case):
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 3, "batch_size": 16, "augment": None}
    plain = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    zero = Mudjacking(**kw, anchor=0.0).patch(encoder, bug, val, trigger)
    for a, b in zip(plain.encoder.parameters(), zero.encoder.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1", True])
def test_a_bad_anchor_is_bad_input(bad):
    with pytest.raises(InputError, match="anchor to be a finite number >= 0"):
        Mudjacking(anchor=bad)


def test_cli_anchor_is_recorded_and_checked(tmp_path, patch_args, capsys):
    from mudjack.cli import main

    argv = [str(a) for a in patch_args]
    assert main([*argv, "--anchor", "0.5", "--out", str(tmp_path / "p")]) == 0
    meta = json.loads((tmp_path / "p" / "mudjack.json").read_text())
    assert meta["provenance"]["patcher"]["anchor"] == 0.5
    with pytest.raises(SystemExit) as exc:  # argparse: usage line and code 2
        main([*argv, "--anchor", "-1", "--out", str(tmp_path / "q")])
    assert exc.value.code == 2
    assert "finite number >= 0" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()
