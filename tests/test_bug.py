import json

import pytest
import torch

from mudjack.bug import BugInstance, load_bug
from mudjack.errors import InputError, ModelLoadError, OutputExistsError


def _bug():
    x_b = (torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).round() / 255
    x_r = (torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1)) * 255).round() / 255
    return BugInstance(x_b, x_r, 3, {"note": "test"})


def test_identical_inputs_are_rejected():
    x = torch.rand(1, 8, 8)
    with pytest.raises(InputError, match=r"x_b .* and x_r .* to differ, got two identical inputs"):
        BugInstance(x, x.clone())


def test_shape_mismatch_is_rejected():
    with pytest.raises(InputError, match=r"same shape, got \(1, 8, 8\) and \(3, 8, 8\)"):
        BugInstance(torch.rand(1, 8, 8), torch.rand(3, 8, 8))


def test_check_against_encoder_spec(tiny_encoder):
    bug = BugInstance(torch.rand(3, 8, 8), torch.rand(3, 8, 8))
    with pytest.raises(InputError, match=r"Expected x_b of shape \(N, 1, 8, 8\)"):
        bug.check(tiny_encoder.input_spec)


def test_save_load_round_trip(tmp_path):
    bug = _bug()
    bug.save(tmp_path / "bug")
    back = load_bug(tmp_path / "bug")
    assert torch.equal(back.x_b, bug.x_b) and torch.equal(back.x_r, bug.x_r)
    assert back.label == 3 and back.metadata == {"note": "test"}
    assert json.loads((tmp_path / "bug" / "bug.json").read_text())["sha256"] == bug.sha256
    with pytest.raises(OutputExistsError):
        bug.save(tmp_path / "bug")


def test_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match=r"bug\.json not found"):
        load_bug(tmp_path)
    _bug().save(tmp_path / "bug")
    (tmp_path / "bug" / "x_r.png").unlink()
    with pytest.raises(ModelLoadError, match=r"Expected x_r\.png"):
        load_bug(tmp_path / "bug")
