"""Time-to-quality of a patch on this machine; writes JSON (never asserts).

    python benchmarks/convergence_bench.py --bugs 5 --json results/convergence_default.json
    python benchmarks/convergence_bench.py --bugs 5 --optimizer sgd \
        --json results/convergence_sgd.json

For each of N bug instances of a setting (default: ``default``), one patch of ``--steps``
(600) steps is run and snapshotted at each of ``--at`` (50, 100, 150, 200, 300, 400, 600); the
client is re-trained on every snapshot and measured (CP, Acc, ASR, AccB) beside the wall time
of the patch up to that step. The provider-side stopping rule (:class:`StopRule`, default
settings) is evaluated on the same run: its three signals on 256 held-out validation inputs
every 25 steps and the step at which it would have stopped; the snapshot measured there is the
rule's quality. (With the rule, 256 of the validation inputs are held out of training, so this
run trains on fewer inputs than the committed tables' patches.)

Summary: per snapshot, mean ± std of each metric over bugs, how many bugs meet the default
setting's quality (CP, |ΔAcc| <= 0.5 against the backdoored client's Acc, ASR <= clean + 1,
AccB >= clean - 1) each (``good``), whether their means do (``good_on_means``, the bar the
committed 600-step table meets), and the wall-time ratio against the full schedule.

With ``--client-seeds K``, each snapshot's client (and the clean encoder's) is also refitted
with K classifier seeds on the same features, and its base rate is recorded
(:meth:`DownstreamClient.base_rate`: the ASR a trigger with no effect would measure), so that
a gap in ASR can be told from the client's own spread and bias.

    python benchmarks/convergence_bench.py --resummarise results/convergence_default.json

recomputes the summary of a finished run's JSON in place (after a change to the summary).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import replace
from typing import Any

import torch

from mudjack.experiments import get_setting
from mudjack.experiments.prepared import prepare
from mudjack.patching import Mudjacking
from mudjack.patching.stopping import StopRule
from mudjack.report.tables import mean_std
from mudjack.utils import write_json_atomic

AT = (50, 100, 150, 200, 300, 400, 600)


def good(m: dict[str, Any], before_acc: float, clean: dict[str, float], margin: float) -> bool:
    """The quality bar: CP, |ΔAcc| <= 0.5, ASR and AccB within ``margin`` points of the clean
    encoder's client (1 for the default setting; the text goal uses 3)."""
    return bool(
        m["cp"]
        and abs(m["acc"] - before_acc) <= 0.5
        and m["asr"] <= clean["asr"] + margin
        and m["accb"] >= clean["accb"] - margin
    )


def one_bug(prep: Any, seed: int, args: argparse.Namespace, say: Any) -> dict[str, Any]:
    draw = prep.draw(seed)
    at = sorted(set(args.at) | {args.steps})
    snaps: dict[int, Any] = {}
    clock: dict[int, float] = {}
    rule = StopRule()
    start = time.perf_counter()

    def on_step(step: int, encoder: Any) -> None:
        if step in at or step % rule.every == 0:
            clock[step] = time.perf_counter() - start
            snaps[step] = copy.deepcopy(encoder).eval()

    patch = {**prep.setting.patch, "max_steps": args.steps, "optimizer": args.optimizer}
    patch |= {"schedule": args.schedule, "warmup": args.warmup}
    if args.lr is not None:
        patch["lr"] = args.lr
    if args.batch_size is not None:
        patch["batch_size"] = args.batch_size
    if args.anchor:
        patch["anchor"] = args.anchor
    patch["locality"] = args.locality
    # The same held-out split and checks as the rule, but a bar no patch reaches: it records
    # the signals and never stops, so the snapshots cover the whole schedule.
    watch = StopRule(tol=1e-9, min_effectiveness=1.0, min_invariance=1.0)
    patcher = Mudjacking(**patch, stop=watch)
    res = patcher.patch(prep.backdoored, draw.bug, draw.val, draw.reverse.trigger, seed=seed,
                        on_step=on_step)  # fmt: skip
    checks = [
        {"step": h["step"], **{k[5:]: v for k, v in h.items() if k.startswith("stop_")}}
        for h in res.history
        if "stop_effectiveness" in h
    ]
    stop_at = next(
        (c["step"] for i, c in enumerate(checks) if rule.converged(checks[: i + 1], c["step"])),
        args.steps,
    )
    rows = []
    for step in sorted(set(at) | {stop_at}):
        after, _ = prep.measure(snaps[step], draw.bug, seed=seed)
        row = {"step": step, "seconds": clock[step], **after.to_dict()}
        if args.client_seeds:
            row |= client_spread(prep.last_client, seed, args.client_seeds)
        rows.append(row)
        say(f"bug {seed} step {step}: {rows[-1]}")
    return {
        "seed": seed,
        "before": draw.before.to_dict(),
        "snapshots": rows,
        "checks": checks,
        "stop_step": stop_at,
    }


def client_spread(client: Any, seed: int, n: int) -> dict[str, Any]:
    """The fitted client's base rate (:meth:`DownstreamClient.base_rate`: the ASR of a trigger
    with no effect) and its ASR, AccB and base rate under ``n`` classifier seeds on the same
    features (``seed`` first, the one measured; the client is left refitted with ``seed``)."""
    runs = []
    for s in range(seed, seed + n):
        m = client.refit(seed=s).metrics()
        runs.append({"seed": s, "acc": m.acc, "asr": m.asr, "accb": m.accb,
                     "asr_base": client.base_rate()})  # fmt: skip
    client.refit(seed=seed)
    out: dict[str, Any] = {"asr_base": runs[0]["asr_base"], "client_seeds": runs}
    for k in ("asr", "accb", "asr_base"):
        out[f"{k}_over_seeds"] = mean_std([r[k] for r in runs])
    return out


def summarise(
    bugs: list[dict[str, Any]], clean: dict[str, float], at: list[int], margin: float
) -> list[dict[str, Any]]:
    steps = sorted({r["step"] for b in bugs for r in b["snapshots"] if r["step"] in at})
    full = max(steps)
    out = []
    for step in steps:
        rows = [next(r for r in b["snapshots"] if r["step"] == step) for b in bugs]
        full_s = [next(r for r in b["snapshots"] if r["step"] == full)["seconds"] for b in bugs]
        out.append(_summary(f"{step} steps", rows, bugs, full_s, clean=clean, margin=margin))
    rule_rows = [next(r for r in b["snapshots"] if r["step"] == b["stop_step"]) for b in bugs]
    full_s = [next(r for r in b["snapshots"] if r["step"] == full)["seconds"] for b in bugs]
    out.append(_summary("stopping rule", rule_rows, bugs, full_s, clean=clean, margin=margin))
    return out


def _summary(label, rows, bugs, full_seconds, *, clean, margin) -> dict[str, Any]:
    ratio = [r["seconds"] / f for r, f in zip(rows, full_seconds, strict=True)]
    return {
        "label": label,
        "steps": mean_std([float(r["step"]) for r in rows]),
        "cp": sum(bool(r["cp"]) for r in rows),
        **{k: mean_std([float(r[k]) for r in rows]) for k in ("acc", "asr", "accb")},
        **({"asr_base": mean_std([r["asr_base"] for r in rows])} if "asr_base" in rows[0] else {}),
        "good": sum(
            good(r, b["before"]["acc"], clean, margin) for r, b in zip(rows, bugs, strict=True)
        ),
        "time_ratio_to_full": mean_std(ratio),
        "good_on_means": good(
            _means(rows), _means([b["before"] for b in bugs])["acc"], clean, margin
        ),
    }


def _means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of each metric over bugs (CP: whether every bug is fixed)."""
    out = {k: sum(float(r[k]) for r in rows) / len(rows) for k in ("acc", "asr", "accb")}
    return {**out, "cp": all(bool(r["cp"]) for r in rows)}


def resummarise(path: str) -> None:
    """Recompute the summary of a finished run from its per-bug records."""
    with open(path) as f:
        out = json.load(f)
    last = max(r["step"] for b in out["bugs"] for r in b["snapshots"])
    at = out.get("at") or sorted(set(AT) | {last})  # runs before "at" was recorded: --at's default
    out["summary"] = summarise(out["bugs"], out["clean"], at, out["margin"])
    write_json_atomic(path, out, True)
    for row in out["summary"]:
        print(row)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--setting", default="default", help="experiment setting (default)")
    p.add_argument("--bugs", type=int, default=5, help="bug instances (5)")
    p.add_argument("--seed", type=int, default=0, help="the first bug's seed (0)")
    p.add_argument("--steps", type=int, default=600, help="patch steps (600)")
    p.add_argument(
        "--at", type=int, nargs="+", default=list(AT), help="steps to measure the client at"
    )
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up (0)")
    p.add_argument("--lr", type=float, default=None, help="default: the setting's")
    p.add_argument("--batch-size", type=int, default=None, help="default: the setting's")
    p.add_argument("--anchor", type=float, default=0.0, help="L2-SP weight anchor α (0: none)")
    p.add_argument("--locality", choices=["cosine", "centred", "relational"], default="cosine")
    p.add_argument(
        "--val-data",
        default=None,
        help="D_val's data, e.g. fashion_mnist+sklearn_digits (an equal mixture); "
        "default: the setting's",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="points of ASR/AccB from the clean client a good patch may be (1)",
    )
    p.add_argument(
        "--client-seeds",
        type=int,
        default=0,
        help="also refit each snapshot's client (and the clean one) with this many classifier "
        "seeds and record their ASR, AccB and base rate (0: off)",
    )
    p.add_argument("--json", required=True)
    p.add_argument("--resummarise", action="store_true", help="only redo --json's summary")
    args = p.parse_args()
    if args.resummarise:
        return resummarise(args.json)
    setting = get_setting(args.setting)
    if args.val_data:
        setting = replace(setting, val_data=args.val_data)
    prep = prepare(setting, log=print)
    spread = {}
    if args.client_seeds:  # first, so that a fault shows before the long patches
        clean = client_spread(prep.clean_client, prep.fit_seed, args.client_seeds)
        spread = {"clean_spread": clean}
        print(f"clean client over {args.client_seeds} classifier seeds: {clean}")
    bugs = [one_bug(prep, s, args, print) for s in range(args.seed, args.seed + args.bugs)]
    out = {
        "setting": args.setting,
        "optimizer": args.optimizer,
        "threads": torch.get_num_threads(),
        "lr": args.lr or prep.setting.patch["lr"],
        "batch_size": args.batch_size or prep.setting.patch["batch_size"],
        "schedule": args.schedule,
        "warmup": args.warmup,
        "anchor": args.anchor,
        "val_data": setting.val_data,
        "locality": args.locality,
        "clean": prep.clean,
        **spread,
        "bugs": bugs,
        "margin": args.margin,
        "at": sorted(set(args.at) | {args.steps}),
        "summary": summarise(bugs, prep.clean, sorted(set(args.at) | {args.steps}), args.margin),
    }
    write_json_atomic(args.json, out)
    for row in out["summary"]:
        print(row)


if __name__ == "__main__":
    main()
