"""Quality and speed of one named experiment (vision or text); writes JSON (never asserts).

    python benchmarks/patch_bench.py --setting default --bugs 5 --demo \
        --json results/vision_default.json
    python benchmarks/patch_bench.py --setting text-por --bugs 5 --demo \
        --json results/text_por.json

Measures, in one run:
  * the experiment over N bug instances (CP, Acc, ASR, AccB before/after, mean ± std; IoU for
    images, trigger-word precision and recall for text);
  * the patch loop's throughput against a bare loop doing the same forward and backward passes
    on the same model and batch size (a ratio, so machine noise mostly cancels);
  * optionally (--demo) `mudjack demo` with one bug end to end in a subprocess: wall time and
    peak resident memory. For text the subprocess gets an empty model cache, so the time
    includes building the backdoored encoder on first use.
The acceptance criteria of the vision-core and language issues are evaluated and recorded, not
asserted.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mudjack import ground_truth, load_encoder
from mudjack.bug import BugInstance
from mudjack.data import load_downstream, load_pretraining
from mudjack.experiments import RunOptions, demo_experiment, get_setting, run_experiment
from mudjack.patching import Mudjacking
from mudjack.report import demo_table
from mudjack.utils import concat_inputs, write_json_atomic


def bare_loop(encoder, batch_size: int, steps: int, lr: float, texts=None) -> float:
    """Steps per second of the same passes as one Mudjacking step, on pre-made inputs
    (random images, or the given sentences for a text encoder): the patched encoder sees
    x_b, x_r, m inputs, their m triggered copies and x_r ⊕ t; the frozen one the m inputs
    and x_r."""
    patched = copy.deepcopy(encoder).eval().requires_grad_(True)
    frozen = copy.deepcopy(encoder).eval().requires_grad_(False)
    opt = torch.optim.Adam(patched.parameters(), lr=lr)
    n = 3 + 2 * batch_size
    if texts is not None:
        batch = texts[:n]
    else:
        c, h, w = encoder.input_spec.shape
        gen = torch.Generator().manual_seed(0)
        batch = torch.rand(n, c, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    k = batch_size
    anchors = concat_inputs(batch[2 : 2 + k], batch[1:2])
    start = None
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            start = time.perf_counter()
        if texts is None:
            feats = patched.embed(batch)
        else:  # the pair and the validation sentences go through as two batches, as in a patch
            feats = torch.cat([patched.embed(batch[:2]), patched.embed(batch[2:])])
        with torch.no_grad():
            ref = frozen.embed(anchors)
        f_x, f_xt = feats[2 : 2 + k], feats[2 + k : 2 + 2 * k]
        loss = (
            -F.cosine_similarity(feats[0], feats[1], dim=0)
            - F.cosine_similarity(f_x, ref[:k]).mean()
            - F.cosine_similarity(feats[1], ref[k], dim=0)
            - F.cosine_similarity(f_xt, f_x).mean()
            - F.cosine_similarity(feats[2 + 2 * k], feats[1], dim=0)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def throughput(setting, steps: int, seed: int) -> dict:
    enc = load_encoder(setting.encoder)
    trigger, _ = ground_truth(setting.encoder)
    _, test = load_downstream(setting.downstream)
    x = test.inputs
    # Speed does not depend on which bug is patched: any triggered input and a clean one do.
    x_b = trigger.apply(x[:1])[0]
    bug = BugInstance(x_b, x[1], int(test.labels[1]))
    pool = load_pretraining(setting.val_data).shuffled(seed)
    val = pool.inputs[: setting.val_size]
    m = setting.patch["batch_size"]
    patcher = Mudjacking(**{**setting.patch, "max_steps": steps + 2})
    res = patcher.patch(enc, bug, val, trigger, seed=seed)
    patch_rate = res.steps / res.seconds  # includes two warm-up steps; conservative
    texts = None
    if isinstance(x_b, str):
        clean = list(val[:m])
        texts = concat_inputs([x_b, x[1]], clean, trigger.apply(clean), trigger.apply([x[1]]))
    bare_rate = bare_loop(enc, m, steps, setting.patch["lr"], texts)
    per_step = 3 + 2 * m
    return {
        "steps": steps,
        "batch_size": m,
        "inputs_per_step": per_step,
        "patch_steps_per_s": patch_rate,
        "bare_steps_per_s": bare_rate,
        "patch_inputs_per_s": patch_rate * per_step,
        "bare_inputs_per_s": bare_rate * per_step,
        "ratio": patch_rate / bare_rate,
    }


def demo_run(setting: str, seed: int, fresh_cache: bool) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "mudjack.cli",
        "demo",
        "--setting",
        setting,
        "--bugs",
        "1",
        "--seed",
        str(seed),
        "--quiet",
    ]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if fresh_cache:
            env["MUDJACK_CACHE"] = cache  # build the backdoored encoder inside the timed run
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "command": " ".join(["mudjack", *cmd[3:]]),
        "returncode": proc.returncode,
        "fresh_model_cache": fresh_cache,
        "seconds": seconds,
        "peak_rss_mb": peak_kb / 1024,
        "stdout": proc.stdout,
        "stderr_tail": proc.stderr[-2000:],
    }


def acceptance(res: dict, thr: dict | None, demo: dict | None) -> dict:
    """The issue's bars, recorded not asserted. Vision: |ΔAcc| <= 1.5, ASR <= 5, IoU >= 0.5,
    patch <= 120 s, demo <= 300 s / 4 GB. Text: |ΔAcc| <= 2, ASR within 5 points of the clean
    encoder's rate, demo <= 600 s / 6 GB. Both: before ASR >= 90 and CP false, after CP true,
    AccB >= clean AccB - 5, throughput ratio >= 0.75."""
    part = res["parts"][0]
    text = part["modality"] == "text"
    clean = part["clean"]
    rows = [  # each bug instance's before, after (the one arm) and reverse-engineering
        {**b["arms"]["after"], "before": b["before"], "reverse": b["reverse"]} for b in part["bugs"]
    ]
    max_dacc = 2 if text else 1.5
    out = {
        "before_asr_ge_90": all(r["before"]["asr"] >= 90 for r in rows),
        "before_cp_false": all(r["before"]["cp"] is False for r in rows),
        "after_cp_true": all(r["after"]["cp"] is True for r in rows),
        f"acc_change_le_{max_dacc}": all(
            abs(r["after"]["acc"] - r["before"]["acc"]) <= max_dacc for r in rows
        ),
        "after_accb_ge_clean_minus_5": all(r["after"]["accb"] >= clean["accb"] - 5 for r in rows),
    }
    if text:
        out["after_asr_within_5_of_clean"] = all(
            abs(r["after"]["asr"] - clean["asr"]) <= 5 for r in rows
        )
    else:
        out["after_asr_le_5"] = all(r["after"]["asr"] <= 5 for r in rows)
        out["mean_iou_ge_0.5"] = sum(r["reverse"]["iou"] for r in rows) / len(rows) >= 0.5
        out["patch_le_120s"] = all(r["seconds"]["patch"] <= 120 for r in rows)
    if thr is not None:
        out["throughput_ratio_ge_0.75"] = thr["ratio"] >= 0.75
    if demo is not None:
        limit_s, limit_mb = (600, 6144) if text else (300, 4096)
        out[f"demo_le_{limit_s}s"] = demo["seconds"] <= limit_s
        out[f"demo_peak_le_{limit_mb // 1024}gb"] = demo["peak_rss_mb"] <= limit_mb
    return out


def patch_override(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for the setting's patch schedule: true or false, an int, a float, or a
    word."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in {"true", "false"}:
        return key, value.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", default="default")
    p.add_argument("--bugs", type=int, default=5, help="bug instances (0: speed only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throughput-steps", type=int, default=20)
    p.add_argument("--demo", action="store_true", help="also time `mudjack demo --bugs 1`")
    p.add_argument("--json", type=Path, required=True, help="new results file")
    p.add_argument("--patch", type=patch_override, action="append", default=[],
                   metavar="KEY=VALUE", help="override the setting's patch schedule, e.g. "
                   "--patch max_steps=200 --patch random_location=true")  # fmt: skip
    a = p.parse_args()
    setting = get_setting(a.setting)
    demo = demo_run(a.setting, a.seed, setting.modality == "text") if a.demo else None
    if demo is not None:
        print(f"demo: {demo['seconds']:.1f}s, peak {demo['peak_rss_mb']:.0f} MB", file=sys.stderr)
    thr = throughput(setting, a.throughput_steps, a.seed) if a.throughput_steps else None
    if thr is not None:
        print(f"throughput ratio {thr['ratio']:.3f}", file=sys.stderr)
    if a.bugs == 0:  # speed only
        res = {"setting": setting.name, "config": setting.to_dict(), "throughput": thr}
        res["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
        write_json_atomic(a.json, res)
        print(json.dumps(thr, indent=1))
        return 0
    res = run_experiment(
        demo_experiment(
            a.setting, bugs=a.bugs, overrides={"patch": dict(a.patch)} if a.patch else None
        ),
        RunOptions(seed=a.seed),
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    res["throughput"] = thr
    res["demo"] = demo
    res["acceptance"] = acceptance(res, thr, demo)
    res["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    write_json_atomic(a.json, res)
    print(demo_table(res))
    print(json.dumps(res["acceptance"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
