"""Writing an experiment's results: ``NAME.json``, ``NAME.md``, its figure and the index
``README.md`` of a results folder. Files there that ``mudjack reproduce`` did not write are
never overwritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mudjack.errors import InputError
from mudjack.experiments.spec import EXPERIMENTS
from mudjack.report.figures import draw_figure
from mudjack.report.tables import (
    MARKER,
    difference_sentence,
    fmt_cell,
    fmt_cp,
    paper_cell,
    to_markdown,
)
from mudjack.utils import write_json_atomic, write_text_atomic


def write_outputs(results: dict[str, Any], out_dir: str | Path, command: str) -> list[Path]:
    """Write ``NAME.json`` and ``NAME.md`` into ``out_dir`` (atomically), then the index.

    Files there that ``mudjack reproduce`` did not write are never overwritten."""
    out = Path(out_dir)
    name = results["experiment"]
    check_outputs(out, name)
    out.mkdir(parents=True, exist_ok=True)
    results = {**results, "command": command}
    paths = [out / f"{name}.json", out / f"{name}.md"]
    write_json_atomic(paths[0], results, overwrite=True)
    write_text_atomic(paths[1], to_markdown(results, command), overwrite=True)
    png = out / f"{name}.png"
    figure = results.get("spec", {}).get("figure") or {}
    if draw_figure(results, figure, png):
        paths.append(png)
    paths.append(write_index(out))
    return paths


def check_outputs(out_dir: str | Path, name: str) -> None:
    """Raise before running if an output of experiment ``name`` in ``out_dir`` (or the index)
    exists and was not written by ``mudjack reproduce``."""
    out = Path(out_dir)
    for path in (out / f"{name}.json", out / f"{name}.md", out / "README.md"):
        _check_ours(path)


def _check_ours(path: Path) -> None:
    if not path.exists():
        return
    text = path.read_text(errors="replace")
    if not (MARKER in text or (path.suffix == ".json" and '"experiment"' in text)):
        raise InputError(
            f"{str(path)!r} exists and was not written by `mudjack reproduce`; refusing to "
            "overwrite it. Choose another --out folder or move the file."
        )


def write_index(out_dir: str | Path) -> Path:
    """``README.md`` in ``out_dir``: every experiment, ours beside the paper's, and where and
    why they differ. The numbers and the differences are read from the JSON files present; the
    likely reasons are each experiment's current ``why`` (an explanation written after reading
    the results can be added without re-running them)."""
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(
            f"Expected a folder of `mudjack reproduce` results at {str(out)!r}; there is none. "
            "Run an experiment into it first (mudjack reproduce NAME --out FOLDER)."
        )
    _check_ours(out / "README.md")
    lines = [
        "# Reproduced results",
        "",
        f"Index {MARKER} from the JSON files in this folder; each experiment's own `.md` has "
        "the full table. Rows compare our mean over bug instances with the paper's single "
        "bug instance.",
        "",
    ]
    for name, exp in EXPERIMENTS.items():
        path = out / f"{name}.json"
        if not path.exists():
            lines += [f"## {name}: {exp.title}", "", "Not run yet.", ""]
        else:
            lines += _index_section(json.loads(path.read_text()), exp.title, exp.why)
    return write_text_atomic(out / "README.md", "\n".join(lines), overwrite=True)


def _index_section(res: dict[str, Any], title: str, why: str) -> list[str]:
    """One experiment's section of the index: its rows (one decimal) and the reasons."""
    name = res["experiment"]
    lines = [
        f"## [{name}]({name}.md): {title}",
        "",
        f"`{res.get('command', '?')}`, {res['date']}, {res['seconds'] / 60:.1f} min, "
        f"{res['seeds']} bug instance(s){', QUICK sizes' if res.get('quick') else ''}"
        f"{', paper sizes' if res.get('paper_sizes') else ''}.",
        "",
        "| row | CP | Acc | ASR | AccB | paper (CP, Acc, ASR, AccB) |",
        "|---|---|---|---|---|---|",
    ]
    for row in res["rows"]:
        p = row.get("paper")
        ref = ", ".join(paper_cell(p[k]) for k in ("cp", "acc", "asr", "accb")) if p else "-"
        lines.append(
            f"| {row['label']} | {fmt_cp(row['cp'], row['n'])} | {fmt_cell(row['acc'], 1)} "
            f"| {fmt_cell(row['asr'], 1)} | {fmt_cell(row['accb'], 1)} | {ref} |"
        )
    return [*lines, "", difference_sentence(res, why), ""]
