"""An encoder's version history and the difference between two encoders.

A patched encoder folder records the patch that made it (``provenance`` in ``mudjack.json``:
parent, bug, trigger, hyperparameters, seed, steps) and its ancestors' records
(``provenance.history``). :func:`patch_chain` turns that into the chain h → h'1 → h'2, one
:class:`Version` each; what a provider wrote beside a folder's weights (``metrics.json`` from
``mudjack evaluate --json FOLDER/metrics.json``, ``gate.json`` from ``mudjack check``) is shown
with the last version. :func:`weight_changes` and :func:`feature_drift` compare two encoders.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.downstream.client import extract_features
from mudjack.encoders import Encoder, encoder_folder, load_encoder, read_config
from mudjack.errors import InputError
from mudjack.utils import sha256_tensors

# Files a provider may add to a patched folder that the history shows.
RECORDS = ("metrics.json", "gate.json")


@dataclass
class Version:
    """One encoder of a chain.

    Attributes:
        index: 0 for the root h, i for h'_i.
        name: the folder or zoo name (as recorded by the patch that used it as parent).
        state_sha256: SHA-256 over the weights' tensors (``sha256_tensors`` of the state dict),
            the same for a folder and a copy of it; None where nothing recorded it.
        made_by: the record of the patch that made it (empty for the root): ``bug``,
            ``bug_sha256``, ``trigger``, ``patcher``, ``seed``, ``steps``, ``validation``,
            ``time``; for the root, what built it (an attack, a zoo recipe), if recorded.
        records: the contents of ``metrics.json`` / ``gate.json`` found in its folder.
    """

    index: int
    name: str
    state_sha256: str | None
    made_by: dict[str, Any]
    records: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "history"}


def _records(folder: Path) -> dict[str, Any]:
    out = {}
    for name in RECORDS:
        path = folder / name
        if path.is_file():
            try:
                out[name.removesuffix(".json")] = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(
                    f"Expected JSON in {str(path)!r}, got a corrupt file: {exc}."
                ) from exc
    return out


def patch_chain(path: str | os.PathLike[str]) -> list[Version]:
    """The chain root → … → ``path`` (an encoder folder or a zoo name), root first."""
    folder = encoder_folder(path)
    cfg = read_config(folder)
    own = cfg.get("provenance", {})
    if "patcher" not in own:  # not a patched encoder: a chain of one
        state = sha256_tensors(*load_encoder(folder).state_dict().values())
        return [Version(0, str(path), state, _strip(own), _records(folder))]
    patches = [r for r in [*own.get("history", []), own] if "patcher" in r]
    roots = [r for r in own.get("history", []) if "patcher" not in r]
    chain = [Version(0, patches[0]["parent"], patches[0].get("parent_state_sha256"),
                     _strip(roots[-1]) if roots else {})]  # fmt: skip
    for i, rec in enumerate(patches, start=1):
        nxt = patches[i]["parent_state_sha256"] if i < len(patches) else None
        name = patches[i]["parent"] if i < len(patches) else str(path)
        chain.append(Version(i, name, nxt, _strip(rec)))
    chain[-1].state_sha256 = sha256_tensors(*load_encoder(folder).state_dict().values())
    chain[-1].records = _records(folder)
    return chain


def weight_changes(a: Encoder, b: Encoder) -> list[dict[str, Any]]:
    """Per tensor of the state dict: ``‖θ_b − θ_a‖ / ‖θ_a‖`` (``inf`` where θ_a is zero and
    θ_b is not), in state-dict order. Floating-point tensors only (BatchNorm counters are
    skipped)."""
    sa, sb = a.state_dict(), b.state_dict()
    if list(sa) != list(sb) or any(sa[k].shape != sb[k].shape for k in sa):
        raise InputError(
            f"Expected two encoders of the same architecture, got {a.name} and {b.name} with "
            "different weights (names or shapes). Compare an encoder with its own patches."
        )
    rows = []
    for key, ta in sa.items():
        if not ta.is_floating_point():
            continue
        ta, tb = ta.detach().double().cpu(), sb[key].detach().double().cpu()
        num, den = float((tb - ta).norm()), float(ta.norm())
        rel = num / den if den > 0 else (0.0 if num == 0 else float("inf"))
        rows.append({"name": key, "shape": list(ta.shape), "relative_change": rel})
    return rows


def feature_drift(
    a: Encoder,
    b: Encoder,
    inputs: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """How far ``b`` moves the features of ``inputs`` from ``a``'s: the mean, minimum and
    5th percentile of the cosine similarity between h_a(x) and h_b(x), over the inputs."""
    fa = extract_features(a, inputs, batch_size=batch_size, device=device)
    fb = extract_features(b, inputs, batch_size=batch_size, device=device)
    cos = F.cosine_similarity(fa, fb, dim=1)
    return {
        "n": len(cos),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "p05_cosine": float(torch.quantile(cos, 0.05)),
    }
