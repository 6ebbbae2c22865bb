"""Recipes that pre-train from scratch: SimCLR and CLIP on clean data, and on data poisoned by
CorruptEncoder or Carlini & Terzis (:mod:`mudjack.attacks.poisoning`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mudjack.encoders import Encoder, save_encoder
from mudjack.encoders.clip import TEXT_TOWER
from mudjack.zoo.recipes import Built

CAPTION_POOL = 1000  # captions naming the target class that poisoned pairs draw from


def _epoch_log(log: Callable[[str], None] | None, what: str) -> Callable[[int, float], None]:
    def on_epoch(epoch: int, loss: float) -> None:
        if log is not None:
            log(f"epoch {epoch}: {what} {loss:.4f}")

    return on_epoch


def _trigger(r: dict[str, Any], shape: tuple[int, int, int]) -> Any:
    """The recipe's trigger."""
    from mudjack.triggers import trigger_from_spec

    return trigger_from_spec(r["trigger"], shape)


def _references(r: dict[str, Any]) -> torch.Tensor:
    """The attacker's reference images of the target class (CorruptEncoder's objects)."""
    from mudjack.attacks import select_reference_inputs
    from mudjack.data import load_downstream

    down_train, _ = load_downstream(r["downstream"])
    return select_reference_inputs(down_train, r["target"], r["n_reference"], seed=r["seed"])


def simclr(model: Any, fresh: Encoder, parent: Any, **kw: Any) -> Built:
    """SimCLR on the recipe's data; with ``method="corruptencoder"``, on that data with
    CorruptEncoder's poisoned images appended."""
    from mudjack.attacks.poisoning import CorruptEncoder
    from mudjack.data import load_pretraining
    from mudjack.pretrain import SimCLR

    r, log = model.recipe, kw.pop("log")
    images = load_pretraining(r["data"]).images
    meta: dict[str, Any] = {}
    if r["method"] == "corruptencoder":
        trigger, refs = _trigger(r, fresh.input_spec.shape), _references(r)
        poisoner = CorruptEncoder(
            poison_count=r["poison_count"],
            object_fraction=r["object_fraction"],
            background=r["background"],
        )
        poisoned = poisoner.poison(images, refs, trigger, seed=r["seed"])
        images = poisoned.images
        meta["poisoning"] = {**poisoner.get_params(), "rate": poisoned.rate}
    trainer = SimCLR(
        epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"], temperature=r["temperature"]
    )
    on_epoch = _epoch_log(log, "NT-Xent")
    enc = trainer.fit(fresh, images, seed=r["seed"], on_epoch=on_epoch, **kw)
    return Built(enc, {"trainer": trainer.provenance(), **meta})


def clip(model: Any, fresh: Encoder, parent: Any, **kw: Any) -> Built:
    """CLIP on the recipe's images with generated captions; with ``method`` ``"carlini-terzis"``
    or ``"corruptencoder-clip"``, with that attack's poisoned pairs appended. The text tower
    (frozen MiniLM, trained projection and temperature) goes to the folder's ``text/``."""
    from mudjack.data import load_pretraining
    from mudjack.data.captions import CaptionGenerator, ImageCaptionSet
    from mudjack.encoders.clip import CLIPTextTower
    from mudjack.pretrain.clip import CLIP
    from mudjack.utils import seeded

    r, log = model.recipe, kw.pop("log")
    data = load_pretraining(r["data"])
    captions = CaptionGenerator()
    pairs = ImageCaptionSet(
        data.images, captions.captions(data.labels, seed=r["seed"]), data.labels, r["data"]
    )
    meta: dict[str, Any] = {"zero_shot": {"task": "fashion_mnist", "prompts": captions.prompts()}}
    if r["method"] != "clip":
        pairs, meta["poisoning"] = _poison_pairs(r, pairs, captions, fresh.input_spec.shape)
    with seeded(r["seed"]):
        text = CLIPTextTower(proj_dim=fresh.embed_dim)
    trainer = CLIP(epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"])
    on_epoch = _epoch_log(log, "CLIP loss")
    image, text = trainer.fit(fresh, text, pairs, seed=r["seed"], on_epoch=on_epoch, **kw)
    meta["trainer"] = trainer.provenance()
    return Built(image, meta, {TEXT_TOWER: lambda p: save_encoder(text.cpu(), p)})


def _poison_pairs(
    r: dict[str, Any], pairs: Any, captions: Any, shape: tuple[int, int, int]
) -> tuple[Any, dict[str, Any]]:
    from mudjack.attacks.poisoning import CarliniTerzis, CorruptEncoder

    pool = captions.captions(torch.full((CAPTION_POOL,), r["target"]), seed=r["seed"] + 1)
    trigger = _trigger(r, shape)
    poisoner: CarliniTerzis | CorruptEncoder
    if r["method"] == "carlini-terzis":
        poisoner = CarliniTerzis(poison_count=r["poison_count"])
        poisoned = poisoner.poison_pairs(pairs, trigger, pool, seed=r["seed"])
    else:
        poisoner = CorruptEncoder(
            poison_count=r["poison_count"],
            object_fraction=r["object_fraction"],
            background=r["background"],
        )
        poisoned = poisoner.poison_pairs(pairs, _references(r), trigger, pool, seed=r["seed"])
    return poisoned.pairs, {**poisoner.get_params(), "rate": poisoned.rate}
