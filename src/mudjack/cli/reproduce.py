"""`mudjack reproduce`: run the paper's tables, ours beside the paper's numbers."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mudjack.cli._common import add_common, logger, positive_int
from mudjack.errors import InputError
from mudjack.experiments.reproduce import (
    EXPERIMENTS,
    RunCache,
    check_outputs,
    get_experiment,
    run_experiment,
    write_index,
    write_outputs,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run the paper's tables (ours beside the paper's numbers)",
        description="Run named experiments, each mapping to a table of the paper, and write "
        "NAME.json, NAME.md (our mean ± std beside the paper's numbers) and an index README.md "
        "into --out. `mudjack reproduce --list` names them; `all` runs every one. Experiments "
        "run in one command share the rows they have in common (most tables' default "
        "Mudjacking row is patched once per bug instance); the results mark such rows.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="experiment names, or all")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--index",
        action="store_true",
        help="only rewrite the index README.md in --out from the JSON files there",
    )
    p.add_argument("--quick", action="store_true", help="smoke-test sizes (one seed, a few steps)")
    p.add_argument(
        "--paper-sizes",
        action="store_true",
        help="the paper's sizes (Tables 17b, 18: e.g. 50,000 validation images, 200 epochs); "
        "needs a GPU",
    )
    p.add_argument(
        "--seeds", type=positive_int, help="bug instances per setting (default: per experiment)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="output folder (default: results)"
    )
    add_common(p)


def _list() -> int:
    for name, exp in EXPERIMENTS.items():
        settings = ", ".join(part.setting for part in exp.parts)
        arms = ", ".join(arm.label for part in exp.parts for arm in part.arms)
        print(f"{name}: {exp.title}\n  setting {settings}; rows: {arms}")
    return 0


def run(a: argparse.Namespace) -> int:
    if a.list:
        return _list()
    if a.index:
        if a.names:
            raise InputError(
                f"--index runs nothing and takes no experiment names; got {' '.join(a.names)}. "
                "Run the experiments first, or drop the names."
            )
        print(f"index -> {write_index(a.out)}")
        return 0
    if not a.names:
        raise InputError(
            "Expected experiment names or `all` after `mudjack reproduce` "
            "(see `mudjack reproduce --list`)."
        )
    if a.out.exists() and not a.out.is_dir():
        raise InputError(
            f"Expected --out to be a folder, got the file {str(a.out)!r}. Pass a new folder or "
            "one holding earlier results."
        )
    names = list(EXPERIMENTS) if a.names == ["all"] else a.names
    for name in names:  # fail on a bad name or a foreign file before running anything
        get_experiment(name)
        check_outputs(a.out, name)
    cache = RunCache()  # the experiments share prepared settings and identical arms
    for name in names:
        torch.manual_seed(a.seed)
        flags = [
            *(["--quick"] if a.quick else []),
            *(["--paper-sizes"] if a.paper_sizes else []),
            *([f"--seeds {a.seeds}"] if a.seeds else []),
            *([f"--seed {a.seed}"] if a.seed else []),
        ]
        command = " ".join(["mudjack reproduce", name, *flags])
        t = time.perf_counter()
        results = run_experiment(
            name,
            seeds=a.seeds,
            seed=a.seed,
            quick=a.quick,
            paper_sizes=a.paper_sizes,
            device=a.device,
            progress=not a.quiet,
            log=logger(a),
            cache=cache,
        )
        paths = write_outputs(results, a.out, command)
        print(f"{name}: {time.perf_counter() - t:.0f}s -> {', '.join(str(p) for p in paths)}")
    return 0
