"""Intake: is a bug report plausible, before anything is patched? (beyond the paper)

A genuine report of a backdoor bug has a reference input x_r that the provider's own probe
also puts in the reported class, a trigger that is small next to the input, and a trigger that
works: pasted onto clean inputs it carries their features toward x_b's, as a backdoor trigger
does on any input. Reports crafted to damage the model (x_r from another class, a "trigger"
covering half the image, a clean x_b of another class) fail at least one of these. How far
x_b's features move back toward x_r's when the trigger is occluded is recorded too (in the
verdict's notes), not held to a threshold: on the default setting it did not separate genuine
reports from label flips (docs/gate.md).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.gate.probe import KnnProbe
from mudjack.gate.verdict import Check, Verdict
from mudjack.registry import Configurable
from mudjack.reverse import ReverseResult, TriggerReverser
from mudjack.utils import check_range


class Intake(Configurable):
    """The intake checks of a bug report.

    Args:
        min_reference_vote: x_r's class must get at least this share of the probe's k nearest
            neighbours of x_r.
        max_trigger_fraction: the reverse-engineered trigger may cover at most this share of
            the input (pixels; words for text).
        min_transfer: pasting the recovered trigger onto clean probe inputs must raise their
            mean cosine to h(x_b) by at least this much (a backdoor trigger works on any input).
        transfer_inputs: how many of the probe's inputs the trigger is pasted onto.
        fill: the pixel value the trigger region is occluded with for the recorded occlusion
            gain (0: black, the shipped data sets' background); for text the words are removed.

    The defaults are calibrated on genuine bug reports of the default setting
    (``benchmarks/gate_bench.py``; see docs/gate.md).
    """

    def __init__(
        self,
        *,
        min_reference_vote: float = 0.3,
        max_trigger_fraction: float = 0.12,
        min_transfer: float = 0.42,
        transfer_inputs: int = 256,
        fill: float = 0.0,
    ) -> None:
        check_range(min_reference_vote, "min_reference_vote")
        check_range(max_trigger_fraction, "max_trigger_fraction")
        check_range(fill, "fill")
        check_range(min_transfer, "min_transfer (a change of cosine)", -2.0, 2.0)
        if (
            isinstance(transfer_inputs, bool)
            or not isinstance(transfer_inputs, int)
            or (transfer_inputs < 1)
        ):
            raise InputError(f"Expected transfer_inputs >= 1, got {transfer_inputs!r}.")
        self.min_reference_vote = min_reference_vote
        self.max_trigger_fraction = max_trigger_fraction
        self.min_transfer = min_transfer
        self.transfer_inputs = transfer_inputs
        self.fill = fill

    def check(
        self,
        encoder: Encoder,
        bug: BugInstance,
        probe: KnnProbe,
        reversed_: ReverseResult | None = None,
        *,
        seed: int = 0,
        device: Any = "cpu",
    ) -> Verdict:
        """Check ``bug`` against ``encoder`` and a probe fitted on it; ``reversed_`` is the
        trigger reverse-engineered from the bug (reversed here with Occlusion if None)."""
        try:
            bug.check(encoder)
        except InputError as exc:
            check = Check("valid_inputs", 0.0, 1.0, True, f"x_b and x_r are valid: {exc}")
            return Verdict("intake", [check])
        rev = reversed_ or TriggerReverser().reverse(encoder, bug, seed=seed, device=device)
        vote = float(probe.votes([bug.x_r] if bug.modality == "text" else bug.x_r[None])[
            0, bug.label
        ]) if bug.label < probe.classes_ else 0.0  # fmt: skip
        fraction = trigger_fraction(bug, rev)
        gain = occlusion_gain(encoder, bug, rev, self.fill, device)
        clean = probe.inputs_[: self.transfer_inputs]
        transfer = trigger_transfer(encoder, bug, rev, clean, seed=seed, device=device)
        checks = [
            Check("valid_inputs", 1.0, 1.0, True, "x_b and x_r are valid inputs"),
            Check("reference_class", vote, self.min_reference_vote, True,
                  f"share of x_r's probe neighbours of the reported class {bug.label}"),
            Check("trigger_size", fraction, self.max_trigger_fraction, False,
                  "share of x_b the reverse-engineered trigger covers"),
            Check("trigger_transfer", transfer, self.min_transfer, True,
                  "rise of clean inputs' mean cos to h(x_b) when the trigger is pasted on them"),
        ]  # fmt: skip
        notes = {"reverse_method": rev.method, "occlusion_gain": gain}
        return Verdict("intake", checks, notes=notes)


def trigger_fraction(bug: BugInstance, rev: ReverseResult) -> float:
    """The share of x_b's pixels (or words) that the recovered trigger covers."""
    if bug.modality == "text":
        return len(rev.words or []) / max(1, len(str(bug.x_b).split()))
    mask = getattr(rev.trigger, "mask", None)
    if mask is None:  # a whole-image perturbation
        return 1.0
    return float((mask.amax(0) > 0.5).float().mean())


def occluded(bug: BugInstance, rev: ReverseResult, fill: float) -> Any:
    """x_b with the recovered trigger taken out: masked pixels set to ``fill``, or the
    recovered words removed."""
    if bug.modality == "text":
        drop = set(rev.words or [])
        return " ".join(w for i, w in enumerate(str(bug.x_b).split()) if i not in drop)
    mask = getattr(rev.trigger, "mask", None)
    if mask is None:
        return bug.x_b
    m = (mask.amax(0, keepdim=True) > 0.5).to(bug.x_b.dtype)  # type: ignore[union-attr]
    return bug.x_b * (1 - m) + fill * m


@torch.no_grad()
def occlusion_gain(
    encoder: Encoder, bug: BugInstance, rev: ReverseResult, fill: float, device: Any = "cpu"
) -> float:
    """cos(h(x_b without trigger), h(x_r)) − cos(h(x_b), h(x_r))."""
    from mudjack.downstream.client import extract_features

    x_o = occluded(bug, rev, fill)
    if bug.modality == "text":
        inputs: Any = [bug.x_b, x_o, bug.x_r]
    else:
        inputs = torch.stack([bug.x_b, x_o, bug.x_r])  # type: ignore[list-item]
    f = extract_features(encoder, inputs, device=device)
    return float(F.cosine_similarity(f[1], f[2], dim=0) - F.cosine_similarity(f[0], f[2], dim=0))


@torch.no_grad()
def trigger_transfer(
    encoder: Encoder,
    bug: BugInstance,
    rev: ReverseResult,
    clean: Any,
    *,
    seed: int = 0,
    device: Any = "cpu",
) -> float:
    """mean cos(h(x ⊕ t), h(x_b)) − mean cos(h(x), h(x_b)) over the ``clean`` inputs, t the
    recovered trigger: how far the trigger alone carries inputs toward x_b."""
    from mudjack.downstream.client import extract_features
    from mudjack.utils import make_generator

    x_b = [bug.x_b] if bug.modality == "text" else bug.x_b[None]  # type: ignore[index]
    f_b = extract_features(encoder, x_b, device=device)[0]
    triggered = rev.trigger.apply(clean, make_generator(seed))
    f_x = extract_features(encoder, clean, device=device)
    f_t = extract_features(encoder, triggered, device=device)
    return float((f_t @ f_b).mean() - (f_x @ f_b).mean())
