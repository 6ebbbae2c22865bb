"""The one engine: run any :class:`~mudjack.experiments.spec.Experiment` and return its results.

For every part: prepare the setting (load encoders and data, fit the clients), draw one bug
instance per seed (the same x_b, x_r, reverse-engineered trigger and D_val for every arm of
the part), run each arm on it (:func:`~mudjack.experiments.arms.run_arm`) and aggregate the
rows (mean ± std over bug instances, beside the paper's numbers). Writing the results (JSON,
Markdown, figures, the index) is :mod:`mudjack.report`'s.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mudjack.errors import InputError
from mudjack.experiments.arms import ArmRun, run_arm
from mudjack.experiments.cache import RunCache
from mudjack.experiments.prepared import Draw, Prepared, mask_rows
from mudjack.experiments.settings import resolve_setting
from mudjack.experiments.spec import CORE_METRICS, METRICS, Experiment, Part, get_experiment
from mudjack.report.tables import mean_std
from mudjack.triggers import PatchTrigger


@dataclass(frozen=True)
class RunOptions:
    """How an experiment is run (recorded in its results as ``run``, so it can be replayed).

    Attributes:
        seeds: bug instances per part (None: the experiment's own number).
        seed: the first bug instance's seed (the others follow: seed + 1, ...).
        quick: smoke-test sizes (one bug instance, a few steps).
        paper_sizes: every setting at the paper's sizes (:meth:`Setting.paper`; needs a GPU).
        device: ``cpu`` or ``cuda``.
    """

    seeds: int | None = None
    seed: int = 0
    quick: bool = False
    paper_sizes: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.seeds is not None and (not isinstance(self.seeds, int) or self.seeds < 1):
            raise InputError(f"Expected at least one seed, got {self.seeds}.")
        if self.quick and self.paper_sizes:
            raise InputError(
                "Expected at most one of quick and paper_sizes, got both: quick shrinks every "
                "size, paper_sizes sets the paper's. Drop one."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_experiment(
    experiment: Experiment | str,
    options: RunOptions | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    cache: RunCache | None = None,
    figures: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``experiment`` (a spec or a paper experiment's name); return its results.

    ``cache``: share prepared settings and identical arms with the other experiments run with
    the same cache (see :class:`RunCache`); by default only the arms of this experiment share.
    ``figures``: a folder for PNGs of every bug instance (x_b, x_r, heat map, masks; images)."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    opts = options or RunOptions()
    n_seeds = 1 if opts.quick else (opts.seeds or exp.seeds)
    say = log or (lambda _msg: None)
    cache = cache if cache is not None else RunCache()
    t0 = time.perf_counter()
    rows, parts = [], []
    for part in exp.parts:
        setting = resolve_setting(
            part.setting, part.overrides, quick=opts.quick, paper_sizes=opts.paper_sizes
        )
        say(
            f"[{exp.name}] setting {setting.name}: {n_seeds} bug instance(s), "
            f"{len(part.arms)} arm(s)"
        )
        prep = cache.prepare(
            setting, seed=opts.seed, device=opts.device, progress=progress, log=say
        )
        bugs = [
            _run_bug(exp, part, prep, s, opts, cache, progress, say, figures)
            for s in range(opts.seed, opts.seed + n_seeds)
        ]
        rows += _part_rows(exp, part, bugs)
        parts.append({**prep.header(), "clean": prep.clean, "bugs": bugs})
    return {
        "experiment": exp.name,
        "title": exp.title,
        "paper_ref": exp.paper_ref,
        "quick": opts.quick,
        "paper_sizes": opts.paper_sizes,
        "seeds": n_seeds,
        "first_seed": opts.seed,
        "rows": rows,
        "parts": parts,
        "why": exp.why,
        "seconds": time.perf_counter() - t0,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": {"version": torch.__version__, "threads": torch.get_num_threads()},
        "spec": exp.to_dict(),
        "run": opts.to_dict(),
    }


def _run_bug(
    exp: Experiment,
    part: Part,
    prep: Prepared,
    seed: int,
    opts: RunOptions,
    cache: RunCache,
    progress: bool,
    say: Callable[[str], None],
    figures: str | Path | None,
) -> dict[str, Any]:
    """Draw bug instance ``seed`` and run every arm of ``part`` on it."""
    draw = prep.draw(seed)
    say(
        f"[{exp.name}] bug seed {seed}: class {draw.bug.label}, before ASR "
        f"{draw.before.asr:.2f}, CP {draw.before.cp}; reversed in {draw.reverse.seconds:.1f}s"
    )
    if figures is not None:
        _bug_figures(prep, draw, figures)
    arms: dict[str, Any] = {}
    current, arm_draw = None, draw
    for k, arm in enumerate(part.arms):
        if part.sequential and k > 0:
            try:  # the next bug, reported against the encoder patched so far
                arm_draw = prep.draw(seed, client=prep.last_client, component=arm.bug_trigger)
            except InputError as exc:
                say(f"[{exp.name}]   {arm.label}: no bug left to patch ({exc})")
                break
        elif arm.bug_trigger is not None:
            arm_draw = prep.draw(seed, component=arm.bug_trigger)
        where = ArmRun(
            prep, arm_draw, cache, exp.name, opts.quick, opts.device, progress,
            encoder=current, reuse=not part.sequential,
        )  # fmt: skip
        out, patched = run_arm(arm, where)
        if part.sequential:
            current = patched
            out["bug"] = {
                "true_label": arm_draw.bug.label,
                "before": arm_draw.before.to_dict(),
                "reverse": {**arm_draw.reverse_row, "mask": mask_rows(arm_draw.reverse.trigger)},
            }
        a = out["after"]
        say(
            f"[{exp.name}]   {arm.label}: CP {a['cp']}  Acc {a['acc']:.2f}  "
            f"ASR {a['asr']:.2f}  AccB {a['accb']:.2f}  ({out['seconds']['patch']:.1f}s)"
        )
        arms[arm.label] = out
    return {
        "seed": seed,
        "true_label": draw.bug.label,
        "reverse": draw.reverse_row,
        "before": draw.before.to_dict(),
        "arms": arms,
        "seconds": {"reverse": draw.reverse.seconds},
    }


def _bug_figures(prep: Prepared, draw: Draw, folder: str | Path) -> None:
    if not isinstance(prep.true_trigger, PatchTrigger):
        return
    from mudjack.report import save_bug_figures

    bug, rev = draw.bug, draw.reverse
    save_bug_figures(
        folder,
        bug.x_b,
        bug.x_r,
        rev.clustered,
        rev.trigger.mask,
        prep.true_trigger.mask,
        prefix=f"bug{draw.seed}_",
    )


def _part_rows(exp: Experiment, part: Part, bugs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The part's aggregated rows: before patching, then one per arm that ran."""
    rows = [aggregate(exp, part.before, [b["before"] for b in bugs], part.before_paper)]
    for arm in part.arms:
        metrics = [b["arms"][arm.label]["after"] for b in bugs if arm.label in b["arms"]]
        if metrics:  # a chain may stop early when no bug is left
            rows.append(aggregate(exp, arm.label, metrics, arm.paper))
    return rows


def aggregate(
    exp: Experiment, label: str, metrics: list[dict[str, Any]], paper: str | None
) -> dict[str, Any]:
    """One row: mean ± std of each metric over bug instances, and the paper's row beside it."""
    row: dict[str, Any] = {"label": label, "n": len(metrics)}
    for k in METRICS:
        vals = [float(m[k]) for m in metrics if m.get(k) is not None and not _isnan(m[k])]
        if vals or k in CORE_METRICS:  # ASR-source / ASR-other only where measured
            row[k] = mean_std(vals) if vals else None
    ref = exp.paper_rows().get(paper) if paper else None
    row["paper"] = None if ref is None else asdict(ref)
    return row


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
