"""Encoder-side baselines of section 5.1 (Table 3), behind the same :class:`Patcher` interface.

All of them start from the backdoored encoder h and, like Mudjacking, keep BatchNorm frozen and
augment x_b and x_r at every step. They differ in what they optimise:

* :class:`FineTune` (``ft``): the effectiveness loss alone, ``min -cos(h'(x_b), h'(x_r))``.
* :class:`FineTuneLp` (``ft-l2``, ``ft-linf``): the same, with projected gradient descent onto
  ``||θ' - θ||_p <= δ`` after every step (Zhu et al., "Modifying Memories in Transformer
  Models", 2020; δ = 0.01 as in the paper).
* :class:`Unlearning` (``unlearning``): the paper's extension of Liu et al., "Backdoor Defense
  with Machine Unlearning" (INFOCOM 2022): the effectiveness loss with an ℓ1 bound on the
  parameter change.
* :class:`~mudjack.patching.pruning.FinePruning` (``fine-pruning``, in its own module).

"The same parameter setting as Mudjacking" (section 5.1) is read as: the same epochs, batch
size, learning rate and step cap, so every method takes the same number of optimiser steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mudjack.bug import BugInstance
from mudjack.data.augment import PatchAugment
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.patching.base import register_patcher
from mudjack.patching.mudjacking import Mudjacking
from mudjack.utils import trainable


@register_patcher("ft")
class FineTune(Mudjacking):
    """FT: fine-tune h on the effectiveness loss alone (no locality, no generalizability).

    Takes Mudjacking's schedule arguments (``epochs``, ``batch_size``, ``lr``, ``max_steps``,
    ``optimizer``, ``augment``, ``log_every``); ``batch_size`` only sets the number of steps
    per epoch, as for Mudjacking, since each step sees the bug pair alone. Needs no trigger.
    """

    _FIXED = ("lambda_e", "lambda_l", "lambda_g", "random_location", "reference_terms")

    def __init__(
        self,
        *,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        log_every: int = 10,
    ) -> None:
        super().__init__(
            lambda_l=0.0,
            lambda_g=0.0,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            optimizer=optimizer,
            augment=augment,
            log_every=log_every,
        )

    def provenance(self) -> dict[str, Any]:
        return {k: v for k, v in super().provenance().items() if k not in self._FIXED}


@dataclass
class _Ball:
    """One call's state of a bounded fine-tuning: the trained parameters, their starting
    values and how many steps so far were projected back into the ball."""

    params: list[torch.Tensor]
    start: list[torch.Tensor]
    projected_steps: int = 0


class _Bounded(FineTune):
    """FT with a projection of ``θ' - θ`` after every step (``_project``).

    The patch history logs ``projected_steps``, how many steps so far ended outside the ball
    (and were projected back): 0 means the bound never acted and the result is FT's.
    """

    def _begin(self, patched: Encoder, bug: BugInstance, val: Any, seed: int) -> _Ball:
        params = trainable(patched)
        return _Ball(params, [p.detach().clone() for p in params])

    def _after_step(self, patched: Encoder, state: _Ball) -> dict[str, float]:
        with torch.no_grad():
            deltas = [p - p0 for p, p0 in zip(state.params, state.start, strict=True)]
            state.projected_steps += int(self._project(deltas))
            # written back even when unchanged, so the weights stay bit-identical to the
            # committed results (p0 + (p - p0) may differ from p in the last bit)
            for p, p0, d in zip(state.params, state.start, deltas, strict=True):
                p.copy_(p0 + d)
        return {"projected_steps": float(state.projected_steps)}

    def _hook_state(self, state: _Ball) -> dict[str, Any]:
        return {"projected_steps": state.projected_steps}

    def _restore_hook_state(self, state: _Ball, saved: dict[str, Any]) -> None:
        state.projected_steps = int(saved["projected_steps"])

    def _project(self, deltas: list[torch.Tensor]) -> bool:
        """Project ``deltas`` in place onto the ball; return whether they were outside it."""
        raise NotImplementedError


class FineTuneLp(_Bounded):
    """FT+ℓp: FT with projected gradient descent onto ``||θ' - θ||_p <= delta``.

    Args:
        p: ``2`` (the whole parameter vector is one ℓ2 ball: scaled back when longer than
            ``delta``) or ``"inf"`` (every parameter clipped to ``[θ - delta, θ + delta]``).
        delta: the radius (0.01 in the paper).
        epochs, batch_size, lr, max_steps, optimizer, augment, log_every: FT's schedule.
    """

    def __init__(
        self,
        *,
        p: int | str = 2,
        delta: float = 0.01,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        log_every: int = 10,
    ) -> None:
        if p not in (2, "inf"):
            raise InputError(f"Expected p = 2 or 'inf', got {p!r}.")
        if delta <= 0:
            raise InputError(f"Expected delta > 0, got {delta}.")
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            optimizer=optimizer,
            augment=augment,
            log_every=log_every,
        )
        self.p = p
        self.delta = delta

    def _project(self, deltas: list[torch.Tensor]) -> bool:
        if self.p == "inf":
            outside = any(bool((d.abs() > self.delta).any()) for d in deltas)
            for d in deltas:
                d.clamp_(-self.delta, self.delta)
            return outside
        norm = torch.linalg.vector_norm(torch.stack([d.norm() for d in deltas]))
        if norm <= self.delta:
            return False
        for d in deltas:
            d.mul_(self.delta / norm)
        return True


@register_patcher("ft-l2")
class FineTuneL2(FineTuneLp):
    """FT+ℓ2 (see :class:`FineTuneLp`)."""

    def __init__(
        self,
        *,
        delta: float = 0.01,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        log_every: int = 10,
    ) -> None:
        super().__init__(
            p=2,
            delta=delta,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            optimizer=optimizer,
            augment=augment,
            log_every=log_every,
        )


@register_patcher("ft-linf")
class FineTuneLinf(FineTuneLp):
    """FT+ℓ∞ (see :class:`FineTuneLp`)."""

    def __init__(
        self,
        *,
        delta: float = 0.01,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        log_every: int = 10,
    ) -> None:
        super().__init__(
            p="inf",
            delta=delta,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            optimizer=optimizer,
            augment=augment,
            log_every=log_every,
        )


def project_l1_ball(v: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of a flat vector onto ``{u : ||u||_1 <= radius}``.

    Soft-thresholds ``v`` by the τ with ``sum(max(|v| - τ, 0)) = radius``, found by the
    fixed-point iteration of Michelot (1986), which increases τ monotonically to the root in at
    most ``len(v)`` (in practice a handful of) passes, without sorting millions of entries.
    """
    a = v.abs()
    if float(a.sum()) <= radius:
        return v
    tau = (float(a.sum()) - radius) / a.numel()
    for _ in range(100):
        active = a > tau
        new = (float(a[active].sum()) - radius) / int(active.sum())
        if new <= tau:
            break
        tau = new
    return torch.sign(v) * (a - tau).clamp_min(0)


@register_patcher("unlearning")
class Unlearning(_Bounded):
    """Unlearning, as the paper extends Liu et al. (INFOCOM 2022) to foundation models.

    The original maximises the cross-entropy of trigger-stamped inputs with the target label
    while bounding the parameter change in ℓ1; the paper replaces the cross-entropy by the
    cosine loss between x_b and x_r, so this is FT projected onto an ℓ1 ball after every step.

    Departure: neither paper gives the ℓ1 radius. Ours is ``delta`` per parameter, summed
    (``delta * number of parameters``, δ = 0.01 as for FT+ℓp), the smallest ℓ1 ball that
    contains FT+ℓ∞'s feasible set, so the bound is looser than FT+ℓ∞'s but of the same scale.

    Args:
        delta: per-parameter budget (0.01); the radius is ``delta * n_params``.
        epochs, batch_size, lr, max_steps, optimizer, augment, log_every: FT's schedule.
    """

    def __init__(
        self,
        *,
        delta: float = 0.01,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        log_every: int = 10,
    ) -> None:
        if delta <= 0:
            raise InputError(f"Expected delta > 0, got {delta}.")
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            optimizer=optimizer,
            augment=augment,
            log_every=log_every,
        )
        self.delta = delta

    def _project(self, deltas: list[torch.Tensor]) -> bool:
        flat = torch.cat([d.reshape(-1) for d in deltas])
        radius = self.delta * flat.numel()
        if float(flat.abs().sum()) <= radius:
            return False
        flat = project_l1_ball(flat, radius)
        i = 0
        for d in deltas:
            d.copy_(flat[i : i + d.numel()].view_as(d))
            i += d.numel()
        return True
