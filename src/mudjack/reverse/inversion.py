"""Trigger inversion: find a trigger by optimisation, seeded by the bug instance.

Attribution + K-means (:class:`~mudjack.reverse.TriggerReverser`) looks for the few pixels of
``x_b`` that explain its misclassification, which fails when the trigger is spread over the
whole image (the paper's latent-space attack adds a perturbation ``δ`` with ``‖δ‖∞ = 0.01``).
:class:`InversionReverser` instead searches for a trigger that, applied to the provider's clean
validation images, moves their features onto ``h(x_b)`` and away from their own: the trigger
inversion of Neural Cleanse (Wang et al., S&P 2019) and DECREE (Feng et al., CVPR 2023), with
the bug instance as the target and the starting point. Two trigger families:

* ``"perturbation"``: ``x' = clip(x + δ, 0, 1)`` with ``‖δ‖∞ ≤ ε``; ``δ = ε·u`` with ``u``
  projected onto ``[-1, 1]`` after each Adam step (projected gradient, as PGD), which keeps the
  step size independent of ``ε``. Returns a :class:`~mudjack.triggers.PerturbationTrigger`.
* ``"patch"``: ``x' = x·(1 - m) + p·m`` with ``m = sigmoid(·) ∈ [0, 1]^(1, H, W)`` and
  ``p = sigmoid(·) ∈ [0, 1]^(C, H, W)`` plus ``l1·mean(m)``; at the end ``m`` is thresholded
  into a binary mask. Returns a :class:`~mudjack.triggers.PatchTrigger`.

The loss on a mini-batch ``x`` of clean images is
``-mean cos(h(x'), h(x_b)) + beta·mean cos(h(x'), h(x)) [+ l1·mean(m)]``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.encoders.base import Encoder, check_images, on_device
from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.reverse.reverser import ReverseResult
from mudjack.triggers.image import PatchTrigger
from mudjack.triggers.perturbation import PerturbationTrigger
from mudjack.utils import check_schedule, make_generator, resolve_device, take

MODES = ("perturbation", "patch")


class InversionReverser(Configurable):
    """Reverse-engineer a trigger by optimisation over clean images, seeded by a bug instance.

    Args:
        mode: ``"perturbation"`` (a whole-image ``δ``, the latent-space attack's family) or
            ``"patch"`` (a mask and a pattern, Neural Cleanse's family).
        epsilon: the ℓ∞ bound of ``δ`` in pixel units, in (0, 1]. 0.01 is the paper's
            latent-space trigger; the provider does not know the attacker's ε, so pass an
            upper guess: a larger bound still finds the direction.
        steps: Adam steps, one mini-batch each. 300 steps of 64 images let the toy and planted
            backdoors converge in seconds on a CPU; real encoders may want more.
        lr: Adam's learning rate on ``u = δ/ε`` (perturbation) or on the logits of mask and
            pattern (patch). 0.05 moves ``u`` across its range in tens of steps without
            oscillating at the box's corners.
        batch_size: clean images per step, drawn with replacement with a seeded generator.
        beta: weight of the term that pushes ``h(x')`` away from ``h(x)``, >= 0 (0 drops it).
            0.25 keeps the pull towards ``h(x_b)`` the main goal: the push-away term is met by
            any large change of the image, not only by the trigger, so in patch mode it grows
            the mask against ``l1`` (on a planted 2x2 BadEncoder patch, mean IoU 0.78 at 0.25
            against 0.66 at 0.5 and 0.71 at 0; on a planted perturbation it hardly matters).
        l1: weight of ``mean(m)``, the mask's size (patch mode only), >= 0. 0.5 prices a
            pixel at ``0.5/(H·W)``; a non-trigger pixel whose feature gain is below that goes
            (with ``beta`` 0.25: 0.5 gave the IoU above, 1.0 cut the 2x2 patch to 3 pixels).
        threshold: the mask value, in (0, 1), above which a pixel is in the returned patch.
    """

    def __init__(
        self,
        *,
        mode: str = "perturbation",
        epsilon: float = 0.01,
        steps: int = 300,
        lr: float = 0.05,
        batch_size: int = 64,
        beta: float = 0.25,
        l1: float = 0.5,
        threshold: float = 0.5,
    ) -> None:
        if mode not in MODES:
            raise InputError(f"Expected mode in {MODES}, got {mode!r}.")
        check_schedule(steps, batch_size, lr, unit="steps")
        if not (math.isfinite(epsilon) and 0 < epsilon <= 1):
            raise InputError(
                f"Expected epsilon in (0, 1] (pixel units), got {epsilon}. The paper's "
                "latent-space trigger has epsilon 0.01."
            )
        for name, value in (("beta", beta), ("l1", l1)):
            if not (math.isfinite(value) and value >= 0):
                raise InputError(
                    f"Expected a finite {name} >= 0, got {value}. Pass 0 to drop the term."
                )
        if not (math.isfinite(threshold) and 0 < threshold < 1):
            raise InputError(f"Expected threshold in (0, 1) for the mask, got {threshold}.")
        self.mode = mode
        self.epsilon = epsilon
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.beta = beta
        self.l1 = l1
        self.threshold = threshold

    def reverse(
        self,
        encoder: Encoder,
        bug: BugInstance,
        *,
        data: torch.Tensor,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> ReverseResult:
        """Invert the trigger of ``bug`` on clean images ``data``.

        Args:
            encoder: an image encoder; put in eval mode and used on ``device`` (as a copy
                moved there when it is elsewhere). Its parameters are not changed and get no
                ``.grad``.
            bug: an image bug instance (``x_b`` triggered and misclassified).
            data: clean validation images ``(N, C, H, W)`` in [0, 1] (the provider's D_val).
            seed: seeds the mini-batch draws (same seed, same trigger).
            device: where to compute.

        Returns:
            A :class:`ReverseResult` with method ``"inversion"``; ``scores`` and ``clustered``
            are the per-pixel magnitude ``(H, W)``: ``|δ|`` averaged over channels, or the
            continuous mask ``m``.

        Raises:
            InputError: for a text encoder or bug, for ``data`` that does not fit the encoder,
                or, in patch mode, when no mask value reaches ``threshold`` (lower ``l1``).
        """
        start = time.perf_counter()
        if encoder.modality != "image" or bug.modality != "image":
            raise InputError(
                f"Expected an image encoder and an image bug: inversion is for image encoders, "
                f"got a {encoder.modality} encoder and a {bug.modality} bug. Use "
                "TriggerReverser for text."
            )
        bug.check(encoder)
        data = check_images(data, encoder.input_spec, "data")
        if len(data) == 0:
            raise InputError("Expected at least one clean image in data, got an empty tensor.")
        gen = make_generator(seed)
        dev = resolve_device(device)
        encoder = on_device(encoder, dev).eval()
        with torch.no_grad():
            target = encoder.embed(bug.x_b.unsqueeze(0).to(dev))
        if self.mode == "perturbation":
            trigger, scores = self._perturbation(encoder, bug, data, target, gen, dev)
        else:
            trigger, scores = self._patch(encoder, bug, data, target, gen, dev)
        seconds = time.perf_counter() - start
        return ReverseResult(trigger, scores, scores.clone(), "inversion", seconds)

    def _loss(
        self, encoder: Encoder, x: torch.Tensor, x_trig: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """``-mean cos(h(x'), h(x_b)) + beta·mean cos(h(x'), h(x))``."""
        z = encoder.embed(x_trig)
        loss = -F.cosine_similarity(z, target.expand_as(z)).mean()
        if self.beta > 0:
            with torch.no_grad():
                clean = encoder.embed(x)
            loss = loss + self.beta * F.cosine_similarity(z, clean).mean()
        return loss

    def _batch(self, data: torch.Tensor, gen: torch.Generator, dev: torch.device) -> torch.Tensor:
        idx = torch.randint(len(data), (self.batch_size,), generator=gen)
        return take(data, idx).to(dev)

    def _optimise(
        self,
        params: list[torch.Tensor],
        step_loss: Callable[[torch.Tensor], torch.Tensor],
        gen: torch.Generator,
        data: torch.Tensor,
        dev: torch.device,
        project: Callable[[], object] | None = None,
    ) -> None:
        """Adam on ``params`` for ``steps`` mini-batches; gradients via ``autograd.grad`` so
        that nothing accumulates on the encoder."""
        opt = torch.optim.Adam(params, lr=self.lr)
        for _ in range(self.steps):
            loss = step_loss(self._batch(data, gen, dev))
            grads = torch.autograd.grad(loss, params)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            opt.step()
            if project is not None:
                with torch.no_grad():
                    project()
        for p in params:
            p.grad = None

    @staticmethod
    def _perturbation_seed(
        encoder: Encoder, bug: BugInstance, target: torch.Tensor, dev: torch.device
    ) -> torch.Tensor:
        """``u = sign(∇_δ cos(h(x_r + δ), h(x_b)))`` at ``δ = 0``: the one-step (FGSM) move of
        the bug's reference towards ``x_b``'s features. ``x_b - x_r`` is a weaker seed: the two
        are different images, so their difference is mostly content, not trigger. On a planted
        whole-image BadEncoder trigger (8x8 digits, ε = 0.05, three bugs) the recovered ``δ``
        had cosine 0.54-0.56 with the true one from this seed, 0.49-0.54 from
        ``sign(x_b - x_r)`` or from zero, 0.37-0.41 from a random sign."""
        x_r = bug.x_r.unsqueeze(0).to(dev)
        d0 = torch.zeros_like(x_r, requires_grad=True)
        cos = F.cosine_similarity(encoder.embed((x_r + d0).clamp(0, 1)), target).sum()
        (g,) = torch.autograd.grad(cos, [d0])
        return torch.sign(g[0])

    def _perturbation(
        self,
        encoder: Encoder,
        bug: BugInstance,
        data: torch.Tensor,
        target: torch.Tensor,
        gen: torch.Generator,
        dev: torch.device,
    ) -> tuple[PerturbationTrigger, torch.Tensor]:
        u = self._perturbation_seed(encoder, bug, target, dev).requires_grad_(True)
        eps = self.epsilon

        def step_loss(x: torch.Tensor) -> torch.Tensor:
            return self._loss(encoder, x, (x + eps * u).clamp(0, 1), target)

        self._optimise([u], step_loss, gen, data, dev, project=lambda: u.clamp_(-1, 1))
        delta = (eps * u.detach()).cpu()
        if delta.abs().max() == 0:
            raise InputError(
                "Inversion ended at a zero perturbation: the encoder's features do not move "
                "towards h(x_b) under any perturbation within epsilon. Try a larger epsilon."
            )
        return PerturbationTrigger(delta), delta.abs().mean(0)

    def _patch(
        self,
        encoder: Encoder,
        bug: BugInstance,
        data: torch.Tensor,
        target: torch.Tensor,
        gen: torch.Generator,
        dev: torch.device,
    ) -> tuple[PatchTrigger, torch.Tensor]:
        """Seed: pattern ``x_b`` and mask 0.5 everywhere, i.e. every clean image starts half
        way to ``x_b``; the feature term keeps the trigger's pixels and ``l1`` removes the rest."""
        x_b = bug.x_b.to(dev)
        w_p = torch.logit(x_b.clamp(0.01, 0.99)).requires_grad_(True)
        w_m = torch.zeros((1, *x_b.shape[1:]), device=dev, requires_grad=True)

        def step_loss(x: torch.Tensor) -> torch.Tensor:
            m, p = torch.sigmoid(w_m), torch.sigmoid(w_p)
            loss = self._loss(encoder, x, x * (1 - m) + p * m, target)
            return loss + self.l1 * m.mean()

        self._optimise([w_m, w_p], step_loss, gen, data, dev)
        m = torch.sigmoid(w_m.detach()).cpu()
        mask = (m >= self.threshold).float()
        if mask.sum() == 0:
            raise InputError(
                f"Inversion found no trigger pixel: the largest mask value is {m.max():.3g}, "
                f"below threshold {self.threshold}. Lower l1 (now {self.l1}) or threshold, or "
                "give more steps."
            )
        pattern = torch.sigmoid(w_p.detach()).cpu() * mask
        return PatchTrigger(pattern, mask), m[0]
