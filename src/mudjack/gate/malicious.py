"""Malicious bug reports: what a client who wants to damage the model could send instead of a
genuine bug. The gate benchmark (``benchmarks/gate_bench.py``) draws each kind from a genuine
report, so that the two differ only in what the attacker changed. Images only.

* ``label-flip``: x_r from another class (the client tries to merge two classes);
* ``oversized``: x_b is x_r with half of it replaced by another image's half (a "trigger"
  covering half the image);
* ``adversarial-reference``: x_r perturbed (ℓ∞ ≤ 8/255, 100 PGD steps) so that its features
  sit near a chosen other class's mean feature and away from its own class's, while it still
  looks like its own class;
* ``damaging-pair``: x_b a clean input of another class, which the client rightly labels as
  that class, reported as a bug of x_r's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError, UnknownNameError
from mudjack.utils import check_range, make_generator

KINDS = ("label-flip", "oversized", "adversarial-reference", "damaging-pair")


def _other(labels: torch.Tensor, label: int, gen: torch.Generator) -> int:
    """The index of a random input whose label is not ``label``."""
    idx = torch.nonzero(labels != label).flatten()
    return int(idx[torch.randint(len(idx), (1,), generator=gen)])


def _swap(bug: BugInstance, which: str, inputs: torch.Tensor, labels: torch.Tensor, seed: int,
          kind: str) -> BugInstance:  # fmt: skip
    """``bug`` with ``which`` (``"x_b"`` or ``"x_r"``) replaced by an input of another class."""
    i = _other(labels, bug.label, make_generator(seed))
    meta = {"kind": kind, f"{which}_class": int(labels[i])}
    return replace(bug, **{which: inputs[i].clone()}, metadata=meta)


def label_flip(
    bug: BugInstance, inputs: torch.Tensor, labels: torch.Tensor, seed: int
) -> BugInstance:
    """The genuine x_b, with x_r replaced by an input of another class."""
    return _swap(bug, "x_r", inputs, labels, seed, "label-flip")


def oversized(
    bug: BugInstance, inputs: torch.Tensor, labels: torch.Tensor, seed: int
) -> BugInstance:
    """x_b = x_r with one half (top, bottom, left or right, drawn with ``seed``) replaced by the
    same half of an input of another class."""
    gen = make_generator(seed)
    donor = inputs[_other(labels, bug.label, gen)]
    side = int(torch.randint(4, (1,), generator=gen))
    x_r: torch.Tensor = bug.x_r  # type: ignore[assignment]
    h, w = x_r.shape[-2:]
    mask = torch.zeros(h, w)
    region = [(slice(0, h // 2), slice(None)), (slice(h // 2, h), slice(None)),
              (slice(None), slice(0, w // 2)), (slice(None), slice(w // 2, w))][side]  # fmt: skip
    mask[region] = 1
    x_b = x_r * (1 - mask) + donor * mask
    return replace(bug, x_b=x_b, metadata={"kind": "oversized", "side": side})


def adversarial_reference(
    encoder: Encoder,
    bug: BugInstance,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    seed: int,
    *,
    epsilon: float = 8 / 255,
    steps: int = 100,
    device: Any = "cpu",
) -> BugInstance:
    """x_r + δ, ‖δ‖∞ ≤ ``epsilon``: PGD (sign steps of 2.5·ε/steps) toward the mean feature of
    a random other class d of ``inputs`` and away from that of x_r's class. The metadata
    records both cosines after the attack."""
    check_range(epsilon, "epsilon (an l-inf budget in pixel units)")
    if epsilon == 0:
        raise InputError("Expected epsilon in (0, 1], got 0: the attack would change nothing.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"Expected steps >= 1 PGD steps, got {steps!r}.")
    gen = make_generator(seed)
    classes = [c for c in labels.unique().tolist() if c != bug.label]
    d = classes[int(torch.randint(len(classes), (1,), generator=gen))]
    enc = encoder.to(device).eval()
    with torch.no_grad():
        mu_d, mu_c = (
            F.normalize(enc.embed(inputs[labels == c].to(device)), dim=1).mean(0)
            for c in (d, bug.label)
        )
    x_r: torch.Tensor = bug.x_r.to(device)  # type: ignore[union-attr]
    delta = torch.zeros_like(x_r, requires_grad=True)
    for _ in range(steps):
        f = enc.embed((x_r + delta).clamp(0, 1)[None])[0]
        loss = F.cosine_similarity(f, mu_c, dim=0) - F.cosine_similarity(f, mu_d, dim=0)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta -= 2.5 * epsilon / steps * grad.sign()
            delta.clamp_(-epsilon, epsilon)
    x_adv = (x_r + delta.detach()).clamp(0, 1)
    with torch.no_grad():
        f = enc.embed(x_adv[None])[0]
        cos = {"cos_to_d": float(F.cosine_similarity(f, mu_d, dim=0)),
               "cos_to_own": float(F.cosine_similarity(f, mu_c, dim=0))}  # fmt: skip
    meta = {"kind": "adversarial-reference", "pulled_to": d, **cos}
    return replace(bug, x_r=x_adv.cpu(), metadata=meta)


def damaging_pair(
    bug: BugInstance, inputs: torch.Tensor, labels: torch.Tensor, seed: int
) -> BugInstance:
    """x_b a clean input of another class, reported as a bug of x_r's class."""
    return _swap(bug, "x_b", inputs, labels, seed, "damaging-pair")


def craft(
    kind: str,
    encoder: Encoder,
    bug: BugInstance,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    seed: int,
    device: Any = "cpu",
    *,
    epsilon: float = 8 / 255,
    steps: int = 100,
) -> BugInstance:
    """A malicious report of ``kind`` (one of :data:`KINDS`) made from the genuine ``bug``,
    with ``inputs``/``labels`` the clean inputs the attacker draws from; ``epsilon`` and
    ``steps`` are the adversarial reference's ℓ∞ budget and PGD steps."""
    makers: dict[str, Callable[..., BugInstance]] = {
        "label-flip": label_flip,
        "oversized": oversized,
        "damaging-pair": damaging_pair,
    }
    if kind == "adversarial-reference":
        return adversarial_reference(encoder, bug, inputs, labels, seed, epsilon=epsilon,
                                     steps=steps, device=device)  # fmt: skip
    if kind not in makers:
        raise UnknownNameError(f"Unknown malicious report kind {kind!r}; expected one of {KINDS}.")
    return makers[kind](bug, inputs, labels, seed)
