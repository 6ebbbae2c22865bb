"""`mudjack bug draw`: a real bug instance from a client task."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.bug import select_bug
from mudjack.cli._common import (
    TARGET_HELP,
    add_classifier,
    add_common,
    data_help,
    fitted_client,
    nonnegative_int,
)
from mudjack.utils import ensure_new_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bug", help="draw a real bug instance from a client task")
    p.add_argument("action", choices=["draw"])
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument("--data", help=data_help())
    p.add_argument("--target", type=nonnegative_int, help=TARGET_HELP)
    p.add_argument("--trigger", type=Path, help="trigger file (default: the encoder's record)")
    p.add_argument("--out", type=Path, required=True, help="new bug folder")
    add_classifier(p)
    add_common(p)


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "bug folder")
    client = fitted_client(a)
    bug = select_bug(client, seed=a.seed)
    bug.save(a.out)
    print(
        f"bug instance written to {a.out}: class {bug.label}, predicted {bug.metadata['predicted']}"
    )
    return 0
