"""What the HTML report shows of one patched encoder folder, gathered from the folder, its
record and the files beside it (see :func:`gather`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mudjack.attacks import ground_truth
from mudjack.bug import BugInstance, load_bug
from mudjack.encoders import load_encoder, read_config
from mudjack.errors import MudjackError
from mudjack.history import Version, patch_chain
from mudjack.reverse import TriggerReverser
from mudjack.triggers import Trigger, load_trigger


@dataclass
class PatchReport:
    """One patch, as the report shows it (None where something could not be found; ``notes``
    say why)."""

    folder: str
    record: dict[str, Any]
    chain: list[Version]
    bug: BugInstance | None = None
    scores: torch.Tensor | None = None
    words: list[tuple[str, float]] | None = None
    trigger: Trigger | None = None
    true_trigger: Trigger | None = None
    target: int | None = None
    log: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def gather(
    folder: str | os.PathLike[str],
    *,
    bug: str | os.PathLike[str] | None = None,
    parent: str | None = None,
    before: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> PatchReport:
    """Everything the report of ``folder`` shows. The bug folder and the parent encoder are
    read from their recorded paths unless given; the attribution heatmap (or the word scores)
    is recomputed on the parent with the patch's seed. ``before``: the parent's metrics JSON
    (default: ``metrics.json`` in the parent's folder)."""
    path = Path(folder)
    cfg = read_config(path)
    rec = cfg.get("provenance", {})
    rep = PatchReport(str(path), rec, patch_chain(path))
    rep.log = _json(path / "patch_log.json") or []
    if (path / "trigger.safetensors").is_file():
        rep.trigger = load_trigger(path / "trigger.safetensors")
    try:
        rep.true_trigger, rep.target = ground_truth(path)
    except MudjackError:
        rep.notes.append("no ground truth recorded: the true trigger is unknown")
    _read_records(rep, path, rec)
    if before is not None:
        rep.metrics["before"] = _json(Path(before)) or {}
    bug_path = bug or rec.get("bug")
    if bug_path is not None:
        try:
            rep.bug = load_bug(bug_path)
        except MudjackError as exc:
            rep.notes.append(f"bug folder not read ({exc}); pass --bug")
    if rep.bug is not None and "parent" in rec:
        _attribution(rep, parent or rec["parent"], device)
    return rep


def _read_records(rep: PatchReport, path: Path, rec: dict[str, Any]) -> None:
    """metrics.json of the folder (after) and of its parent (before); intake.json of the bug
    folder and gate.json (release) of the folder."""
    after = _json(path / "metrics.json")
    if after:
        rep.metrics["after"] = after
    if "parent" in rec and Path(rec["parent"]).is_dir():
        before = _json(Path(rec["parent"]) / "metrics.json")
        if before:
            rep.metrics["before"] = before
    if rec.get("bug"):
        intake = _json(Path(rec["bug"]) / "intake.json")
        if intake:
            rep.verdicts["intake"] = intake
    release = _json(path / "gate.json")
    if release:
        rep.verdicts[release.get("stage", "release")] = release


def _attribution(rep: PatchReport, parent: str, device: str) -> None:
    try:
        enc = load_encoder(parent, device)
        rev = TriggerReverser().reverse(enc, rep.bug.check(enc), seed=rep.record.get("seed", 0),
                                        device=device)  # type: ignore[union-attr]  # fmt: skip
    except MudjackError as exc:
        rep.notes.append(f"attribution not recomputed: parent {parent!r} not usable ({exc})")
        return
    rep.scores = rev.scores.detach().cpu()
    if rep.bug.modality == "text":  # type: ignore[union-attr]
        words = str(rep.bug.x_b).split()  # type: ignore[union-attr]
        rep.words = [(w, float(s)) for w, s in zip(words, rep.scores.tolist(), strict=False)]
