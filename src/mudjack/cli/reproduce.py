"""`mudjack reproduce`: run the paper's tables, ours beside the paper's numbers."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mudjack import experiments
from mudjack.cli._common import add_common, logger, positive_int
from mudjack.errors import InputError
from mudjack.experiments import (
    EXPERIMENTS,
    Config,
    RunCache,
    RunOptions,
    get_experiment,
    load_config,
)
from mudjack.report import check_outputs, write_index, write_outputs


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
        "--config",
        type=Path,
        help="a TOML file of experiments and run options, or a results NAME.json to replay "
        "its run; flags override the file (docs/reproduce.md)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="output folder (default: results)"
    )
    add_common(p)
    # unset --seed / --device: the configuration file's, else 0 and cpu
    p.set_defaults(seed=None, device=None)


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
        if a.names or a.config:
            raise InputError(
                f"--index runs nothing and takes no experiment names or --config; got "
                f"{' '.join(a.names) or a.config}. Run the experiments first, or drop them."
            )
        print(f"index -> {write_index(a.out)}")
        return 0
    exps, options = _plan(a)
    if a.out.exists() and not a.out.is_dir():
        raise InputError(
            f"Expected --out to be a folder, got the file {str(a.out)!r}. Pass a new folder or "
            "one holding earlier results."
        )
    for exp in exps:  # fail on a foreign file before running anything
        check_outputs(a.out, exp.name)
    cache = RunCache()  # the experiments share prepared settings and identical arms
    for exp in exps:
        torch.manual_seed(options.seed)
        command = _command(None if a.config and not a.names else exp.name, options, a.config)
        t = time.perf_counter()
        results = experiments.run_experiment(
            exp, options, progress=not a.quiet, log=logger(a), cache=cache
        )
        paths = write_outputs(results, a.out, command)
        print(f"{exp.name}: {time.perf_counter() - t:.0f}s -> {', '.join(str(p) for p in paths)}")
    return 0


def _plan(a: argparse.Namespace) -> tuple[list, RunOptions]:
    """The experiments to run (names on the command line, else the configuration file's) and
    the run options (the file's, with the flags given on top)."""
    config = load_config(a.config) if a.config else Config((), {})
    if a.names:
        names = list(EXPERIMENTS) if a.names == ["all"] else a.names
        exps = [get_experiment(name) for name in names]
    elif config.experiments:
        exps = list(config.experiments)
    else:
        raise InputError(
            "Expected experiment names or `all` after `mudjack reproduce`, or --config FILE "
            "(see `mudjack reproduce --list`)."
        )
    options = config.options(
        seeds=a.seeds,
        seed=a.seed,
        quick=a.quick or None,
        paper_sizes=a.paper_sizes or None,
        device=a.device,
    )
    return exps, options


def _command(name: str | None, options: RunOptions, config: Path | None) -> str:
    """The command that runs this experiment again as it was run (``name`` None: the
    experiments came from the configuration file)."""
    flags = [
        *([f"--config {config}"] if config else []),
        *(["--quick"] if options.quick else []),
        *(["--paper-sizes"] if options.paper_sizes else []),
        *([f"--seeds {options.seeds}"] if options.seeds else []),
        *([f"--seed {options.seed}"] if options.seed else []),
    ]
    return " ".join(["mudjack reproduce", *([name] if name else []), *flags])
