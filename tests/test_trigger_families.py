"""The adaptive attacks' trigger families: built-in patterns, PNG files, random location,
dynamic triggers, whole-image perturbations, and trigger specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mudjack.errors import InputError, ModelLoadError, UnknownNameError
from mudjack.triggers import (
    BUILTIN_TRIGGERS,
    PATTERNS,
    DynamicTrigger,
    PatchTrigger,
    PerturbationTrigger,
    builtin_trigger_spec,
    load_trigger,
    pattern_trigger,
    trigger_from_png,
    trigger_from_spec,
)

SHAPE = (1, 28, 28)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", BUILTIN_TRIGGERS)
def test_builtin_triggers_keep_shape_and_range_and_are_deterministic(name):
    x = torch.rand(16, *SHAPE, generator=_gen(1))
    a = trigger_from_spec(builtin_trigger_spec(name), SHAPE)
    b = trigger_from_spec(builtin_trigger_spec(name), SHAPE)
    ya, yb = a.apply(x, _gen(2)), b.apply(x, _gen(2))
    assert ya.shape == x.shape and ya.min() >= 0 and ya.max() <= 1
    assert torch.equal(ya, yb)  # same spec, same generator: same images
    assert not torch.equal(ya, x)


@pytest.mark.parametrize("name", ["random-square", "random-triangle", "spread-out"])
def test_random_patterns_follow_their_seed(name):
    a = pattern_trigger(name, SHAPE, seed=0)
    b = pattern_trigger(name, SHAPE, seed=1)
    assert torch.equal(a.mask, b.mask) and not torch.equal(a.pattern, b.pattern)
    assert torch.equal(a.pattern, pattern_trigger(name, SHAPE, seed=0).pattern)


def test_pattern_geometry():
    square = pattern_trigger("white-square", SHAPE, size=6, margin=1)
    assert square.pixels == 36 and square.mask[0, 21:27, 21:27].all()
    tri = pattern_trigger("random-triangle", SHAPE, size=6, margin=1)
    tile = tri.mask[0, 21:27, 21:27]
    assert tri.pixels == 21 and tile[5].all() and tile[0, 0] == 1 and tile[0, 1] == 0
    spread = pattern_trigger("spread-out", SHAPE, size=6, margin=1)
    assert spread.pixels == 72
    assert spread.mask[0, 1:7, 1:7].all() and spread.mask[0, 21:27, 21:27].all()
    checker = pattern_trigger("checkerboard", SHAPE, size=6, margin=1)
    assert checker.pattern[0, 21:27, 21:27].sum() == 18
    for glyph in ("logo", "emoji"):
        t = pattern_trigger(glyph, SHAPE, size=8)
        assert 16 < t.pixels < 64  # a shape, not a square
    emoji = pattern_trigger("emoji", SHAPE, size=8)
    inside = emoji.pattern[emoji.mask > 0]
    assert (inside == 0).any() and (inside == 1).any()  # dark eyes and mouth on a white face


def test_pattern_and_spec_errors():
    with pytest.raises(UnknownNameError, match="Unknown trigger pattern 'star'"):
        pattern_trigger("star", SHAPE)
    with pytest.raises(InputError, match="Expected a pattern of side"):
        pattern_trigger("white-square", SHAPE, size=30)
    with pytest.raises(InputError, match="Unknown built-in trigger 'star'"):
        builtin_trigger_spec("star")
    with pytest.raises(InputError, match="Unknown trigger spec kind 'blob'"):
        trigger_from_spec({"kind": "blob"}, SHAPE)
    with pytest.raises(InputError, match="Expected a complete pattern trigger spec"):
        trigger_from_spec({"kind": "pattern"}, SHAPE)
    assert set(PATTERNS) < set(BUILTIN_TRIGGERS)


def test_random_location_pastes_the_whole_patch_inside_each_image():
    t = pattern_trigger("random-square", SHAPE, size=6, random_location=True)
    x = torch.full((50, *SHAPE), 0.5)
    y = t.apply(x, _gen(0))
    tile = t.pattern[0, 21:27, 21:27]
    corners = set()
    for img in y[:, 0]:
        rows, cols = torch.nonzero(img != 0.5, as_tuple=True)
        top, left = int(rows.min()), int(cols.min())
        assert top + 6 <= 28 and left + 6 <= 28  # inside the image
        assert torch.allclose(img[top : top + 6, left : left + 6], tile)
        corners.add((top, left))
    assert len(corners) > 20  # positions vary per input
    assert torch.equal(y, t.apply(x, _gen(0)))


def test_dynamic_trigger_gives_each_input_one_of_its_triggers():
    dyn = trigger_from_spec(builtin_trigger_spec("dynamic"), SHAPE)
    assert isinstance(dyn, DynamicTrigger) and len(dyn.triggers) == 2
    x = torch.full((60, *SHAPE), 0.5)
    y = dyn.apply(x, _gen(0))
    kinds = []
    for img in y[:, 0]:
        rows, cols = torch.nonzero(img != 0.5, as_tuple=True)
        top, left = int(rows.min()), int(cols.min())
        patch = img[top : top + 6, left : left + 6]
        kinds.append("white" if bool((patch == 1).all()) else "checker")
        if kinds[-1] == "checker":
            assert patch.sum() == 18  # the checkerboard, alone
    assert {"white", "checker"} == set(kinds)
    assert isinstance(dyn.component(1), PatchTrigger) and dyn.component(1).random_location
    with pytest.raises(InputError, match=r"trigger index in 0\.\.1, got 2"):
        dyn.component(2)
    with pytest.raises(InputError, match=r"needs a torch\.Generator"):
        dyn.apply(x)


def test_perturbation_trigger_is_bounded_and_whole_image():
    t = trigger_from_spec(builtin_trigger_spec("latent"), SHAPE)
    assert isinstance(t, PerturbationTrigger) and t.epsilon == pytest.approx(0.01)
    x = torch.rand(8, *SHAPE, generator=_gen(3)) * 0.9 + 0.05
    y = t.apply(x)
    assert (y - x).abs().max() <= 0.01 + 1e-6
    assert ((y - x).abs() > 0.009).float().mean() > 0.99  # every pixel moves
    assert torch.equal(t.apply(torch.ones(1, *SHAPE)).max(), torch.tensor(1.0))  # clipped
    with pytest.raises(InputError, match="Expected epsilon in \\(0, 1\\]"):
        PerturbationTrigger.random_sign(SHAPE, epsilon=0.0)
    with pytest.raises(InputError, match="Expected epsilon in \\(0, 1\\]"):
        PerturbationTrigger.random_sign(SHAPE, epsilon=float("nan"))
    with pytest.raises(InputError, match="Expected a non-zero perturbation"):
        PerturbationTrigger(torch.zeros(SHAPE))


@pytest.mark.parametrize("name", ["dynamic", "latent", "emoji"])
def test_trigger_files_round_trip(tmp_path, name):
    t = trigger_from_spec(builtin_trigger_spec(name), SHAPE)
    back = load_trigger(t.save(tmp_path / "t.safetensors"))
    x = torch.rand(4, *SHAPE, generator=_gen(0))
    assert type(back) is type(t) and torch.equal(back.apply(x, _gen(1)), t.apply(x, _gen(1)))


def test_png_trigger_alpha_is_the_mask(tmp_path):
    from PIL import Image

    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[1:3, 1:4, 3] = 255  # an opaque 2x3 block inside a transparent tile
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    t = trigger_from_png(tmp_path / "t.png", SHAPE, margin=1)
    assert t.pixels == 6
    assert t.mask[0, 24:26, 23:26].all() and t.pattern[0, 24:26, 23:26].eq(1).all()
    rgb = Image.fromarray(np.full((28, 28, 3), 128, dtype=np.uint8), "RGB")
    rgb.save(tmp_path / "full.png")
    full = trigger_from_png(tmp_path / "full.png", SHAPE)
    assert full.pixels == 28 * 28  # no alpha: opaque
    Image.fromarray(np.zeros((40, 40, 4), dtype=np.uint8), "RGBA").save(tmp_path / "big.png")
    with pytest.raises(InputError, match="or at most 27x27 to fit 1 pixel"):
        trigger_from_png(tmp_path / "big.png", SHAPE)
    Image.fromarray(np.zeros((4, 27, 4), dtype=np.uint8), "RGBA").save(tmp_path / "wide.png")
    with pytest.raises(InputError, match="or at most 26x26 to fit 2 pixel"):
        trigger_from_png(tmp_path / "wide.png", SHAPE, margin=2)  # too wide for the margin
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ModelLoadError, match="Expected a readable PNG trigger"):
        trigger_from_png(tmp_path / "bad.png", SHAPE)
