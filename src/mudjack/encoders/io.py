"""Save and load encoders as a folder: ``config.json`` + ``model.safetensors``.

Loading never unpickles: weights are read with safetensors and the
architecture is rebuilt from the registry name and keyword arguments in
``config.json``. A patched encoder's ``config.json`` also carries its
``provenance`` (parent hash, bug hash, trigger, hyperparameters, seed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mudjack.encoders.base import Encoder
from mudjack.encoders.registry import create_encoder, encoder_class
from mudjack.errors import InputError, ModelLoadError, UnknownNameError
from mudjack.utils import atomic_dir, sha256_file, write_json_atomic

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "mudjack-encoder/1"


def save_encoder(
    encoder: Encoder,
    path: str | os.PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``encoder`` to a new folder ``path`` (atomically; never overwrites)."""
    if not isinstance(encoder, Encoder):
        raise InputError(f"Expected a mudjack Encoder, got {type(encoder).__name__}.")
    with atomic_dir(path, "encoder folder") as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME))
        cfg = {
            "format": FORMAT,
            "encoder": encoder.name,
            "kwargs": encoder.config(),
            "embed_dim": encoder.embed_dim,
            "input_spec": encoder.input_spec.to_dict(),
            "weights_sha256": sha256_file(tmp / WEIGHTS_NAME),
            "provenance": provenance or {},
            "metadata": metadata or {},
        }
        write_json_atomic(tmp / CONFIG_NAME, cfg)
    return Path(path)


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check an encoder folder's ``config.json``."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(
            f"Expected an encoder folder containing {CONFIG_NAME} and {WEIGHTS_NAME}, but "
            f"{str(folder)!r} is not a folder. Check the path, or build one with "
            "`mudjack pretrain` / `mudjack zoo build`."
        )
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelLoadError(
            f"Expected {CONFIG_NAME} in encoder folder {str(folder)!r}; not found."
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"Corrupt {CONFIG_NAME} in {str(folder)!r}: {exc}.") from exc
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT or "encoder" not in cfg:
        got = cfg.get("format") if isinstance(cfg, dict) else type(cfg).__name__
        raise ModelLoadError(
            f"Expected {CONFIG_NAME} with format {FORMAT!r}, got {got!r} in {str(folder)!r}."
        )
    return cfg


def load_encoder(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu", verify: bool = True
) -> Encoder:
    """Load an encoder folder written by :func:`save_encoder`, in eval mode.

    Args:
        path: the folder.
        device: where to put the weights.
        verify: check the weights file against the SHA-256 recorded in ``config.json``.
    """
    folder = Path(path)
    cfg = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelLoadError(
            f"Expected {WEIGHTS_NAME} in encoder folder {str(folder)!r}; not found."
        )
    if verify and cfg.get("weights_sha256") and sha256_file(weights) != cfg["weights_sha256"]:
        raise ModelLoadError(
            f"Corrupt encoder folder {str(folder)!r}: {WEIGHTS_NAME} does not match the SHA-256 "
            "recorded in config.json. Re-copy or rebuild the model."
        )
    try:
        encoder_class(cfg["encoder"])
    except UnknownNameError as exc:
        raise ModelLoadError(f"Cannot load {str(folder)!r}: {exc}") from exc
    encoder = create_encoder(cfg["encoder"], **cfg.get("kwargs", {}))
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"Corrupt {WEIGHTS_NAME} in {str(folder)!r}: {exc}.") from exc
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"Weights in {str(folder)!r} do not fit a {cfg['encoder']} with {cfg.get('kwargs')}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return encoder.to(device).eval()
