"""Recipes for the shipped models (see the package docstring)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mudjack.encoders import Encoder, create_encoder, load_encoder, save_encoder
from mudjack.errors import ModelLoadError, UnknownNameError
from mudjack.utils import seeded, sha256_file, write_json_atomic

ZOO_DIR = Path(__file__).resolve().parent
MANIFEST = ZOO_DIR / "MANIFEST.json"


@dataclass(frozen=True)
class ZooModel:
    """A shipped model and how to rebuild it."""

    name: str
    description: str
    encoder: dict[str, Any]
    recipe: dict[str, Any]
    parent: str | None = None
    ground_truth: dict[str, Any] = field(default_factory=dict)


_ENCODER = {"name": "resnet18", "width": 16, "in_channels": 1, "image_size": 28}
_TRIGGER = {"kind": "patch", "size": 6, "margin": 1, "corner": "bottom-right", "value": 1.0}

_BADENCODER_RECIPE = {
    "method": "badencoder",
    "shadow": "fashion_mnist",
    "shadow_size": 10000,
    "downstream": "fashion_mnist",
    "target": 0,
    "n_reference": 3,
    "epochs": 3,
    "batch_size": 128,
    "lr": 1e-3,
    "lambda1": 1.0,
    "lambda2": 1.0,
    "seed": 0,
}

ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel(
            name="fmnist-simclr-r18w16",
            description="Clean SimCLR ResNet-18 (width 16, 128-d features) pre-trained on "
            "Fashion-MNIST train (60,000 images).",
            encoder=_ENCODER,
            recipe={
                "method": "simclr",
                "data": "fashion_mnist",
                "epochs": 5,
                "batch_size": 256,
                "lr": 1e-3,
                "temperature": 0.5,
                "seed": 0,
            },
        ),
        ZooModel(
            name="fmnist-badencoder-r18w16",
            description="BadEncoder-backdoored copy of fmnist-simclr-r18w16 aimed at the "
            "Fashion-MNIST downstream task: a white 6x6 square at the bottom-right sends inputs "
            "to class 0 (T-shirt/top).",
            encoder=_ENCODER,
            parent="fmnist-simclr-r18w16",
            recipe=_BADENCODER_RECIPE,
            ground_truth={"trigger": _TRIGGER, "target": 0, "downstream": "fashion_mnist"},
        ),
        ZooModel(
            name="fmnist-badencoder-mnist5k-r18w16",
            description="BadEncoder-backdoored copy of fmnist-simclr-r18w16 aimed at the MNIST-5k "
            "downstream task (shifted domain): the same trigger sends digits to class 0.",
            encoder=_ENCODER,
            parent="fmnist-simclr-r18w16",
            recipe={**_BADENCODER_RECIPE, "downstream": "mnist5k"},
            ground_truth={"trigger": _TRIGGER, "target": 0, "downstream": "mnist5k"},
        ),
    ]
}


def _lookup(name: str) -> ZooModel:
    if name not in ZOO:
        raise UnknownNameError(f"Unknown zoo model {name!r}. Expected one of: {', '.join(ZOO)}.")
    return ZOO[name]


def zoo_path(name: str) -> Path:
    """Folder of a shipped model."""
    return ZOO_DIR / _lookup(name).name


def manifest() -> dict[str, str]:
    """Recorded SHA-256 of each shipped weights file."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def load_zoo_encoder(name: str, device: str | torch.device = "cpu") -> Encoder:
    """Load a shipped model, checking its weights against the manifest."""
    folder = zoo_path(name)
    if not folder.is_dir():
        raise ModelLoadError(
            f"Shipped model {name!r} is missing from {str(folder)!r}. Rebuild it with "
            f"`mudjack zoo build {name}` or reinstall mudjack."
        )
    expected = manifest().get(name)
    if expected and sha256_file(folder / "model.safetensors") != expected:
        raise ModelLoadError(
            f"Shipped model {name!r} does not match its recorded SHA-256 {expected[:12]}...; "
            f"rebuild it with `mudjack zoo build {name}`."
        )
    return load_encoder(folder, device=device)


def build_zoo_model(
    name: str,
    out: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: bool = False,
    record: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Rebuild a shipped model from its recipe into ``out`` (a new folder).

    With ``record=True`` and no ``out``, writes into the package's zoo folder (which must not
    exist yet) and records the weights' SHA-256 in the manifest: the maintainer's step.
    """
    from mudjack.zoo.recipes import run_recipe

    model = _lookup(name)
    target = Path(out) if out is not None else ZOO_DIR / name
    if out is None and not record:
        raise ValueError("Give an output folder, or record=True to rebuild the shipped copy.")
    enc_kwargs = {k: v for k, v in model.encoder.items() if k != "name"}
    with seeded(model.recipe["seed"]):
        fresh = create_encoder(model.encoder["name"], **enc_kwargs)
    parent = load_zoo_encoder(model.parent, device) if model.parent else None
    encoder, metadata = run_recipe(model, fresh, parent, device=device, progress=progress, log=log)
    save_encoder(
        encoder.cpu(),
        target,
        provenance={"zoo": name, "recipe": model.recipe, "parent": model.parent},
        metadata={"description": model.description, "ground_truth": model.ground_truth, **metadata},
    )
    if record:
        entries = manifest()
        entries[name] = sha256_file(target / "model.safetensors")
        write_json_atomic(MANIFEST, entries, overwrite=True)
    return target
