"""The ground truth an attack records with the backdoored encoder it builds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mudjack.encoders.io import encoder_folder, read_config
from mudjack.errors import InputError
from mudjack.triggers import PatchTrigger, TextTrigger, Trigger, load_trigger


def _recorded(name_or_path: str | os.PathLike[str]) -> tuple[dict[str, Any], Path | None, dict]:
    """The ground-truth record, the encoder's folder and its config (no folder for a zoo text
    model, which answers from its recipe)."""
    from mudjack.zoo import ZOO  # the zoo builds on the attacks

    if (
        isinstance(name_or_path, str)
        and name_or_path in ZOO
        and ZOO[name_or_path].modality == "text"
    ):
        return ZOO[name_or_path].ground_truth, None, {}
    folder = encoder_folder(name_or_path)
    cfg = read_config(folder)
    return cfg.get("metadata", {}).get("ground_truth", {}), folder, cfg


def ground_truth(name_or_path: str | os.PathLike[str]) -> tuple[Trigger, int | None]:
    """The true trigger and target class recorded with a backdoored encoder.

    Both come from ``metadata.ground_truth`` in ``mudjack.json``: a trigger spec
    (``{"kind": "patch", "size": ...}`` or ``{"kind": "text", "words": [...]}``), or
    ``{"kind": "file", "file": NAME}`` for a trigger file in the encoder's folder. (A patched
    encoder's own ``trigger.safetensors`` is the trigger it was patched with, never the
    attack's.) Text backdoors (POR, NeuBA) have no target class of
    their own: the target is ``None`` and a client's target is the class its classifier gives
    most triggered inputs (``DownstreamClient.target_``). Zoo models answer from their recipe,
    so a text model need not be built to know its trigger.

    Args:
        name_or_path: a zoo model's name or an encoder folder.
    """
    truth, folder, cfg = _recorded(name_or_path)
    spec = dict(truth.get("trigger", {}))
    kind = spec.pop("kind", None)
    if kind == "text":
        return TextTrigger(spec["words"], spec.get("position", "end")), truth.get("target")
    if kind == "file" and folder is not None and "target" in truth:
        return load_trigger(folder / str(spec.get("file", ""))), int(truth["target"])
    if folder is None or "target" not in truth or kind != "patch":
        raise InputError(
            f"Encoder {str(name_or_path)!r} records no ground-truth patch trigger and "
            "target; pass them explicitly."
        )
    spec_in = cfg["input_spec"]
    shape = (spec_in["channels"], spec_in["height"], spec_in["width"])
    return PatchTrigger.square(shape, **spec), int(truth["target"])
