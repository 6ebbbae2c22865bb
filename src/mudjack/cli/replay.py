"""`mudjack replay`: re-run the patch that made an encoder folder, from its record alone, and
say whether the weights came out the same."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mudjack.bug import load_bug
from mudjack.cli._common import add_common, log, validation
from mudjack.cli.patch import patch_files
from mudjack.data.augment import PatchAugment
from mudjack.encoders import load_encoder, read_config, save_encoder
from mudjack.errors import InputError
from mudjack.patching import Mudjacking
from mudjack.patching.stopping import StopRule
from mudjack.triggers import load_trigger
from mudjack.utils import ensure_new_path, sha256_tensors


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run the patch that made an encoder folder and compare the weights",
        description="Re-run the last patch recorded in FOLDER (its parent, bug instance, "
        "trigger.safetensors, D_val, hyperparameters and seed) into a new folder, and say "
        "whether the weights are identical (exit 0) or not (exit 1). On CPU with the same "
        "thread count they are; on a GPU, or another torch build, the last bits may differ.",
    )
    p.add_argument("folder", type=Path, help="a patched encoder folder")
    p.add_argument("--out", type=Path, required=True, help="new encoder folder for the replay")
    p.add_argument("--parent", help="the parent encoder, if not at its recorded path")
    p.add_argument("--bug", type=Path, help="the bug folder, if not at its recorded path")
    add_common(p)


def _patcher(params: dict[str, Any]) -> Mudjacking:
    """Mudjacking with the recorded hyperparameters (the default augmentation, checked)."""
    names = set(Mudjacking.param_names())
    unknown = sorted(set(params) - names)
    if unknown or params.get("augment") != repr(PatchAugment()):
        raise InputError(
            "Expected a record of a `mudjack patch` run (Mudjacking with its default "
            f"augmentation), got parameters {unknown or ['augment=' + str(params.get('augment'))]}"
            ". Replay re-runs patches made by `mudjack patch`."
        )
    kwargs = {k: v for k, v in params.items() if k != "augment"}
    if isinstance(kwargs.get("stop"), str):  # recorded as the rule's repr
        kwargs["stop"] = StopRule.from_record(kwargs["stop"])
    return Mudjacking(**kwargs)


def _check(what: str, got: str, want: str, flag: str) -> None:
    if got != want:
        raise InputError(
            f"Expected the {what} the patch recorded (SHA-256 {want[:12]}…), got one with "
            f"{got[:12]}…. Pass {flag} with the original."
        )


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "encoder folder")
    cfg = read_config(a.folder)
    rec = cfg.get("provenance", {})
    if "patcher" not in rec:
        raise InputError(
            f"Expected a patched encoder folder, but {str(a.folder)!r} records no patch. "
            "`mudjack history` shows what made it."
        )
    patcher = _patcher(rec["patcher"])
    parent = load_encoder(a.parent or rec["parent"], a.device)
    _check("parent", sha256_tensors(*parent.state_dict().values()), rec["parent_state_sha256"],
           "--parent")  # fmt: skip
    bug = load_bug(a.bug or rec["bug"]).check(parent)
    _check("bug instance", bug.sha256, rec["bug_sha256"], "--bug")
    trigger = load_trigger(a.folder / "trigger.safetensors").check(parent)
    val = validation(rec["validation"]["data"], rec["validation"]["size"], rec["seed"],
                     parent.modality)  # fmt: skip
    result = patcher.patch(
        parent, bug, val, trigger, seed=rec["seed"], device=a.device, progress=not a.quiet
    )
    record = {**rec, "replay_of": str(a.folder)}
    files = patch_files(trigger, result.history, a.parent or rec["parent"])
    save_encoder(result.encoder.cpu(), a.out, provenance=record, metadata=cfg.get("metadata"),
                 extra_files=files)  # fmt: skip
    original = load_encoder(a.folder).state_dict().values()
    same = sha256_tensors(*result.encoder.state_dict().values()) == sha256_tensors(*original)
    if not a.quiet:
        log(f"replayed {result.steps} steps in {result.seconds:.1f}s into {a.out}")
    print(f"weights {'identical to' if same else 'DIFFER from'} {a.folder}")
    return 0 if same else 1
