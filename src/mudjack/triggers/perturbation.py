"""Whole-image perturbation triggers: ``x' = clip(x + δ, 0, 1)`` (the latent-space attack of the
paper's Table 15, after Doan, Lao and Li, NeurIPS 2021)."""

from __future__ import annotations

import math

import torch

from mudjack.encoders.base import InputSpec
from mudjack.errors import InputError
from mudjack.triggers.base import Trigger
from mudjack.utils import make_generator


class PerturbationTrigger(Trigger):
    """A perturbation ``δ`` added to the whole image (then clipped to [0, 1]).

    Args:
        delta: ``(C, H, W)`` finite values in [-1, 1]; its ℓ∞ norm is the trigger's strength
            (:attr:`epsilon`).
    """

    kind = "perturbation"
    modality = "image"
    tensor_names = ("delta",)

    def __init__(self, delta: torch.Tensor) -> None:
        delta = torch.as_tensor(delta).float()
        if delta.dim() != 3:
            raise InputError(
                f"Expected a perturbation (C, H, W), got shape {tuple(delta.shape)}. Give one "
                "value per channel and pixel of an image."
            )
        finite = bool(torch.isfinite(delta).all())
        if not finite or delta.abs().max() > 1:
            got = f"largest magnitude {delta.abs().max():.3g}" if finite else "non-finite values"
            raise InputError(
                f"Expected perturbation values that are finite and in [-1, 1] (pixel units), got "
                f"{got}. Build one with PerturbationTrigger.random_sign(shape, epsilon)."
            )
        if delta.abs().max() == 0:
            raise InputError(
                "Expected a non-zero perturbation, got all zeros: it would change nothing. "
                "Build one with PerturbationTrigger.random_sign(shape, epsilon)."
            )
        self.delta = delta

    @classmethod
    def random_sign(
        cls, shape: tuple[int, int, int], *, epsilon: float = 0.01, seed: int = 0
    ) -> PerturbationTrigger:
        """``ε·s`` with ``s`` a seeded random ±1 per pixel and channel (ℓ∞ norm exactly ε)."""
        if not (math.isfinite(epsilon) and 0 < epsilon <= 1):
            raise InputError(
                f"Expected epsilon in (0, 1] (pixel units), got {epsilon}. The paper's "
                "latent-space trigger uses 0.01."
            )
        gen = make_generator(seed)
        sign = torch.randint(0, 2, tuple(shape), generator=gen).float() * 2 - 1
        return cls(sign * float(epsilon))

    @property
    def epsilon(self) -> float:
        """The ℓ∞ norm of ``δ``."""
        return float(self.delta.abs().max())

    def with_random_location(self, flag: bool = True) -> PerturbationTrigger:
        """The same trigger: a whole-image perturbation is at every location at once."""
        return self

    def __repr__(self) -> str:
        return f"PerturbationTrigger(shape={tuple(self.delta.shape)}, epsilon={self.epsilon:.4g})"

    def apply(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Add ``δ`` to images ``x`` (N, C, H, W) or (C, H, W) in [0, 1] and clip."""
        if tuple(x.shape[-3:]) != tuple(self.delta.shape) or x.dim() not in (3, 4):
            raise InputError(
                f"Expected images of shape (N, {', '.join(map(str, self.delta.shape))}) for "
                f"this trigger, got {tuple(x.shape)}. Use a trigger made for these images."
            )
        return (x + self.delta.to(x.device, x.dtype)).clamp(0, 1)

    def _check_spec(self, spec: InputSpec) -> None:
        if tuple(self.delta.shape) != tuple(spec.shape):
            raise InputError(
                f"Expected a perturbation of shape {tuple(spec.shape)} for this encoder's "
                f"images, got {tuple(self.delta.shape)}. Make one of the encoder's image size "
                "(PerturbationTrigger.random_sign(shape, epsilon))."
            )

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"delta": self.delta}

    def meta(self) -> dict[str, str]:
        return {}

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> PerturbationTrigger:
        return cls(tensors["delta"])


def perturbation_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two perturbations (1: the same direction, 0: unrelated)."""
    return float(torch.nn.functional.cosine_similarity(a.reshape(1, -1), b.reshape(1, -1))[0])
