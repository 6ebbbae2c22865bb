"""How well each reverse-engineering method recovers each adaptive trigger; writes JSON (never
asserts). Reverse-engineering only: nothing is patched.

    python benchmarks/reverse_bench.py --bugs 3 --json results/reverse_adaptive.json

For every encoder (default: Table 11's six patterns and Table 15's whole-image trigger) it
fits the client, draws N real bugs and reverse-engineers each with Occlusion + K-means (the
paper's method) and with trigger inversion (``InversionReverser``, patch mode for patch
triggers, perturbation mode for the whole-image one), recording the IoU of the recovered mask
with the pixels the trigger changed in x_b (or the cosine of the recovered δ with the true
one), the recovered size and the time.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from mudjack.experiments import get_setting
from mudjack.experiments.prepared import prepare
from mudjack.report.tables import mean_std
from mudjack.reverse import InversionReverser
from mudjack.triggers import PerturbationTrigger
from mudjack.utils import write_json_atomic

ENCODERS = [
    "fmnist-badencoder-r18w16",
    "fmnist-badencoder-random-square-r18w16",
    "fmnist-badencoder-random-triangle-r18w16",
    "fmnist-badencoder-logo-r18w16",
    "fmnist-badencoder-emoji-r18w16",
    "fmnist-badencoder-spread-out-r18w16",
    "fmnist-badencoder-latent-r18w16",
]


def one_encoder(name: str, bugs: int, seed: int, say: Any) -> dict[str, Any]:
    prep = prepare(get_setting("default").with_overrides({"encoder": name}), log=say)
    whole = isinstance(prep.true_trigger, PerturbationTrigger)
    inverter = InversionReverser(mode="perturbation" if whole else "patch")
    rows: list[dict[str, Any]] = []
    for s in range(seed, seed + bugs):
        draw = prep.draw(s)
        t = time.perf_counter()
        rev = inverter.reverse(prep.backdoored, draw.bug, data=draw.val, seed=s)
        inverted = {**prep.score_reverse(rev, draw.bug), "seconds": time.perf_counter() - t}
        occlusion = {**draw.reverse_row, "seconds": draw.reverse.seconds}
        rows.append({"seed": s, "occlusion": occlusion, "inversion": inverted})
        say(f"{name} bug {s}: occlusion {occlusion} | inversion {inverted}")
    summary = {
        method: {
            key: mean_std([r[method][key] for r in rows if r[method].get(key) is not None])
            for key in ("iou", "cosine", "pixels", "seconds")
            if any(r[method].get(key) is not None for r in rows)
        }
        for method in ("occlusion", "inversion")
    }
    return {"encoder": name, "trigger": repr(prep.true_trigger), "bugs": rows, "summary": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoders", nargs="+", default=ENCODERS)
    p.add_argument("--bugs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    start = time.perf_counter()
    out = [one_encoder(name, a.bugs, a.seed, print) for name in a.encoders]
    result = {"encoders": out, "bugs": a.bugs, "seconds": time.perf_counter() - start}
    write_json_atomic(a.json, result)
    print(f"-> {a.json}")


if __name__ == "__main__":
    main()
