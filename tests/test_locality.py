"""The locality loss's two ways of comparing features: the paper's cosine and the centred one."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mudjack import Mudjacking
from mudjack.errors import InputError
from mudjack.patching.locality import locality_cosine


def test_centred_cosine_sees_a_drift_inside_a_narrow_cone():
    gen = torch.Generator().manual_seed(0)
    axis = F.normalize(torch.randn(1, 32, generator=gen), dim=1)
    reference = F.normalize(axis + 0.01 * torch.randn(64, 32, generator=gen), dim=1)
    moved = reference[torch.randperm(64, generator=gen)]  # every input takes another's place
    plain = locality_cosine(moved, reference, "cosine")
    centred = locality_cosine(moved, reference, "centred")
    assert plain > 0.99  # the paper's cosine barely sees it
    assert abs(centred) < 0.3  # the centred one sees the places shuffled
    assert locality_cosine(reference, reference, "centred") == pytest.approx(1.0)


def test_centred_locality_patches_otherwise_and_is_recorded(patch_case):
    encoder, bug, val, trigger = patch_case
    kw = {"max_steps": 3, "batch_size": 16, "augment": None, "log_every": 1}
    plain = Mudjacking(**kw).patch(encoder, bug, val, trigger)
    centred = Mudjacking(**kw, locality="centred").patch(encoder, bug, val, trigger)
    pairs = zip(plain.encoder.parameters(), centred.encoder.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)
    assert centred.params["locality"] == "centred" and "locality" not in plain.params


def test_a_bad_locality_is_bad_input():
    expected = "Expected locality 'cosine', 'centred', 'relational', got 'l2'"
    with pytest.raises(InputError, match=expected):
        Mudjacking(locality="l2")


def test_cli_locality(tmp_path, patch_args, capsys):
    from mudjack.cli import main

    argv = [str(a) for a in patch_args]
    assert main([*argv, "--locality", "centred", "--out", str(tmp_path / "p")]) == 0
    meta = json.loads((tmp_path / "p" / "mudjack.json").read_text())
    assert meta["provenance"]["patcher"]["locality"] == "centred"
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--locality", "l2", "--out", str(tmp_path / "q")])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_relational_locality_keeps_the_batch_geometry():
    gen = torch.Generator().manual_seed(1)
    reference = F.normalize(torch.randn(16, 8, generator=gen), dim=1)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen))
    turned = reference @ rotation  # every feature moved, every pairwise cosine kept
    assert locality_cosine(turned, reference, "relational") == pytest.approx(1.0, abs=1e-5)
    assert locality_cosine(turned, reference, "cosine") < 0.9
    shuffled = reference[torch.randperm(16, generator=gen)]
    assert locality_cosine(shuffled, reference, "relational") < 0.5
