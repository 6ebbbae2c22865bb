"""Experiments and run options from a file: TOML (or JSON), or a results file to replay.

A configuration file holds any of:
- ``[run]``: run options (``seeds``, ``seed``, ``quick``, ``paper_sizes``, ``device``);
- ``experiments = ["table3", ...]``: paper experiments by name;
- ``[[experiment]]`` tables: experiments of the same shape as the paper's spec files
  (``experiments/specs/*.toml``), or one such experiment at the top level of the file.
A results file (``NAME.json`` written by ``mudjack reproduce``) replays its own run: it
records the experiment it ran under ``spec`` and the resolved run options under ``run``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mudjack.errors import InputError
from mudjack.experiments.engine import RunOptions
from mudjack.experiments.spec import Experiment, get_experiment, read_spec_file

CONFIG_KEYS = ("run", "experiments", "experiment")


@dataclass(frozen=True)
class Config:
    """What a configuration file asks for: experiments to run and how."""

    experiments: tuple[Experiment, ...]
    run: dict[str, Any]

    def options(self, **flags: Any) -> RunOptions:
        """The run options: the file's, with every flag that is not None on top."""
        given = {k: v for k, v in flags.items() if v is not None}
        return replace(RunOptions(**self.run), **given)


def load_config(path: str | Path) -> Config:
    """Read a configuration or results file (see the module's docstring)."""
    where = str(path)
    data = read_spec_file(path)
    if "spec" in data and "run" in data:  # a results file: replay it
        return Config((Experiment.from_dict(data["spec"], where=where),), _run(data["run"], where))
    if "parts" in data:  # one experiment spec, perhaps with run options
        run = data.pop("run", {})
        return Config((Experiment.from_dict(data, where=where),), _run(run, where))
    unknown = set(data) - set(CONFIG_KEYS)
    if unknown:
        raise InputError(
            f"Unknown key(s) {', '.join(sorted(unknown))} in {where}. Expected some of: "
            f"{', '.join(CONFIG_KEYS)} (or a whole experiment spec with `parts`)."
        )
    names = data.get("experiments", [])
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise InputError(
            f"Expected `experiments` in {where} to be a list of experiment names; got {names!r}."
        )
    exps = [get_experiment(n) for n in names]
    exps += [Experiment.from_dict(e, where=where) for e in data.get("experiment", [])]
    return Config(tuple(exps), _run(data.get("run", {}), where))


def _run(run: dict[str, Any], where: str) -> dict[str, Any]:
    keys = {f.name for f in fields(RunOptions)}
    unknown = set(run) - keys
    if unknown:
        raise InputError(
            f"Unknown run option(s) {', '.join(sorted(unknown))} in {where}. Expected some of: "
            f"{', '.join(sorted(keys))}."
        )
    RunOptions(**run)  # validate now, before anything runs
    return dict(run)
