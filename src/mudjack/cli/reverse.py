"""`mudjack reverse`: reverse-engineer the trigger in a bug instance."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.bug import load_bug
from mudjack.cli._common import add_common, encoder, paper, positive_int, validation
from mudjack.cli._reversing import (
    INVERSION,
    add_inversion,
    check_method,
    method_help,
    reverse_trigger,
)
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
    p.add_argument("--method", default="occlusion", help=method_help())
    p.add_argument(
        "--window", type=positive_int, default=5, help="image occlusion window (default: 5)"
    )
    p.add_argument(
        "--occlude",
        choices=["remove", "mask", "unk"],
        default="remove",
        help="text occlusion: remove the word (default) or replace it by [MASK] / [UNK]",
    )
    img = paper("image")
    p.add_argument(
        "--val",
        help=f"--method inversion: clean images, {img.val_data} (default), mnist5k or a path",
    )
    p.add_argument(
        "--val-size",
        type=positive_int,
        default=2000,
        help="--method inversion: clean images drawn from --val (default: 2000; the "
        "inversion samples 64 a step)",
    )
    add_inversion(p)
    add_common(p)


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "trigger file")
    check_method(a.method)
    enc = encoder(a)
    bug = load_bug(a.bug)
    val = None
    if a.method == INVERSION and enc.modality == "image":
        val = validation(a.val or paper("image").val_data, a.val_size, a.seed, enc.modality)
    rev = reverse_trigger(a, enc, bug, val)
    rev.trigger.save(a.out)
    if isinstance(bug.x_b, str):
        words = bug.x_b.split()
        scores = "  ".join(f"{w}:{v:+.3f}" for w, v in zip(words, rev.scores.tolist(), strict=True))
        print(f"word scores ({rev.method}): {scores}")
        print(f"trigger {rev.trigger!r} ({rev.seconds:.1f}s) -> {a.out}")
        return 0
    msg = f"trigger {rev.trigger!r} ({rev.method}, {rev.seconds:.1f}s) -> {a.out}"
    if a.heatmap:
        from mudjack.report import save_bug_figures

        mask = getattr(rev.trigger, "mask", None)
        if mask is None:  # a perturbation: every pixel it moves
            mask = (rev.trigger.delta.abs().amax(0, keepdim=True) > 0).float()
        save_bug_figures(a.heatmap, bug.x_b, bug.x_r, rev.clustered, mask)
        msg += f"; figures in {a.heatmap}"
    print(msg)
    return 0
