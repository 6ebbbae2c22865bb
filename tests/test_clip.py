"""The CLIP-style encoder: captions, towers, pre-training, zero-shot, folders."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mudjack.data.captions import (
    CaptionGenerator,
    ClassLexicon,
    ImageCaptionSet,
    load_image_captions,
    wordnet_lexicon,
)
from mudjack.downstream.zeroshot import ZeroShotClassifier
from mudjack.encoders import load_encoder, load_text_tower, save_encoder
from mudjack.encoders.clip import CLIPTextTower, ProjectedEncoder
from mudjack.errors import InputError
from mudjack.pretrain import SimCLR
from mudjack.pretrain.clip import CLIP, clip_loss
from mudjack.utils import seeded

# Ten classes named by words of the tiny BERT's vocabulary (conftest), so captions tokenise.
NAMES = ("good", "bad", "film", "story", "music", "night", "day", "scene", "cast", "actor")
LEXICON = [ClassLexicon((n,), (f"the {n} of it",)) for n in NAMES]


def _towers(tiny_bert, proj_dim: int = 16):
    with seeded(0):
        image = ProjectedEncoder(
            {"name": "tiny_cnn", "width": 8, "in_channels": 1, "image_size": 8, "embed_dim": 16},
            proj_dim=proj_dim,
        )
        text = CLIPTextTower(text_encoder=tiny_bert, proj_dim=proj_dim, freeze_base=False)
    return image, text


def _pairs(digits, n: int = 512) -> ImageCaptionSet:
    gen = CaptionGenerator(LEXICON, templates=("a {name}", "{name}: {gloss}", "{adj} {name}"))
    data = digits.shuffled(0).head(n)
    return ImageCaptionSet(data.images, gen.captions(data.labels, seed=0), data.labels, "digits")


def test_wordnet_lexicon_names_and_glosses_each_fashion_class():
    lex = wordnet_lexicon()
    assert len(lex) == 10
    assert lex[7].names[0] == "sneaker" and "gym shoe" in lex[7].names
    assert "sweater" in lex[2].names and all(lex_c.glosses for lex_c in lex)
    assert not lex[1].glosses[0].startswith("(")  # "(usually in the plural)" is cut


def test_captions_are_seeded_varied_and_name_their_class():
    gen = CaptionGenerator()
    labels = torch.arange(10).repeat(20)
    caps = gen.captions(labels, seed=3)
    assert caps == gen.captions(labels, seed=3) and caps != gen.captions(labels, seed=4)
    assert len(set(caps)) > 100
    for cap, y in zip(caps, labels.tolist(), strict=True):
        assert any(name in cap.lower() for name in gen.lexicon[y].names), cap
    prompts = gen.prompts()
    assert len(prompts) == 10 and all("sneaker" in p.lower() for p in prompts[7])


def test_caption_generator_refuses_a_label_without_a_class():
    with pytest.raises(InputError, match="class label in"):
        CaptionGenerator(LEXICON).captions(torch.tensor([10]))


def test_clip_loss_prefers_matching_pairs():
    x = torch.eye(4)
    scale = torch.tensor(2.0)
    assert clip_loss(x, x, scale) < clip_loss(x, x.roll(1, 0), scale)


def test_tiny_clip_loss_falls_and_zero_shot_beats_chance(tiny_bert, digits):
    image, text = _towers(tiny_bert)
    pairs = _pairs(digits)
    losses: list[float] = []
    trainer = CLIP(epochs=12, batch_size=64, lr=3e-3)
    trainer.fit(image, text, pairs, seed=0, on_epoch=lambda e, loss: losses.append(loss))
    assert trainer.steps_ == 12 * 8
    assert losses[-1] < losses[0] - 0.5
    zs = ZeroShotClassifier(text, [[f"a {n}"] for n in NAMES]).fit()
    test = digits.shuffled(1).head(300)
    acc = (zs.predict(image.embed(test.images).detach()) == test.labels).float().mean()
    assert acc > 0.3  # chance is 0.1


def test_frozen_base_precomputed_features_equal_the_towers_own(tiny_bert, digits):
    """With a frozen base, training reads cached base features: the tower's own forward must
    give the same projected direction."""
    _, text = _towers(tiny_bert)
    text.freeze_base = True
    pairs = _pairs(digits, 64)
    feats_of = CLIP()._text_features(text, pairs.captions, progress=False)
    idx = torch.arange(10)
    cached = torch.nn.functional.normalize(feats_of(idx), dim=1)
    own = text.eval().embed([pairs.captions[i] for i in idx])
    assert torch.allclose(cached, own, atol=1e-5)


def test_towers_round_trip_through_folders(tiny_bert, tmp_path):
    image, _ = _towers(tiny_bert)
    save_encoder(image, tmp_path / "img")
    back = load_encoder(tmp_path / "img")
    x = torch.rand(3, 1, 8, 8)
    assert isinstance(back, ProjectedEncoder)
    assert torch.equal(back(x), image.eval()(x))


@pytest.mark.slow
def test_frozen_minilm_text_tower_saves_only_its_head(tmp_path):
    tower = CLIPTextTower(proj_dim=8)
    with torch.no_grad():
        tower.logit_scale.fill_(3.0)
    save_encoder(tower, tmp_path / "text")
    assert (tmp_path / "text" / "model.safetensors").stat().st_size < 100_000
    back = load_encoder(tmp_path / "text")
    assert back.logit_scale.item() == 3.0
    assert torch.allclose(
        back.embed(["a photo of a sneaker"]), tower.eval().embed(["a photo of a sneaker"])
    )


def test_clip_refuses_bad_settings_and_mismatched_towers(tiny_bert, digits):
    with pytest.raises(InputError, match="batch_size >= 2"):
        CLIP(batch_size=1)
    with pytest.raises(InputError, match="lr > 0"):
        CLIP(lr=float("nan"))
    image, _ = _towers(tiny_bert, proj_dim=16)
    _, text = _towers(tiny_bert, proj_dim=8)
    with pytest.raises(InputError, match="one joint size"):
        CLIP(max_steps=1).fit(image, text, _pairs(digits, 8))


@pytest.mark.parametrize(
    ("trainer", "kwargs", "message"),
    [
        (SimCLR, {"epochs": 0}, "epochs >= 1"),
        (SimCLR, {"lr": -1e-3}, "lr > 0"),
        (SimCLR, {"temperature": 0.0}, "temperature > 0"),
        (SimCLR, {"temperature": float("inf")}, "temperature > 0"),
        (SimCLR, {"proj_dim": 0}, "proj_dim >= 1"),
        (SimCLR, {"weight_decay": float("nan")}, "weight_decay"),
        (CLIP, {"max_steps": 0}, "max_steps >= 1"),
        (CLIP, {"text_batch_size": 0}, "text_batch_size >= 1"),
    ],
)
def test_pretrainers_refuse_schedules_that_cannot_train(trainer, kwargs, message):
    with pytest.raises(InputError, match=message):
        trainer(**kwargs)


def test_clip_keeps_its_learned_temperature_under_the_cap(tiny_bert, digits):
    image, text = _towers(tiny_bert)
    with torch.no_grad():
        text.logit_scale.fill_(math.log(100.0) + 1.0)  # a tower given above CLIP's cap
    CLIP(batch_size=64, max_steps=2).fit(image, text, _pairs(digits, 256), seed=0)
    assert text.logit_scale.item() <= math.log(100.0) + 1e-6


def test_users_own_image_caption_pairs_load(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray((torch.rand(8, 8) * 255).byte().numpy()).save(tmp_path / f"{i}.png")
    (tmp_path / "captions.csv").write_text(
        "image,caption\n0.png,a red shoe\n1.png,a blue bag\n2.png,someone's coat\n"
    )
    pairs = load_image_captions(tmp_path)
    assert pairs.images.shape == (3, 1, 8, 8) and pairs.captions[1] == "a blue bag"
    (tmp_path / "captions.csv").write_text("file,text\n0.png,a\n")
    with pytest.raises(InputError, match="columns image and caption"):
        load_image_captions(tmp_path)


def _pairs_folder(folder, n: int = 8):
    from PIL import Image

    folder.mkdir()
    rows = ["image,caption"]
    for i in range(n):
        Image.fromarray((torch.rand(28, 28) * 255).byte().numpy()).save(folder / f"{i}.png")
        rows.append(f"{i}.png,a photo of {'a bag' if i % 2 else 'a sandal'}")
    (folder / "captions.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.slow
def test_cli_pretrains_clip_on_users_pairs_and_writes_both_towers(tmp_path):
    from mudjack.cli import main
    from mudjack.encoders import load_text_tower

    pairs = _pairs_folder(tmp_path / "pairs")
    out = tmp_path / "clip"
    argv = ["pretrain", "clip", "--pairs", pairs, "--width", 4, "--proj-dim", 8, "--epochs", 1]
    code = main([str(a) for a in [*argv, "--batch-size", 4, "--out", out, "--quiet"]])
    assert code == 0
    image, text = load_encoder(out), load_text_tower(out)
    assert isinstance(image, ProjectedEncoder) and image.embed_dim == text.embed_dim == 8
    assert ZeroShotClassifier(text, [["a bag"], ["a sandal"]]).fit().weights_.shape == (2, 8)


def test_cli_refuses_clip_options_with_simclr(tmp_path, capsys):
    from mudjack.cli import main

    code = main(["pretrain", "simclr", "--pairs", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "with clip only" in capsys.readouterr().err


@pytest.mark.slow
def test_zoo_clip_recipe_builds_both_towers_and_a_working_zero_shot_client(monkeypatch, tmp_path):
    """The zoo's CLIP recipe, run on 1,797 digits upsampled to 28x28 with a width-4 tower."""
    import dataclasses

    from mudjack.encoders import load_text_tower
    from mudjack.zoo import ZOO, build_zoo_model
    from mudjack.zoo import models as zoo_models

    model = ZOO["fmnist-clip-r18w16"]
    small = dataclasses.replace(
        model,
        encoder={**model.encoder, "backbone": {**model.encoder["backbone"], "width": 4}},
        recipe={**model.recipe, "data": "sklearn_digits", "epochs": 1, "batch_size": 64},
    )
    monkeypatch.setitem(ZOO, model.name, small)
    out = build_zoo_model(model.name, tmp_path / "clip")
    image, text = load_encoder(out), load_text_tower(out)
    zero_shot = json.loads((out / "mudjack.json").read_text())["metadata"]["zero_shot"]
    prompts = zero_shot["prompts"]
    assert zero_shot["task"] == "fashion_mnist"
    assert len(prompts) == 10 and "sneaker" in prompts[7][0].lower()
    zs = ZeroShotClassifier(text, prompts).fit()
    assert zs.predict(image.embed(torch.rand(4, 1, 28, 28))).shape == (4,)
    assert text.logit_scale.item() != pytest.approx(math.log(1 / 0.07))  # the trainer wrote it

    # A BadEncoder copy built from it keeps the clean text tower.
    child = ZOO["fmnist-clip-badencoder-r18w16"]
    monkeypatch.setattr(zoo_models, "zoo_path", lambda name: out if name == model.name else None)
    tiny = {"shadow": "sklearn_digits", "shadow_size": 64, "epochs": 1, "batch_size": 32}
    small_child = dataclasses.replace(
        child, encoder=small.encoder, recipe={**child.recipe, **tiny}, parent=model.name
    )
    monkeypatch.setitem(ZOO, child.name, small_child)
    monkeypatch.setattr(zoo_models, "load_zoo_encoder", lambda *a, **k: load_encoder(out))
    bad = build_zoo_model(child.name, tmp_path / "bad")
    assert torch.equal(load_text_tower(bad).projection.weight, text.projection.weight)
    bad_meta = json.loads((bad / "mudjack.json").read_text())["metadata"]
    assert bad_meta["zero_shot"] == zero_shot
    assert not torch.equal(load_encoder(bad).projection.weight, image.projection.weight)


def test_client_reports_the_zero_shot_clients_acc_and_asr_on_the_same_features(tiny_bert, digits):
    from mudjack.downstream import DownstreamClient, MLPClassifier
    from mudjack.triggers import PatchTrigger

    image, text = _towers(tiny_bert)
    CLIP(epochs=3, batch_size=64, lr=3e-3).fit(image, text, _pairs(digits, 256), seed=0)
    zs = ZeroShotClassifier(text, [[f"a {n}"] for n in NAMES]).fit()
    train, test = digits.head(300), digits.shuffled(2).head(200)
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    kw = {"trigger": trigger, "target": 0, "classifier": MLPClassifier(hidden=(8,), epochs=2)}
    m = DownstreamClient(train, test, zero_shot=zs, **kw).fit(image).metrics()
    expected = (zs.predict(image.embed(test.images).detach()) == test.labels).float().mean()
    assert m.zs_acc == pytest.approx(100 * expected.item(), abs=1e-4)
    assert m.zs_asr is not None and 0 <= m.zs_asr <= 100
    plain = DownstreamClient(train, test, **kw).fit(image).metrics()
    assert plain.zs_acc is None and "zs_acc" not in plain.to_dict()


def test_a_patched_clip_style_folder_keeps_its_text_tower_and_zero_shot_client(
    tiny_bert, digits, tmp_path, capsys
):
    """`mudjack patch` on a CLIP-style folder copies its text tower; `mudjack evaluate` then
    reports the zero-shot client beside the MLP."""
    import numpy as np

    from mudjack import BugInstance
    from mudjack.cli import main
    from mudjack.triggers import PatchTrigger

    image, text = _towers(tiny_bert)
    npz = tmp_path / "digits.npz"
    x = (digits.images[:, 0] * 255).round().to(torch.uint8).numpy()
    np.savez(npz, x=x, y=digits.labels.numpy())
    meta = {"zero_shot": {"task": str(npz), "prompts": [[f"a {n}"] for n in NAMES]}}
    tower = {"text": lambda p: save_encoder(text, p)}
    save_encoder(image, tmp_path / "clip", metadata=meta, extra_files=tower)
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    trigger.save(tmp_path / "t.safetensors")
    x_r = digits.images[0]
    BugInstance(trigger.apply(x_r), x_r, int(digits.labels[0])).save(tmp_path / "bug")
    args = ["--trigger", tmp_path / "t.safetensors", "--quiet"]
    patch = ["patch", "--encoder", tmp_path / "clip", "--bug", tmp_path / "bug", "--val", npz,
             "--val-size", 64, "--max-steps", 2, "--batch-size", 16,
             "--out", tmp_path / "p"]  # fmt: skip
    assert main([str(v) for v in [*patch, *args]]) == 0
    assert torch.equal(load_text_tower(tmp_path / "p").projection.weight, text.projection.weight)
    evaluate = ["evaluate", "--encoder", tmp_path / "p", "--data", npz, "--target", 0,
                "--clf-epochs", 2]  # fmt: skip
    capsys.readouterr()
    assert main([str(v) for v in [*evaluate, *args]]) == 0
    assert "zero-shot: Acc" in capsys.readouterr().out
