"""Release: is a patched encoder safe to serve? (beyond the paper)

The patched encoder h' is compared with the original h on labelled provider data the client
never sent: how far clean features drift, how much a probe's accuracy drops (overall and on
x_r's class), whether the recovered trigger has stopped moving features, and whether the
reported bug is fixed under the provider's own probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.downstream.client import extract_features
from mudjack.encoders.base import Encoder
from mudjack.gate.probe import KnnProbe, accuracy_of
from mudjack.gate.verdict import Check, Verdict
from mudjack.registry import Configurable
from mudjack.triggers.base import Trigger
from mudjack.utils import check_range, make_generator


@dataclass
class ProbeData:
    """The provider's labelled data: ``fit`` for the k-NN probe, ``held_out`` to measure on
    (inputs and labels each; images ``(N, C, H, W)`` or lists of strings)."""

    fit_inputs: Any
    fit_labels: torch.Tensor
    held_inputs: Any
    held_labels: torch.Tensor


class Release(Configurable):
    """The release checks of a patch.

    Args:
        min_feature_cosine: mean cos(h(x), h'(x)) over held-out clean inputs.
        max_probe_drop: probe accuracy drop on held-out inputs, in points.
        max_class_drop: probe accuracy drop on the held-out inputs of x_r's class, in points.
        min_trigger_invariance: mean cos(h'(x ⊕ t), h'(x)) over held-out inputs, t the trigger
            the patch was made with.
        min_bug_vote: share of the patched probe's neighbours of x_b in the reported class.
        k: the probe's neighbours.

    The defaults were set by hand, not calibrated: on the 17 genuine patches of the default
    setting in ``benchmarks/gate_bench.py`` every value lay well inside them (docs/gate.md).
    """

    def __init__(
        self,
        *,
        min_feature_cosine: float = 0.85,
        max_probe_drop: float = 3.0,
        max_class_drop: float = 10.0,
        min_trigger_invariance: float = 0.9,
        min_bug_vote: float = 0.3,
        k: int = 10,
    ) -> None:
        check_range(min_feature_cosine, "min_feature_cosine", -1.0, 1.0)
        check_range(max_probe_drop, "max_probe_drop (points)", 0.0, 100.0)
        check_range(max_class_drop, "max_class_drop (points)", 0.0, 100.0)
        check_range(min_trigger_invariance, "min_trigger_invariance", -1.0, 1.0)
        check_range(min_bug_vote, "min_bug_vote")
        self.min_feature_cosine = min_feature_cosine
        self.max_probe_drop = max_probe_drop
        self.max_class_drop = max_class_drop
        self.min_trigger_invariance = min_trigger_invariance
        self.min_bug_vote = min_bug_vote
        self.k = k

    def check(
        self,
        original: Encoder,
        patched: Encoder,
        bug: BugInstance,
        trigger: Trigger,
        data: ProbeData,
        *,
        seed: int = 0,
        device: Any = "cpu",
    ) -> Verdict:
        """Compare ``patched`` with ``original`` on ``data``."""
        probes = [
            KnnProbe(k=self.k).fit(e, data.fit_inputs, data.fit_labels, device=device)
            for e in (original, patched)
        ]
        held, labels = data.held_inputs, data.held_labels.cpu()
        f_o = extract_features(original, held, device=device)
        f_p = extract_features(patched, held, device=device)
        drift = float(F.cosine_similarity(f_o, f_p, dim=1).mean())
        votes = [p.votes_of(f) for p, f in zip(probes, (f_o, f_p), strict=True)]
        acc = [accuracy_of(v, labels) for v in votes]
        mine = labels == bug.label
        class_acc = [accuracy_of(v[mine], labels[mine]) for v in votes]
        x_t = trigger.apply(held, make_generator(seed))
        f_t = extract_features(patched, x_t, device=device)
        invariance = float(F.cosine_similarity(f_t, f_p, dim=1).mean())
        x_b = [bug.x_b] if bug.modality == "text" else bug.x_b[None]  # type: ignore[index]
        vote = float(probes[1].votes(x_b)[0, bug.label]) if bug.label < probes[1].classes_ else 0.0
        checks = [
            Check("feature_drift", drift, self.min_feature_cosine, True,
                  "mean cos(h(x), h'(x)) over held-out clean inputs"),
            Check("probe_drop", acc[0] - acc[1], self.max_probe_drop, False,
                  f"probe accuracy drop in points ({acc[0]:.2f} -> {acc[1]:.2f})"),
            Check("reference_class_drop", class_acc[0] - class_acc[1], self.max_class_drop, False,
                  f"probe accuracy drop on class {bug.label} ({class_acc[0]:.2f} -> "
                  f"{class_acc[1]:.2f})"),
            Check("trigger_invariance", invariance, self.min_trigger_invariance, True,
                  "mean cos(h'(x + trigger), h'(x)) over held-out inputs"),
            Check("bug_fixed", vote, self.min_bug_vote, True,
                  f"share of x_b's neighbours in class {bug.label} under the patched probe"),
        ]  # fmt: skip
        return Verdict(
            "release", checks, notes={"probe_accuracy": acc, "class_accuracy": class_acc}
        )
