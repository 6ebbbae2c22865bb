"""A weight-space anchor for the patch: L2-SP (Li, Grandvalet & Davoine, ICML 2018).

The locality loss holds the features of D_val's inputs only; an input far from D_val (a digit
when D_val is clothes) keeps its feature only as far as the weights it passes through stay put.
The anchor adds ``(α/2)·||θ' - θ||²`` to the patch's loss, θ the encoder's own weights, so a
weight moves only where the patch's losses keep asking for it.
"""

from __future__ import annotations

import math

import torch

from mudjack.errors import InputError


def check_anchor(strength: float) -> None:
    """``strength`` must be a finite number >= 0 (0: no anchor)."""
    ok = isinstance(strength, int | float) and not isinstance(strength, bool)
    if not ok or not math.isfinite(strength) or strength < 0:
        raise InputError(
            f"Expected anchor to be a finite number >= 0 (0 turns it off), got {strength!r}."
        )


class WeightAnchor:
    """The L2-SP penalty of one patch: built on the weights before the first step.

    Args:
        params: the parameters the patch trains (their current values are the anchor).
        strength: α, the penalty's weight.
    """

    def __init__(self, params: list[torch.Tensor], strength: float) -> None:
        check_anchor(strength)
        self.params = params
        self.start = [p.detach().clone() for p in params]
        self.strength = strength

    def pull(self) -> None:
        """Add the penalty's gradient ``α·(θ' - θ)`` to the parameters' gradients (after
        ``backward``, before the optimiser's step)."""
        with torch.no_grad():
            for p, p0 in zip(self.params, self.start, strict=True):
                if p.grad is not None:
                    p.grad.add_(p - p0, alpha=self.strength)

    def drift(self) -> float:
        """``||θ' - θ||``: how far the weights have moved (logged)."""
        with torch.no_grad():
            pairs = zip(self.params, self.start, strict=True)
            total = torch.stack([(p - p0).pow(2).sum() for p, p0 in pairs]).sum()
        return math.sqrt(float(total))
