"""Loading an encoder by zoo name or folder, and the ground truth recorded with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from mudjack.encoders import Encoder, load_encoder, load_text_encoder, read_config
from mudjack.encoders.io import is_hf_folder
from mudjack.errors import InputError
from mudjack.triggers import PatchTrigger, TextTrigger, Trigger, load_trigger
from mudjack.zoo import ZOO, load_zoo_encoder, zoo_path


def encoder_folder(name_or_path: str) -> Path:
    """The folder of a zoo model by name, or the given encoder folder path."""
    return zoo_path(name_or_path) if name_or_path in ZOO else Path(name_or_path)


def resolve_encoder(
    name_or_path: str,
    device: str | torch.device = "cpu",
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Encoder:
    """A zoo model by name (text models are built on first use), a mudjack encoder folder, or
    a plain Hugging Face model folder (wrapped with the default [CLS] pooling)."""
    if name_or_path in ZOO:
        return load_zoo_encoder(name_or_path, device, progress=progress, log=log)
    folder = Path(name_or_path)
    if not (folder / "mudjack.json").is_file() and is_hf_folder(folder):
        return load_text_encoder(folder).to(device)
    return load_encoder(folder, device=device)


def ground_truth(name_or_path: str) -> tuple[Trigger, int | None]:
    """The true trigger and target class recorded with a backdoored encoder.

    Both come from ``metadata.ground_truth`` in ``mudjack.json`` (the trigger may also be a
    ``trigger.safetensors`` beside it). Text backdoors (POR, NeuBA) have no target class of
    their own: the target is ``None`` and a client's target is the class its classifier gives
    triggered inputs (:func:`attack_target`). Zoo models answer from their recipe, so a text
    model need not be built to know its trigger.
    """
    if name_or_path in ZOO and ZOO[name_or_path].modality == "text":
        truth = ZOO[name_or_path].ground_truth
        folder, cfg = None, {}
    else:
        folder = encoder_folder(name_or_path)
        cfg = read_config(folder)
        truth = cfg.get("metadata", {}).get("ground_truth", {})
    spec = dict(truth.get("trigger", {}))
    kind = spec.pop("kind", None)
    if kind == "text":
        return TextTrigger(spec["words"], spec.get("position", "end")), truth.get("target")
    assert folder is not None
    if "target" in truth and (folder / "trigger.safetensors").is_file():
        trigger = load_trigger(folder / "trigger.safetensors")
        if isinstance(trigger, PatchTrigger):
            return trigger, int(truth["target"])
    if "target" not in truth or kind != "patch":
        raise InputError(
            f"Encoder {name_or_path!r} records no ground-truth patch trigger and "
            "target; pass them explicitly."
        )
    spec_in = cfg["input_spec"]
    shape = (spec_in["channels"], spec_in["height"], spec_in["width"])
    return PatchTrigger.square(shape, **spec), int(truth["target"])
