"""How each shipped model is trained from its recipe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mudjack.encoders import Encoder, TextEncoder
from mudjack.errors import InputError


def run_recipe(
    model: Any,
    fresh: Encoder,
    parent: Encoder | None,
    *,
    device: str | torch.device = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[Encoder, dict[str, Any]]:
    """Train the encoder described by ``model`` (a :class:`ZooModel`); return it and metadata."""
    method = model.recipe["method"]
    if method not in _RECIPES:
        raise InputError(
            f"Unknown recipe method {method!r} for zoo model {model.name!r}. Expected one of: "
            f"{', '.join(_RECIPES)}."
        )
    if method != "simclr" and parent is None:
        raise InputError(f"Recipe {model.name!r} ({method}) needs a parent encoder; got none.")
    run = _RECIPES[method]
    return run(model, fresh, parent, device=device, progress=progress, log=log)


def _simclr(model: Any, fresh: Encoder, parent: Any, **kw: Any) -> tuple[Encoder, dict]:
    from mudjack.data import load_pretraining
    from mudjack.pretrain import SimCLR

    r, log = model.recipe, kw.pop("log")
    data = load_pretraining(r["data"])
    trainer = SimCLR(
        epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"], temperature=r["temperature"]
    )

    def on_epoch(epoch: int, loss: float) -> None:
        if log is not None:
            log(f"epoch {epoch}: NT-Xent {loss:.4f}")

    enc = trainer.fit(fresh, data.images, seed=r["seed"], on_epoch=on_epoch, **kw)
    return enc, {"trainer": trainer.provenance()}


def _badencoder(model: Any, fresh: Encoder, parent: Any, **kw: Any) -> tuple[Encoder, dict]:
    """BadEncoder (and its source-specific extension, whose shadow set is the labelled
    downstream training set) with the recipe's trigger spec."""
    from mudjack.attacks import BadEncoder, SourceSpecificBadEncoder, select_reference_inputs
    from mudjack.data import load_downstream, load_pretraining
    from mudjack.triggers import trigger_from_spec

    r = model.recipe
    kw.pop("log")
    down_train, _ = load_downstream(r["downstream"])
    refs = select_reference_inputs(down_train, r["target"], r["n_reference"], seed=r["seed"])
    spec = r.get("trigger", model.ground_truth["trigger"])
    trigger = trigger_from_spec(spec, fresh.input_spec.shape)
    schedule = {k: r[k] for k in ("epochs", "batch_size", "lr", "lambda1", "lambda2")}
    labels = None
    if r["method"] == "badencoder-source":
        shadow = down_train.shuffled(r["seed"])
        labels = shadow.labels
        attack: BadEncoder = SourceSpecificBadEncoder(
            source=r["source"], alpha1=r["alpha1"], **schedule
        )
    else:
        shadow = load_pretraining(r["shadow"]).shuffled(r["seed"]).head(r["shadow_size"])
        attack = BadEncoder(**schedule)
    enc = attack.fit(parent, shadow.images, refs, trigger, labels=labels, seed=r["seed"], **kw)
    return enc, {"attack": attack.provenance()}


def _text_backdoor(model: Any, fresh: Encoder, parent: Any, **kw: Any) -> tuple[Encoder, dict]:
    from mudjack.attacks import create_attack
    from mudjack.data import TextDataset, load_pretraining

    r = model.recipe
    kw.pop("log")
    shadow = load_pretraining(r["shadow"]).shuffled(r["seed"]).head(r["shadow_size"])
    if not isinstance(parent, TextEncoder) or not isinstance(shadow, TextDataset):
        raise InputError(
            f"Recipe {model.name!r} needs a text parent and text shadow data; got a "
            f"{getattr(parent, 'modality', '?')} parent and {type(shadow).__name__}."
        )
    attack = create_attack(
        r["method"],
        triggers=r["triggers"],
        steps=r["steps"],
        batch_size=r["batch_size"],
        lr=r["lr"],
        lambda_clean=r["lambda_clean"],
    )
    enc = attack.fit(parent, shadow.texts, seed=r["seed"], **kw)
    return enc, {"attack": attack.provenance()}


_RECIPES: dict[str, Callable[..., tuple[Encoder, dict[str, Any]]]] = {
    "simclr": _simclr,
    "badencoder": _badencoder,
    "badencoder-source": _badencoder,
    "por": _text_backdoor,
    "neuba": _text_backdoor,
}
