import pytest
import torch

from mudjack.errors import InputError, ModelLoadError, OutputExistsError, UnknownNameError
from mudjack.triggers import PatchTrigger, load_trigger, mask_iou


def test_square_trigger_stamps_bottom_right():
    t = PatchTrigger.square((1, 8, 8), size=2, margin=1)
    x = torch.zeros(3, 1, 8, 8)
    y = t.apply(x)
    assert y[:, :, 5:7, 5:7].eq(1).all()
    assert y.sum() == 3 * 4
    assert t.pixels == 4


def test_apply_keeps_input_untouched_and_single_image():
    t = PatchTrigger.square((1, 8, 8), size=3)
    x = torch.rand(1, 8, 8)
    y = t.apply(x)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(y[:, :5, :5], x[:, :5, :5])


def test_random_location_moves_the_patch_per_input():
    t = PatchTrigger.square((1, 16, 16), size=3, random_location=True)
    x = torch.zeros(20, 1, 16, 16)
    y = t.apply(x, torch.Generator().manual_seed(0))
    assert (y.flatten(1).sum(1) == 9).all()
    positions = {tuple(torch.nonzero(img[0])[0].tolist()) for img in y}
    assert len(positions) > 5
    with pytest.raises(InputError, match=r"needs a torch\.Generator"):
        t.apply(x)


def test_save_load_round_trip(tmp_path):
    t = PatchTrigger(torch.rand(3, 8, 8), (torch.rand(8, 8) > 0.7).float(), random_location=True)
    t.save(tmp_path / "t.safetensors")
    back = load_trigger(tmp_path / "t.safetensors")
    assert isinstance(back, PatchTrigger) and back.random_location
    assert torch.equal(back.mask, t.mask) and torch.equal(back.pattern, t.pattern)
    with pytest.raises(OutputExistsError):
        t.save(tmp_path / "t.safetensors")


def test_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_trigger(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="Corrupt trigger file"):
        load_trigger(tmp_path / "bad.safetensors")


def test_invalid_triggers():
    with pytest.raises(InputError, match="empty mask"):
        PatchTrigger(torch.zeros(1, 4, 4), torch.zeros(4, 4))
    with pytest.raises(InputError, match="same size"):
        PatchTrigger(torch.zeros(1, 4, 4), torch.ones(5, 5))
    t = PatchTrigger.square((1, 8, 8), size=2)
    with pytest.raises(InputError, match=r"Expected images of shape \(N, 1, 8, 8\)"):
        t.apply(torch.zeros(2, 3, 8, 8))


def test_mask_iou():
    a = torch.zeros(4, 4)
    b = torch.zeros(4, 4)
    a[:2, :2] = 1
    b[:2, :] = 1
    assert mask_iou(a, b) == pytest.approx(0.5)
    assert mask_iou(a, a) == 1.0


def test_check_against_an_encoder(tiny_encoder):
    from mudjack.triggers import TextTrigger

    t = PatchTrigger.square((1, 8, 8), size=2)
    assert t.check(tiny_encoder) is t and t.check(tiny_encoder.input_spec) is t
    with pytest.raises(InputError, match=r"pattern \(1, 8, 8\) and mask \(1, 8, 8\) .* got "):
        PatchTrigger.square((3, 8, 8), size=2).check(tiny_encoder)
    with pytest.raises(InputError, match=r"mask \(1, 8, 8\) .* got pattern \(1, 9, 9\)"):
        PatchTrigger.square((1, 9, 9), size=2).check(tiny_encoder)
    nan = PatchTrigger(torch.full((1, 8, 8), float("nan")), torch.ones(1, 8, 8))
    with pytest.raises(InputError, match=r"pattern values that are finite .* 64 non-finite"):
        nan.check(tiny_encoder)
    big = PatchTrigger(torch.full((1, 8, 8), 255.0), torch.ones(1, 8, 8))
    with pytest.raises(InputError, match=r"finite and in \[0, 1\], got range \[255, 255\]"):
        big.check(tiny_encoder)
    with pytest.raises(
        InputError, match="Expected an image trigger for this image encoder, got a text trigger"
    ):
        TextTrigger(["cf"]).check(tiny_encoder)


def test_trigger_files_that_do_not_hold_a_trigger(tmp_path):
    from safetensors.torch import save_file

    save_file({"mask": torch.ones(1, 4, 4)}, str(tmp_path / "half.st"), metadata={"kind": "patch"})
    with pytest.raises(ModelLoadError, match=r"Expected tensors pattern, mask .* got mask"):
        load_trigger(tmp_path / "half.st")
    save_file(
        {"pattern": torch.ones(1, 4, 4), "mask": torch.zeros(1, 4, 4)},
        str(tmp_path / "empty.st"),
        metadata={"kind": "patch"},
    )
    with pytest.raises(InputError, match=r"does not hold a valid trigger\. .*empty mask"):
        load_trigger(tmp_path / "empty.st")
    save_file({"x": torch.ones(1)}, str(tmp_path / "kind.st"), metadata={"kind": "sticker"})
    with pytest.raises(UnknownNameError, match="Unknown trigger kind 'sticker'"):
        load_trigger(tmp_path / "kind.st")
