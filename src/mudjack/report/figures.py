"""PNG figures of experiment results, drawn on matplotlib's object API (no global backend or
pyplot state is touched).

An experiment's spec says which figure it has (``figure = {kind = ...}``):
- ``sweep``: one panel per swept parameter, from rows labelled ``"NAME = VALUE"``; Acc, ASR,
  AccB (mean ± std; and ASR-source, ASR-other where measured) and CP against the value.
  ``log_x`` for a log axis; ``extra_points``
  (``[[sweep, value, row label], ...]``) adds a row to another sweep (the default value
  belongs to every sweep).
- ``masks``: the recovered trigger masks of the first bug instance's arms.
- ``chain``: bugs patched in sequence (Figure 3): Acc, ASR, AccB after each link, and the
  trigger recovered from each link's bug (first bug instance).
- ``references``: the real reference input x_r beside the one synthesised from h(x_r) alone
  (Figure 8), from the first bug instance's ``synthetic-reference`` arm.
- ``triggers``: the exact whole-image trigger of the first part beside what each arm of the
  first bug instance recovered (Figure 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIGURE_KINDS = ("sweep", "masks", "triggers", "chain", "references")


def draw_figure(results: dict[str, Any], figure: dict[str, Any], path: str | Path) -> bool:
    """Draw ``path`` (PNG, written atomically) as ``figure`` says; return whether one was drawn
    (False for an experiment without a figure)."""
    kind = figure.get("kind")
    if kind is None:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if kind == "masks":
        fig = _masks(results, Figure)
    elif kind == "sweep":
        fig = _sweep(results, figure, Figure)
    elif kind == "triggers":
        fig = _triggers(results, Figure)
    elif kind == "chain":
        fig = _chain(results, Figure)
    elif kind == "references":
        fig = _references(results, Figure)
    else:
        from mudjack.errors import InputError

        raise InputError(
            f"Unknown figure kind {kind!r} in experiment {results['experiment']!r}. Expected "
            f"one of: {', '.join(FIGURE_KINDS)}."
        )
    FigureCanvasAgg(fig)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    return True


def _masks(results: dict[str, Any], figure_cls: Any) -> Any:
    bug = results["parts"][0]["bugs"][0]
    arms = list(bug["arms"].items())
    fig = figure_cls(figsize=(2.2 * len(arms), 2.6))
    axes = fig.subplots(1, len(arms), squeeze=False)[0]
    for ax, (label, arm) in zip(axes, arms, strict=True):
        ax.imshow(arm["reverse"]["mask"], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{label}\nIoU {arm['reverse']['iou']:.2f}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"recovered trigger masks, bug seed {bug['seed']}", fontsize=9)
    return fig


def _triggers(results: dict[str, Any], figure_cls: Any) -> Any:
    part = results["parts"][0]
    bug = part["bugs"][0]
    panels = [("exact trigger δ", part.get("trigger_delta") or _true_delta(part))]
    panels += [(label, arm.get("reverse", {}).get("image")) for label, arm in bug["arms"].items()]
    panels = [(label, img) for label, img in panels if img is not None]
    fig = figure_cls(figsize=(2.4 * len(panels), 2.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, img) in zip(axes, panels, strict=True):
        bound = max(abs(v) for row in img for v in row) or 1.0
        ax.imshow(img, cmap="coolwarm", vmin=-bound, vmax=bound)
        ax.set_title(f"{label}\n|max| {bound:.3g}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{results['experiment']}: bug seed {bug['seed']}", fontsize=9)
    return fig


def _true_delta(part: dict[str, Any]) -> list[list[float]] | None:
    """The attack's whole-image δ, rebuilt from the encoder's recorded ground truth (zoo models
    answer from their recipe); None for other triggers or an encoder that records none."""
    from mudjack.attacks import ground_truth
    from mudjack.errors import MudjackError
    from mudjack.experiments.prepared import image_list
    from mudjack.triggers import PerturbationTrigger

    try:
        trigger, _ = ground_truth(part["config"]["encoder"])
    except (MudjackError, KeyError):
        return None
    return image_list(trigger.delta) if isinstance(trigger, PerturbationTrigger) else None


def _chain(results: dict[str, Any], figure_cls: Any) -> Any:
    rows = results["rows"]
    links = [arm for arm in results["parts"][0]["bugs"][0]["arms"].values()]
    fig = figure_cls(figsize=(3.2 + 2.0 * len(links), 3.4))
    grid = fig.add_gridspec(1, 1 + len(links), width_ratios=[2.5] + [1] * len(links))
    ax = fig.add_subplot(grid[0])
    xs = list(range(len(rows)))
    for metric, label in (("acc", "Acc"), ("asr", "ASR"), ("accb", "AccB")):
        ys = [r[metric]["mean"] for r in rows]
        es = [r[metric]["std"] for r in rows]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    ax.set_xticks(xs, [r["label"] for r in rows])
    ax.set_ylabel("%")
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=7)
    for k, (label, arm) in enumerate(zip([r["label"] for r in rows[1:]], links, strict=False)):
        rev = arm.get("bug", {}).get("reverse", {})
        sub = fig.add_subplot(grid[k + 1])
        if rev.get("mask") is not None:
            sub.imshow(rev["mask"], cmap="gray", vmin=0, vmax=1)
        iou = rev.get("iou")
        sub.set_title(
            f"trigger of bug {k + 1}\n(-> {label})"
            + (f"\nIoU {iou:.2f}" if iou is not None else ""),
            fontsize=7,
        )
        sub.axis("off")
    fig.suptitle(f"{results['experiment']}: {results['title']}", fontsize=9)
    return fig


def _references(results: dict[str, Any], figure_cls: Any) -> Any:
    bug = results["parts"][0]["bugs"][0]
    arm = next(a for a in bug["arms"].values() if "reference_images" in a)
    images = arm["reference_images"]
    fig = figure_cls(figsize=(4.6, 2.6))
    axes = fig.subplots(1, 2)
    for ax, (key, title) in zip(
        axes, (("real", "real x_r"), ("synthesised", "synthesised x'_r")), strict=True
    ):
        ax.imshow(images[key], cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    cos = arm.get("reference_cosine")
    fig.suptitle(
        f"bug seed {bug['seed']}" + (f": cos(h(x'_r), h(x_r)) = {cos:.3f}" if cos else ""),
        fontsize=8,
    )
    return fig


def _sweep_groups(results: dict[str, Any], figure: dict[str, Any]) -> dict[str, list]:
    rows = [r for r in results["rows"] if "=" in r["label"]]  # the swept arms
    by_label = {r["label"]: r for r in rows}
    groups: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for r in rows:
        key, value = (t.strip() for t in r["label"].split("=", 1))
        groups.setdefault(key, []).append((float(value), r))
    for key, value, label in figure.get("extra_points", ()):
        if label in by_label:
            groups[key] = sorted(
                [*groups.get(key, []), (float(value), by_label[label])], key=lambda t: t[0]
            )
    return groups


def _sweep(results: dict[str, Any], figure: dict[str, Any], figure_cls: Any) -> Any:
    groups = _sweep_groups(results, figure)
    fig = figure_cls(figsize=(4.5 * len(groups), 3.4))
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (key, pts) in zip(axes, groups.items(), strict=True):
        xs = [v for v, _ in pts]
        metrics = [("acc", "Acc"), ("asr", "ASR"), ("accb", "AccB")]
        if all(r.get("asr_source") for _, r in pts):  # a source-specific attack
            metrics += [("asr_source", "ASR-source"), ("asr_other", "ASR-other")]
        for metric, label in metrics:
            ys = [r[metric]["mean"] for _, r in pts]
            es = [r[metric]["std"] for _, r in pts]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        cps = [100 * r["cp"]["mean"] for _, r in pts]
        ax.plot(xs, cps, "k--", marker="x", label="CP (% fixed)")
        ax.set_xlabel(key)
        ax.set_ylabel("%")
        ax.set_ylim(-5, 105)
        if figure.get("log_x"):
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{results['experiment']}: {results['title']} ({results['seeds']} bug instance(s))",
        fontsize=9,
    )
    return fig
