"""`mudjack reverse`: reverse-engineer the trigger in a bug instance."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.bug import load_bug
from mudjack.cli._common import add_common, encoder, positive_int
from mudjack.reverse import TriggerReverser
from mudjack.utils import ensure_new_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reverse", help="reverse-engineer the trigger in a bug instance")
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument(
        "--bug",
        type=Path,
        required=True,
        help="bug folder (images: x_b.png, x_r.png, bug.json; text: bug.json)",
    )
    p.add_argument("--out", type=Path, required=True, help="new trigger file (.safetensors)")
    p.add_argument(
        "--heatmap", type=Path, help="images: folder for PNGs of x_b, x_r, heatmap and mask"
    )
    p.add_argument(
        "--method",
        default="occlusion",
        help="occlusion (default); images: gradcam, saliency, guided_backprop; text: gradient",
    )
    p.add_argument(
        "--window", type=positive_int, default=5, help="image occlusion window (default: 5)"
    )
    p.add_argument(
        "--occlude",
        choices=["remove", "mask", "unk"],
        default="remove",
        help="text occlusion: remove the word (default) or replace it by [MASK] / [UNK]",
    )
    add_common(p)


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "trigger file")
    enc = encoder(a)
    bug = load_bug(a.bug)
    rev = TriggerReverser(method=a.method, window=a.window, occlude=a.occlude).reverse(
        enc, bug, seed=a.seed, device=a.device
    )
    rev.trigger.save(a.out)
    if isinstance(bug.x_b, str):
        words = bug.x_b.split()
        scores = "  ".join(f"{w}:{v:+.3f}" for w, v in zip(words, rev.scores.tolist(), strict=True))
        print(f"word scores ({rev.method}): {scores}")
        print(f"trigger {rev.trigger!r} ({rev.seconds:.1f}s) -> {a.out}")
        return 0
    msg = f"trigger ({rev.trigger.pixels} pixels, {rev.method}, {rev.seconds:.1f}s) -> {a.out}"
    if a.heatmap:
        from mudjack.report import save_bug_figures

        save_bug_figures(a.heatmap, bug.x_b, bug.x_r, rev.clustered, rev.trigger.mask)
        msg += f"; figures in {a.heatmap}"
    print(msg)
    return 0
