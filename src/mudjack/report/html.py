"""`mudjack report`: one self-contained HTML page (images inlined as data URIs, no scripts,
no external files) for a patched encoder folder or an experiment's results JSON."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mudjack.report.images import heat, image_array, mask_overlay, scaled
from mudjack.report.patch_report import PatchReport, gather
from mudjack.report.tables import to_markdown
from mudjack.utils import write_text_atomic

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3} .fig{display:inline-block;margin:0 1em 1em 0;text-align:center}
.fig img{border:1px solid #999;image-rendering:pixelated} .pass{color:#176b22}
.fail{color:#b3261e;font-weight:bold} .note{color:#666} code{font-size:.9em}
.word{padding:1px 3px;margin:1px;border-radius:3px;display:inline-block}
"""


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(arr: np.ndarray, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    scaled(arr, scale).save(buf, format="PNG")
    return buf.getvalue()


def _img(png: bytes, caption: str) -> str:
    cap = html.escape(caption)
    return f'<div class="fig"><img src="{_uri(png)}" alt="{cap}"><br>{cap}</div>'


def _loss_curves(log: list[dict[str, float]]) -> bytes:
    """The cosines of the loss terms (left) and the total loss (right) against the step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), dpi=100)
    terms, total = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    steps = [r["step"] for r in log]
    for key in sorted({k for r in log for k in r} - {"step", "loss"}):
        terms.plot(steps, [r.get(key, float("nan")) for r in log], label=key)
    total.plot(steps, [r.get("loss", float("nan")) for r in log], color="black")
    terms.set_title("cosine of each term", fontsize=9)
    total.set_title("loss", fontsize=9)
    terms.legend(fontsize=7)
    for ax in (terms, total):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _images(rep: PatchReport) -> str:
    bug = rep.bug
    if bug is None or bug.modality == "text":
        return ""
    parts = [_img(_png(image_array(bug.x_b)), "x_b (misclassified)"),
             _img(_png(image_array(bug.x_r)), "x_r (reference)")]  # fmt: skip
    if rep.scores is not None:
        parts.append(_img(_png(heat(rep.scores.numpy())), "attribution (Occlusion)"))
    mask = getattr(rep.trigger, "mask", None)
    if mask is not None:
        true = getattr(rep.true_trigger, "mask", None)
        shape = tuple(mask.shape[-2:])
        label = "recovered | true trigger" if true is not None else "recovered trigger"
        parts.append(_img(_png(mask_overlay(mask.amax(0), None if true is None else
                                            true.amax(0), shape)), label))  # fmt: skip
    return (
        "<h2>Bug instance and trigger</h2>"
        + "".join(parts)
        + (
            '<p class="note">Recovered mask: white = also in the true trigger, red = recovered '
            "only, blue = true only.</p>"
        )
    )


def _words(rep: PatchReport) -> str:
    if not rep.words:
        return ""
    top = max(abs(s) for _, s in rep.words) or 1.0
    spans = "".join(
        f'<span class="word" style="background:rgba(230,40,40,{abs(s) / top:.2f})" '
        f'title="{s:.4f}">{html.escape(w)}</span>'
        for w, s in rep.words
    )
    rows = sorted(rep.words, key=lambda t: -abs(t[1]))[:10]
    return f"<h2>x_b, word by word (attribution)</h2><p>{spans}</p>" + _table(
        ["word", "score"], [[w, f"{s:.4f}"] for w, s in rows]
    )


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _metrics(rep: PatchReport) -> str:
    if not rep.metrics:
        how = "mudjack evaluate ... --json FOLDER/metrics.json"
        return (
            f'<h2>Metrics</h2><p class="note">none recorded: write them with <code>{how}</code></p>'
        )
    keys = ["cp", "acc", "asr", "asr_source", "asr_other", "accb"]
    rows = [[when, *(_fmt(rep.metrics[when].get(k, "")) for k in keys)]
            for when in ("before", "after") if when in rep.metrics]  # fmt: skip
    head = ["", "CP", "Acc", "ASR", "ASR-source", "ASR-other", "AccB"]
    return "<h2>Metrics</h2>" + _table(head, rows)


def _verdicts(rep: PatchReport) -> str:
    out = []
    for stage, v in rep.verdicts.items():
        rows = [[c["name"], f"{c['value']:.4g}", (">= " if c["at_least"] else "<= ")
                 + f"{c['threshold']:g}", "pass" if c["passed"] else "FAIL", c["what"]]
                for c in v.get("checks", [])]  # fmt: skip
        cls = "pass" if v.get("verdict") == "accepted" else "fail"
        out.append(f'<h3>{html.escape(stage)}: <span class="{cls}">{v.get("verdict")}</span></h3>')
        out.append(_table(["check", "value", "threshold", "", "what"], rows))
    return "<h2>Gate verdicts</h2>" + ("".join(out) or '<p class="note">none recorded</p>')


def _chain(rep: PatchReport) -> str:
    rows = [["h" if v.index == 0 else f"h'{v.index}", v.name, (v.state_sha256 or "")[:16],
             v.made_by.get("bug", ""), v.made_by.get("trigger", ""), v.made_by.get("steps", "")]
            for v in rep.chain]  # fmt: skip
    return "<h2>History</h2>" + _table(["", "encoder", "weights", "bug", "trigger", "steps"], rows)


def patch_page(rep: PatchReport) -> str:
    """The HTML of one patch."""
    log = ""
    if rep.log:
        log = "<h2>Loss terms during the patch</h2>" + _img(_loss_curves(rep.log), "")
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in rep.notes)
    params = html.escape(json.dumps(rep.record.get("patcher", {})))
    body = (f"<h1>mudjack patch report: {html.escape(rep.folder)}</h1>"
            f"<p>Parent <code>{html.escape(str(rep.record.get('parent')))}</code>, bug "
            f"<code>{html.escape(str(rep.record.get('bug')))}</code>, seed "
            f"{rep.record.get('seed')}, {rep.record.get('steps')} steps.</p>{notes}"
            + _images(rep) + _words(rep) + log + _metrics(rep) + _verdicts(rep) + _chain(rep)
            + f"<h2>Hyperparameters</h2><p><code>{params}</code></p>")  # fmt: skip
    return _page(f"mudjack report: {rep.folder}", body)


def results_page(results: dict[str, Any], table: str, figures: list[Path]) -> str:
    """The HTML of an experiment's results: its table and its PNG figures."""
    figs = "".join(_img(f.read_bytes(), f.stem) for f in figures)
    title = f"{results.get('experiment', 'results')}: {results.get('title', '')}"
    body = f"<h1>{html.escape(title)}</h1><pre>{html.escape(table)}</pre>{figs}"
    return _page(title, body)


def _page(title: str, body: str) -> str:
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style>'
    return f'<!DOCTYPE html><html lang="en"><head>{head}</head><body>{body}</body></html>\n'


def write_report(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    **gather_kwargs: Any,
) -> Path:
    """Write the report of a patched encoder folder or of a results JSON to ``out`` (a new
    file, written atomically)."""
    src = Path(source)
    if src.is_file():
        results = json.loads(src.read_text(encoding="utf-8"))
        png, md = src.with_suffix(".png"), src.with_suffix(".md")
        name = results.get("experiment", src.stem)
        table = (
            md.read_text(encoding="utf-8")
            if md.is_file()
            else to_markdown(results, f"mudjack reproduce {name}")
        )
        page = results_page(results, table, [png] if png.is_file() else [])
    else:
        page = patch_page(gather(src, **gather_kwargs))
    return write_text_atomic(out, page)
