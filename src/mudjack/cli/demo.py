"""`mudjack demo`: the paper's default experiment at CPU scale."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.cli._common import add_common, log, logger, positive_int
from mudjack.experiments import (
    SETTINGS,
    RunOptions,
    demo_experiment,
    get_setting,
    run_experiment,
)
from mudjack.report import demo_table
from mudjack.report.html import results_page
from mudjack.utils import ensure_new_path, write_json_atomic, write_text_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the paper's default experiment at CPU scale",
        description="Load the shipped backdoored encoder, train the client, draw "
        "a real bug, reverse-engineer its trigger, patch, re-train, evaluate.",
    )
    p.add_argument(
        "--modality",
        choices=["image", "text"],
        default="image",
        help="image (BadEncoder ResNet-18, default) or text (MiniLM with POR or NeuBA)",
    )
    p.add_argument(
        "--attack",
        choices=["por", "neuba"],
        default="por",
        help="text backdoor (default: por); the backdoored MiniLM is built on first use",
    )
    p.add_argument(
        "--setting",
        help=f"a named setting instead: {', '.join(SETTINGS)}; NAME-paper for the paper's sizes",
    )
    p.add_argument("--bugs", type=positive_int, default=1, help="bug instances (different seeds)")
    p.add_argument("--json", type=Path, help="write the results JSON here (new file)")
    p.add_argument(
        "--out", type=Path, help="also save PNG figures and report.html into this folder"
    )
    p.add_argument("--steps", type=positive_int, help="override the patch's step cap")
    add_common(p)


def run(a: argparse.Namespace) -> int:
    if a.json:
        ensure_new_path(a.json, "results file")
    if a.out:
        ensure_new_path(Path(a.out) / "report.html", "report file")
    name = a.setting or ("default" if a.modality == "image" else f"text-{a.attack}")
    get_setting(name)  # an unknown name fails here, listing the settings
    overrides = {"patch": {"max_steps": a.steps}} if a.steps is not None else {}
    exp = demo_experiment(name, bugs=a.bugs, overrides=overrides)
    res = run_experiment(
        exp,
        RunOptions(seed=a.seed, device=a.device),
        progress=not a.quiet,
        log=logger(a),
        figures=a.out,
    )
    table = demo_table(res)
    print(table)
    if a.out:
        figures = sorted(Path(a.out).glob("*.png"))
        write_text_atomic(Path(a.out) / "report.html", results_page(res, table, figures))
        log(f"report written to {Path(a.out) / 'report.html'}")
    if a.json:
        write_json_atomic(a.json, res)
        log(f"results written to {a.json}")
    return 0
