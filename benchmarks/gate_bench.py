"""The acceptance gate against malicious bug reports; writes JSON (never asserts).

    python benchmarks/gate_bench.py --reports 20 --json results/gate_bench.json

On the default setting (the shipped BadEncoder model, its Fashion-MNIST client), it draws
``--reports`` genuine bug reports and, from each, one malicious report of every kind in
``mudjack.gate.malicious.KINDS``. Every report goes through the intake checks; every report
that passes is patched (Mudjacking, the setting's schedule or ``--patch-steps``, with
``--schedule``, ``--warmup`` and ``--stop auto`` as for ``mudjack patch``) and the patch goes
through the release checks. With the gate off, the first ``--damage-reports`` reports of
each kind are patched whatever intake says, and the client's clean accuracy is measured before
and after (the damage a malicious report does when nobody checks). The persistence row: the
first genuine report's patch and the backdoored encoder, each measured before and after a
brief clean SimCLR fine-tune (``--persistence-steps``).

The provider's probe data is labelled pre-training data (Fashion-MNIST's training split; the
clients' data is its test split): 2,000 images to fit the k-NN probe, 2,000 held out.
``--stage intake`` stops after intake (no patching: minutes, not hours).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mudjack.experiments import get_setting
from mudjack.experiments.prepared import prepare
from mudjack.gate import Intake, ProbeData, Release
from mudjack.gate.malicious import KINDS, craft
from mudjack.gate.persistence import CleanFineTune
from mudjack.gate.probe import KnnProbe
from mudjack.patching import Mudjacking
from mudjack.patching.stopping import StopRule
from mudjack.report.tables import mean_std
from mudjack.utils import write_json_atomic


def probe_data(prep: Any, size: int, seed: int) -> ProbeData:
    """The labelled pre-training images (Fashion-MNIST's training split, never a client's),
    shuffled with ``seed``: ``size`` to fit the probe, ``size`` held out."""
    data = prep.val_pool.shuffled(seed)
    fit, held = data.subset(slice(0, size)), data.subset(slice(size, 2 * size))
    return ProbeData(fit.inputs, fit.labels, held.inputs, held.labels)


def reports(prep: Any, n: int, seed: int, kinds: list[str], epsilon: float,
            say: Any) -> list[dict[str, Any]]:  # fmt: skip
    """Genuine reports and, from each, one malicious report of each of ``kinds``."""
    out = []
    for s in range(seed, seed + n):
        draw = prep.draw(s)
        out.append({"kind": "genuine", "seed": s, "bug": draw.bug, "draw": draw})
        for kind in kinds:
            bug = craft(kind, prep.backdoored, draw.bug, prep.test.inputs, prep.test.labels, s,
                        epsilon=epsilon)  # fmt: skip
            out.append({"kind": kind, "seed": s, "bug": bug, "draw": draw})
        say(f"reports of bug seed {s} drawn")
    return out


def intake(prep: Any, rows: list[dict[str, Any]], probe: KnnProbe, gate: Intake) -> None:
    for r in rows:
        rev = prep.reverser.reverse(prep.backdoored, r["bug"], seed=r["seed"])
        r["reversed"] = rev
        r["intake"] = gate.check(prep.backdoored, r["bug"], probe, rev)


def release(prep: Any, r: dict[str, Any], data: ProbeData, gate: Release, patch: dict) -> None:
    """Patch with the report (``patch``: Mudjacking's arguments), then the release checks and
    the client's metrics."""
    patcher = Mudjacking(**patch)
    rev = r["reversed"]
    result = patcher.patch(prep.backdoored, r["bug"], r["draw"].val, rev.trigger, seed=r["seed"])
    r["release"] = gate.check(prep.backdoored, result.encoder, r["bug"], rev.trigger, data,
                              seed=r["seed"])  # fmt: skip
    r["patched"] = result.encoder
    after, _ = prep.measure(result.encoder, r["bug"], seed=r["seed"])
    before = r["draw"].before
    r["client"] = {"acc_before": before.acc, "acc_after": after.acc, "asr_after": after.asr,
                   "accb_after": after.accb, "acc_drop": before.acc - after.acc,
                   "cp_after": after.cp, "patch_steps": result.steps,
                   "patch_seconds": result.seconds}  # fmt: skip


def persistence(prep: Any, r: dict[str, Any], steps: int, seed: int) -> dict[str, Any]:
    """ASR before and after a clean SimCLR fine-tune, of the backdoored encoder and of the
    patch of report ``r``."""
    tune = CleanFineTune(steps=steps)
    images = prep.val_pool.shuffled(seed + 1).inputs[:5000]
    out: dict[str, Any] = {"fine_tune": tune.get_params(), "report_seed": r["seed"]}
    for name, enc in (("backdoored", prep.backdoored), ("patched", r["patched"])):
        before, _ = prep.measure(enc, r["bug"], seed=r["seed"])
        after, _ = prep.measure(tune.apply(enc, images, seed=seed), r["bug"], seed=r["seed"])
        out[name] = {"before": before.to_dict(), "after_fine_tune": after.to_dict()}
    return out


def row_json(r: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in r["bug"].metadata.items() if isinstance(v, (int, float, str))}
    out = {"kind": r["kind"], "seed": r["seed"], "metadata": meta, "intake": r["intake"].to_dict()}
    if "release" in r:
        out["release"] = r["release"].to_dict()
    if "client" in r:
        out["client"] = r["client"]
    out["refused"] = refused(r)
    return out


def refused(r: dict[str, Any]) -> bool | None:
    """Refused by intake, or by release; None if it passed intake and was not patched."""
    if not r["intake"].accepted:
        return True
    return None if "release" not in r else not r["release"].accepted


# A patch does harm when it misses the bar the issues hold a genuine patch to: the bug fixed,
# ASR within 5 points of the clean encoder's, AccB within 5 of it, clean accuracy within 2.
HARM = {"asr_over_clean": 5.0, "accb_under_clean": 5.0, "max_acc_drop": 2.0}


def harmful(client: dict[str, Any], clean: dict[str, float]) -> bool:
    """Whether a patch's client metrics miss :data:`HARM`'s bar."""
    return (
        not client["cp_after"]
        or client["asr_after"] > clean["asr"] + HARM["asr_over_clean"]
        or client["accb_after"] < clean["accb"] - HARM["accb_under_clean"]
        or client["acc_drop"] > HARM["max_acc_drop"]
    )


def confusion(rows: list[dict[str, Any]], clean: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per kind: where the reports were refused, which checks failed, and what the patched
    ones did to the client (``rows`` as :func:`row_json` writes them)."""
    table = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        at_intake = sum(r["intake"]["verdict"] != "accepted" for r in mine)
        at_release = sum(r["refused"] is True and r["intake"]["verdict"] == "accepted"
                         for r in mine)  # fmt: skip
        patched = [r for r in mine if "client" in r]
        bad = [r for r in patched if harmful(r["client"], clean)]
        table[kind] = {
            "reports": len(mine),
            "refused_at_intake": at_intake,
            "refused_at_release": at_release,
            "accepted": len(mine) - at_intake - at_release,
            "refusal_rate": (at_intake + at_release) / max(1, len(mine)),
            "failed_checks": _failed(mine),
            "acc_drop_gate_off": _mean_std([r["client"]["acc_drop"] for r in patched]),
            "patched": len(patched),
            "patched_harmful": len(bad),
            "accepted_harmful": sum(r["refused"] is False for r in bad),
        }
    return table


def _mean_std(values: list[float]) -> Any:
    return mean_std(values) if values else None


def _failed(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        for stage in ("intake", "release"):
            for name in r[stage]["failed"] if stage in r else []:
                counts[f"{stage}.{name}"] = counts.get(f"{stage}.{name}", 0) + 1
    return counts


def resummarise(path: str) -> None:
    """Recompute a finished run's confusion table from its reports, in place (the clean
    encoder's client is measured again if the run did not record it)."""
    with open(path) as f:
        out = json.load(f)
    if "clean" not in out:
        out["clean"] = prepare(get_setting(out["setting"]), log=print).clean
    out["harm"] = HARM
    out["confusion"] = confusion(out["reports"], out["clean"])
    write_json_atomic(path, out, True)
    for kind, row in out["confusion"].items():
        print(kind, {k: v for k, v in row.items() if k != "failed_checks"})


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, default=20, help="genuine reports (and of each kind)")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                   help="the malicious kinds drawn (default: all)")  # fmt: skip
    p.add_argument("--adv-epsilon", type=float, default=8 / 255,
                   help="the adversarial reference's l-inf budget (default 8/255)")  # fmt: skip
    p.add_argument("--damage-reports", type=int, default=5,
                   help="reports of each kind patched with the gate off")  # fmt: skip
    p.add_argument("--patch-steps", type=int, default=None, help="default: the setting's")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="the patch's learning-rate schedule (constant: the setting's)")  # fmt: skip
    p.add_argument("--warmup", type=int, default=0, help="the patch's warm-up steps (0)")
    p.add_argument("--stop", choices=["schedule", "auto"], default="schedule",
                   help="auto: the patch stops by the provider-side StopRule")  # fmt: skip
    p.add_argument("--probe-size", type=int, default=2000)
    p.add_argument("--persistence-steps", type=int, default=200,
                   help="clean fine-tune steps of the persistence row (0: none)")  # fmt: skip
    p.add_argument("--stage", choices=["intake", "all"], default="all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resummarise", action="store_true",
                   help="only recompute --json's confusion table from its reports")  # fmt: skip
    p.add_argument("--json", required=True)
    return p.parse_args()


def patch_all(prep: Any, rows: list, data: ProbeData, gate: Release, patch: dict,
              damage_reports: int) -> None:  # fmt: skip
    """Patch every intake-accepted report, and the first ``damage_reports`` of each kind
    whatever intake said (the gate-off damage)."""
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        for i, r in enumerate(mine):
            if r["intake"].accepted or i < damage_reports:
                release(prep, r, data, gate, patch)
                print(f"{kind} {r['seed']}: {row_json(r)['refused']} {r.get('client')}")


def main() -> None:
    a = parse()
    if a.resummarise:
        return resummarise(a.json)
    start = time.perf_counter()
    prep = prepare(get_setting("default"), log=print)
    steps = a.patch_steps or prep.setting.patch["max_steps"]
    patch = {**prep.setting.patch, "max_steps": steps, "schedule": a.schedule}
    patch |= {"warmup": a.warmup, "stop": StopRule() if a.stop == "auto" else None}
    data = probe_data(prep, a.probe_size, a.seed)
    probe = KnnProbe().fit(prep.backdoored, data.fit_inputs, data.fit_labels)
    rows = reports(prep, a.reports, a.seed, a.kinds, a.adv_epsilon, print)
    intake_gate, release_gate = Intake(), Release()
    intake(prep, rows, probe, intake_gate)
    print(f"intake done in {time.perf_counter() - start:.0f}s")
    header = {
        "setting": prep.setting.name,
        "encoder": prep.setting.encoder,
        "clean": prep.clean,
        "harm": HARM,
        "adv_epsilon": a.adv_epsilon,
        "patch_steps": steps,
        "patch_schedule": {"schedule": a.schedule, "warmup": a.warmup, "stop": a.stop},
        "probe": {"k": probe.k, "fit": len(data.fit_labels), "held_out": len(data.held_labels)},
        "intake_thresholds": intake_gate.get_params(),
        "release_thresholds": release_gate.get_params(),
    }
    if a.stage == "all":  # the intake results survive whatever happens while patching
        partial = Path(a.json).with_suffix(".intake.json")
        write_json_atomic(partial, {**header, "reports": [row_json(r) for r in rows]}, True)
        patch_all(prep, rows, data, release_gate, patch, a.damage_reports)
        first = next((r for r in rows if r["kind"] == "genuine" and "patched" in r), None)
        if first is not None and a.persistence_steps:
            header["persistence"] = persistence(prep, first, a.persistence_steps, a.seed)
    out = [row_json(r) for r in rows]
    result = {**header, "confusion": confusion(out, prep.clean), "reports": out,
              "seconds": time.perf_counter() - start}  # fmt: skip
    write_json_atomic(a.json, result)
    print(f"-> {a.json}")


if __name__ == "__main__":
    main()
