"""`mudjack report`: a self-contained HTML page of a patch or of an experiment's results."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.cli._common import add_common
from mudjack.errors import InputError
from mudjack.report.html import write_report
from mudjack.utils import ensure_new_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="a self-contained HTML report of a patched encoder or of results",
        description="For a patched encoder folder: x_b, x_r, the attribution heatmap (or the "
        "word scores), the recovered trigger beside the true one when known, the loss terms "
        "during the patch, the metrics before and after (metrics.json of the parent and of "
        "the folder), the gate verdicts (intake.json of the bug folder, gate.json of the "
        "folder) and the history chain. For a results NAME.json: its table and figure. "
        "Images are inlined: the page is one file.",
    )
    p.add_argument("source", type=Path, help="a patched encoder folder, or a results NAME.json")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write (new)")
    p.add_argument("--bug", type=Path, help="the bug folder, if not at its recorded path")
    p.add_argument("--parent", help="the parent encoder, if not at its recorded path")
    p.add_argument(
        "--before",
        type=Path,
        help="the parent's metrics JSON (default: metrics.json in the parent's folder)",
    )
    add_common(p)


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "report file")
    if not a.source.exists():
        raise InputError(
            f"Expected a patched encoder folder or a results .json file, but {str(a.source)!r} "
            "does not exist."
        )
    if a.before is not None and not a.before.is_file():
        raise InputError(f"Expected a metrics JSON file for --before, got {str(a.before)!r}.")
    kwargs = {} if a.source.is_file() else {
        "bug": a.bug, "parent": a.parent, "before": a.before, "device": a.device
    }  # fmt: skip
    write_report(a.source, a.out, **kwargs)
    print(f"report written to {a.out}")
    return 0
