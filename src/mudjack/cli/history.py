"""`mudjack history`: an encoder's chain h → h'1 → h'2, with what made each version."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mudjack.cli._common import add_common
from mudjack.history import Version, patch_chain
from mudjack.utils import ensure_new_path, write_json_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "history",
        help="the chain of patches that made an encoder folder",
        description="Print the chain root -> h'1 -> h'2 ... of an encoder folder: each "
        "version's weights hash, the bug instance and trigger of the patch that made it, its "
        "hyperparameters, and the metrics.json / gate.json found in the last folder.",
    )
    p.add_argument("folder", help="encoder folder (or zoo name)")
    p.add_argument("--json", type=Path, help="also write the chain as JSON (new file)")
    add_common(p)


def _made_by(rec: dict[str, Any]) -> str:
    if "patcher" not in rec:
        if "attack" in rec:
            return f"attack {rec['attack'].get('name', '?')} (target {rec['attack'].get('target')})"
        return f"zoo recipe {rec['zoo']}" if "zoo" in rec else "no record"
    p, val = rec["patcher"], rec.get("validation", {})
    hyper = " ".join(f"{k}={p[k]}" for k in ("lambda_l", "lambda_g", "lr", "batch_size") if k in p)
    return (
        f"bug {rec.get('bug')} (sha256 {str(rec.get('bug_sha256'))[:12]}), trigger "
        f"{rec.get('trigger')}; {p.get('name', 'mudjacking')} {rec.get('steps')} steps, "
        f"seed {rec.get('seed')}, {hyper}; D_val {val.get('data')} x{val.get('size')}; "
        f"{rec.get('time', '')}"
    )


def _records(v: Version) -> list[str]:
    lines = []
    m = v.records.get("metrics")
    if m:
        cp = {True: "yes", False: "no"}.get(m.get("cp"), "-")
        names = {"acc": "Acc", "asr": "ASR", "accb": "AccB"}
        nums = "  ".join(f"{names[k]} {m[k]:.2f}" for k in names if k in m)
        lines.append(f"metrics: CP {cp}  {nums}")
    g = v.records.get("gate")
    if g:
        lines.append(f"gate: {g.get('verdict', '?')}")
    return lines


def format_chain(chain: list[Version]) -> str:
    """The chain as text, one block per version."""
    out = []
    for v in chain:
        tag = "h" if v.index == 0 else f"h'{v.index}"
        sha = (v.state_sha256 or "unrecorded")[:12]
        out.append(f"{tag:<5}{v.name}  (weights {sha})")
        out.extend(f"     {line}" for line in [_made_by(v.made_by), *_records(v)])
    return "\n".join(out)


def run(a: argparse.Namespace) -> int:
    if a.json:
        ensure_new_path(a.json, "history file")
    chain = patch_chain(a.folder)
    print(format_chain(chain))
    if a.json:
        write_json_atomic(a.json, [v.to_dict() for v in chain])
    return 0
