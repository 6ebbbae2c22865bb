"""`mudjack diff`: how much a patch changed an encoder, per layer and in its features."""

from __future__ import annotations

import argparse
from pathlib import Path

from mudjack.cli._common import add_common, paper, positive_int, validation
from mudjack.encoders import load_encoder
from mudjack.history import feature_drift, weight_changes
from mudjack.utils import ensure_new_path, write_json_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="per-layer weight change and feature drift between two encoders",
        description="Compare encoder B (e.g. a patch) with encoder A (its parent): the "
        "relative change ||B - A|| / ||A|| of every weight tensor, and the cosine similarity "
        "between A's and B's features of clean inputs.",
    )
    p.add_argument("a", help="the first encoder (folder or zoo name), e.g. the parent")
    p.add_argument("b", help="the second encoder, e.g. the patched one")
    p.add_argument(
        "--data", help="clean inputs for the feature drift (default: the modality's D_val data)"
    )
    p.add_argument(
        "--size", type=positive_int, default=1000, help="inputs, drawn with --seed (default: 1000)"
    )
    p.add_argument(
        "--top", type=positive_int, default=10, help="layers to print, largest change first (10)"
    )
    p.add_argument("--json", type=Path, help="also write every layer and the drift as JSON")
    add_common(p)


def run(a: argparse.Namespace) -> int:
    if a.json:
        ensure_new_path(a.json, "diff file")
    enc_a, enc_b = load_encoder(a.a, a.device), load_encoder(a.b, a.device)
    rows = weight_changes(enc_a, enc_b)
    data = a.data or paper(enc_a.modality).val_data
    inputs = validation(data, a.size, a.seed, enc_a.modality)
    drift = feature_drift(enc_a, enc_b, inputs, device=a.device)
    changed = sum(r["relative_change"] > 0 for r in rows)
    print(f"{changed} of {len(rows)} weight tensors changed; largest relative changes:")
    for r in sorted(rows, key=lambda r: -r["relative_change"])[: a.top]:
        print(f"  {r['relative_change']:10.3e}  {r['name']}  {tuple(r['shape'])}")
    print(
        f"feature drift on {drift['n']} inputs of {data}: cosine mean {drift['mean_cosine']:.4f}, "
        f"5th percentile {drift['p05_cosine']:.4f}, min {drift['min_cosine']:.4f}"
    )
    if a.json:
        record = {"a": a.a, "b": a.b, "data": data, "layers": rows, "feature_drift": drift}
        write_json_atomic(a.json, record)
    return 0
