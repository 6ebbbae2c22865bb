"""Smoke runs of the adaptive-attack experiments (Tables 11-15, Figures 5-7) at quick sizes, on
adaptive encoders built from shortened recipes into a temporary cache (the real ones take
minutes each; these check the wiring, not the numbers)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import adaptive_experiments
from mudjack.experiments import EXPERIMENTS, RunCache, RunOptions, run_experiment
from mudjack.report import write_outputs
from mudjack.zoo import ZOO

pytestmark = pytest.mark.slow

NEW = adaptive_experiments()  # tables 11-15, figures 5-7
ADAPTIVE = [n for n, m in ZOO.items() if m.cached and m.modality == "image"]


@pytest.fixture(scope="module")
def short_recipes(tmp_path_factory):
    """Every adaptive encoder built on first use from a recipe cut to 16 steps."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUDJACK_CACHE", str(tmp_path_factory.mktemp("cache")))
    for name in ADAPTIVE:
        model = ZOO[name]
        short = {"shadow_size": 2048, "epochs": 1}
        mp.setitem(ZOO, name, dataclasses.replace(model, recipe={**model.recipe, **short}))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def cache():
    return RunCache()


@pytest.mark.parametrize("name", NEW)
def test_quick_run_writes_rows_and_figure(name, short_recipes, cache, tmp_path):
    exp = EXPERIMENTS[name]
    res = run_experiment(exp, RunOptions(quick=True), cache=cache)
    labels = [r["label"] for r in res["rows"]]
    expected = [label for p in exp.parts for label in (p.before, *(a.label for a in p.arms))]
    assert labels == expected  # every row ran (a chain did not stop early)
    paths = write_outputs(res, tmp_path, f"mudjack reproduce {name} --quick")
    assert (tmp_path / f"{name}.png").exists() == bool(exp.figure)
    assert json.loads((tmp_path / f"{name}.json").read_text())["experiment"] == name
    assert paths
    if name in ("table13", "figure7"):
        assert all("asr_source" in r and "asr_other" in r for r in res["rows"])
        assert "ASR-source" in (tmp_path / f"{name}.md").read_text()
    if name == "table15":
        arms = res["parts"][0]["bugs"][0]["arms"]
        inversion = arms["Mudjacking + inversion"]["reverse"]
        assert inversion["method"] == "inversion" and abs(inversion["epsilon"] - 0.01) < 1e-6
        assert -1 <= inversion["cosine"] <= 1
    if name == "table14":
        bugs = res["parts"][0]["bugs"][0]["arms"]
        assert [b["bug"]["true_label"] is not None for b in bugs.values()] == [True, True]
