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
* :class:`FinePruning` (``fine-pruning``): Liu, Dolan-Gavitt, Garg, "Fine-Pruning" (RAID
  2018), as the paper extends it: prune half of the channels that are dormant on x_r, then
  fine-tune on pre-training data with the pre-training objective.

"The same parameter setting as Mudjacking" (section 5.1) is read as: the same epochs, batch
size, learning rate and step cap, so every method takes the same number of optimiser steps.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.data.augment import PatchAugment, SimCLRAugment
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.patching.base import Patcher, PatchResult, register_patcher
from mudjack.patching.mudjacking import Mudjacking
from mudjack.triggers.base import Trigger
from mudjack.utils import check_schedule, resolve_device


@register_patcher("ft")
class FineTune(Mudjacking):
    """FT: fine-tune h on the effectiveness loss alone (no locality, no generalizability).

    Takes Mudjacking's schedule arguments (``epochs``, ``batch_size``, ``lr``, ``max_steps``,
    ``optimizer``, ``augment``); ``batch_size`` only sets the number of steps per epoch, as
    for Mudjacking, since each step sees the bug pair alone. Needs no trigger.
    """

    def __init__(self, **kwargs: Any) -> None:
        for k in ("lambda_e", "lambda_l", "lambda_g", "random_location", "reference_terms"):
            if k in kwargs:
                raise InputError(f"{type(self).__name__} fixes {k}; do not pass it.")
        super().__init__(lambda_l=0.0, lambda_g=0.0, **kwargs)

    def get_params(self) -> dict[str, Any]:
        drop = {"lambda_e", "lambda_l", "lambda_g", "random_location", "reference_terms"}
        return {k: v for k, v in super().get_params().items() if k not in drop}


class _Bounded(FineTune):
    """FT with a projection of ``θ' - θ`` after every step (``_project``).

    The patch history logs ``projected_steps``, how many steps so far ended outside the ball
    (and were projected back): 0 means the bound never acted and the result is FT's.
    """

    def _begin(self, patched: Encoder, bug: BugInstance, val: Any, seed: int) -> None:
        self.params_ = [p for p in patched.parameters() if p.requires_grad]
        self.start_ = [p.detach().clone() for p in self.params_]
        self.projected_steps_ = 0

    def _after_step(self, patched: Encoder) -> dict[str, float]:
        with torch.no_grad():
            deltas = [p - p0 for p, p0 in zip(self.params_, self.start_, strict=True)]
            self.projected_steps_ += int(self._project(deltas))
            # written back even when unchanged, so the weights stay bit-identical to the
            # committed results (p0 + (p - p0) may differ from p in the last bit)
            for p, p0, d in zip(self.params_, self.start_, deltas, strict=True):
                p.copy_(p0 + d)
        return {"projected_steps": float(self.projected_steps_)}

    def _project(self, deltas: list[torch.Tensor]) -> bool:
        """Project ``deltas`` in place onto the ball; return whether they were outside it."""
        raise NotImplementedError

    def patch(self, encoder: Encoder, *args: Any, **kwargs: Any) -> PatchResult:
        try:
            return super().patch(encoder, *args, **kwargs)
        finally:  # the starting weights are per call, not part of the patcher
            self.params_, self.start_ = [], []


class FineTuneLp(_Bounded):
    """FT+ℓp: FT with projected gradient descent onto ``||θ' - θ||_p <= delta``.

    Args:
        p: ``2`` (the whole parameter vector is one ℓ2 ball: scaled back when longer than
            ``delta``) or ``"inf"`` (every parameter clipped to ``[θ - delta, θ + delta]``).
        delta: the radius (0.01 in the paper).
        **kwargs: FT's schedule arguments.
    """

    def __init__(self, *, p: int | str = 2, delta: float = 0.01, **kwargs: Any) -> None:
        if p not in (2, "inf"):
            raise InputError(f"Expected p = 2 or 'inf', got {p!r}.")
        if delta <= 0:
            raise InputError(f"Expected delta > 0, got {delta}.")
        super().__init__(**kwargs)
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

    def __init__(self, *, delta: float = 0.01, **kwargs: Any) -> None:
        super().__init__(p=2, delta=delta, **kwargs)


@register_patcher("ft-linf")
class FineTuneLinf(FineTuneLp):
    """FT+ℓ∞ (see :class:`FineTuneLp`)."""

    def __init__(self, *, delta: float = 0.01, **kwargs: Any) -> None:
        super().__init__(p="inf", delta=delta, **kwargs)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "p": "inf"}


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
        **kwargs: FT's schedule arguments.
    """

    def __init__(self, *, delta: float = 0.01, **kwargs: Any) -> None:
        if delta <= 0:
            raise InputError(f"Expected delta > 0, got {delta}.")
        super().__init__(**kwargs)
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


@register_patcher("fine-pruning")
class FinePruning(Patcher):
    """Fine-Pruning, as the paper extends it to foundation models (image encoders).

    1. Prune: feed x_r through h and, in the encoder's pruning layer (the last convolution
       whose output channels can be removed without touching a residual connection: the first
       convolution of ResNet-18's last block), zero the ``ratio`` of channels with the lowest
       mean activation on x_r (their filter weights and BatchNorm scale and shift), so they
       output 0.
    2. Fine-tune the pruned encoder on pre-training data (the validation set D_val, a sample of
       it) with the pre-training objective (SimCLR's NT-Xent with a fresh projection head; the
       paper: 50 epochs), keeping the pruned channels at zero.

    Departures: the original prunes the channels dormant on clean data and fine-tunes a
    classifier on labelled data; the paper's version ranks the channels on x_r alone and
    fine-tunes on pre-training data, as here. BatchNorm statistics are updated while
    fine-tuning (the pre-training objective trains in train mode). Text encoders are not
    supported: the bundled MiniLM ships no pre-training (masked-language-model) head.

    Args:
        ratio: fraction of the layer's channels to prune (0.5).
        epochs, batch_size, lr: fine-tuning schedule (the paper: 50 epochs; batch size and
            learning rate of SimCLR pre-training, Table 17a: 0.001).
        max_steps: cap on the fine-tuning steps (None: no cap).
        temperature: NT-Xent temperature.
        augment: the SimCLR view generator.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.5,
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        temperature: float = 0.5,
        augment: PatchAugment | None = None,
    ) -> None:
        if not 0 < ratio < 1:
            raise InputError(f"Expected 0 < ratio < 1, got {ratio}.")
        check_schedule(epochs, batch_size, lr, min_batch=2)
        self.ratio = ratio
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_steps = max_steps
        self.temperature = temperature
        self.augment = augment

    def patch(
        self,
        encoder: Encoder,
        bug: BugInstance,
        val_data: Any,
        trigger: Trigger | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ) -> PatchResult:
        from mudjack.pretrain.simclr import SimCLR

        if isinstance(encoder, Encoder) and encoder.modality != "image":
            raise InputError(
                "Fine-Pruning supports image encoders only: it fine-tunes with the pre-training "
                f"objective, which a {encoder.modality} encoder here does not ship."
            )
        val = self._check(encoder, bug, val_data, trigger)
        try:
            conv, bn = encoder.pruning_layer()
        except NotImplementedError as exc:
            raise InputError(
                f"Fine-Pruning needs to know which layer to prune; {type(encoder).__name__} "
                "does not say (implement Encoder.pruning_layer)."
            ) from exc
        dev = resolve_device(device)
        start = time.perf_counter()
        patched = copy.deepcopy(encoder).to(dev).eval().requires_grad_(True)
        conv, bn = patched.pruning_layer()
        acts: list[torch.Tensor] = []
        hook = bn.register_forward_hook(lambda _m, _i, out: acts.append(F.relu(out).detach()))
        with torch.no_grad():
            patched(bug.x_r.unsqueeze(0).to(dev))  # type: ignore[union-attr]
        hook.remove()
        mean = acts[0].mean(dim=(0, 2, 3))
        k = round(self.ratio * len(mean))
        pruned = torch.argsort(mean, stable=True)[:k]
        keep = torch.ones(len(mean), device=dev)
        keep[pruned] = 0
        with torch.no_grad():
            conv.weight.mul_(keep.view(-1, 1, 1, 1))
            if conv.bias is not None:
                conv.bias.mul_(keep)
            bn.weight.mul_(keep)
            bn.bias.mul_(keep)
        # Zero gradients keep the pruned entries at exactly 0 under Adam (and weight decay).
        handles = [
            conv.weight.register_hook(lambda g: g * keep.view(-1, 1, 1, 1)),
            bn.weight.register_hook(lambda g: g * keep),
            bn.bias.register_hook(lambda g: g * keep),
        ]
        if conv.bias is not None:
            handles.append(conv.bias.register_hook(lambda g: g * keep))
        trainer = SimCLR(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            temperature=self.temperature,
            max_steps=self.max_steps,
            augment=self.augment or SimCLRAugment(),
        )
        try:
            trainer.fit(patched, val, seed=seed, device=dev, progress=progress)
        finally:
            for h in handles:
                h.remove()
        patched.eval().requires_grad_(False)
        history = [{"pruned_channels": float(k), "channels": float(len(mean))}]
        return PatchResult(
            patched,
            trainer.steps_,
            time.perf_counter() - start,
            history,
            {**self.get_params(), "pruned": pruned.tolist()},
        )
