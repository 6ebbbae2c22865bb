"""The one contract every encoder follows.

An :class:`Encoder` is an ``nn.Module`` that maps inputs to feature vectors.
``forward`` returns raw features; :meth:`Encoder.embed` returns them
L2-normalised, which is what clients, attacks and patches use. Image encoders
take float tensors in [0, 1] of shape ``(N, C, H, W)`` and own their input
normalisation, so callers never normalise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mudjack.errors import InputError


@dataclass(frozen=True)
class InputSpec:
    """What an encoder accepts.

    Attributes:
        modality: ``"image"`` or ``"text"``.
        channels, height, width: image size (``None`` for text).
        mean, std: per-channel normalisation applied inside the encoder.
    """

    modality: str
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def shape(self) -> tuple[int, int, int]:
        if self.modality != "image":
            raise InputError(f"Expected an image input spec, got modality {self.modality!r}.")
        return (int(self.channels), int(self.height), int(self.width))  # type: ignore[arg-type]


def check_images(x: Any, spec: InputSpec, name: str = "images") -> torch.Tensor:
    """Validate a batch of images against ``spec``; return it as a 4-D float tensor.

    Accepts ``(C, H, W)`` (a single image, a batch dimension is added) or ``(N, C, H, W)``.
    Raises :class:`InputError` naming what was expected and what was received.
    """
    if spec.modality != "image":
        raise InputError(
            f"Expected {name} for a {spec.modality} encoder, got an image tensor. "
            "Give this encoder text, or use an image encoder."
        )
    if isinstance(x, (str, list, tuple)):
        raise InputError(
            f"Expected {name} as a float tensor of shape (N, {spec.channels}, {spec.height}, "
            f"{spec.width}), got {type(x).__name__}. Text goes to text encoders only."
        )
    if not isinstance(x, torch.Tensor):
        raise InputError(f"Expected {name} as a torch.Tensor, got {type(x).__name__}.")
    if not torch.is_floating_point(x):
        raise InputError(
            f"Expected {name} as a float tensor with values in [0, 1], got dtype {x.dtype}. "
            "Convert with x.float() / 255 for 8-bit images."
        )
    if x.dim() == 3:
        x = x.unsqueeze(0)
    expected = spec.shape
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise InputError(
            f"Expected {name} of shape (N, {expected[0]}, {expected[1]}, {expected[2]}), got "
            f"{tuple(x.shape)}. Resize or convert the images to this encoder's input spec."
        )
    if x.numel() and (x.min() < 0 or x.max() > 1 or not torch.isfinite(x).all()):
        raise InputError(
            f"Expected {name} with values in [0, 1], got range [{x.min().item():.3g}, "
            f"{x.max().item():.3g}]. Divide 8-bit images by 255; do not normalise them yourself."
        )
    return x


class Encoder(nn.Module):
    """Base class of all encoders.

    Subclasses set :attr:`name` (the registry name), implement :meth:`forward`
    and :meth:`config` (the keyword arguments that rebuild the same
    architecture), and expose :attr:`embed_dim` and :attr:`input_spec`.
    """

    name: ClassVar[str] = "encoder"
    embed_dim: int
    input_spec: InputSpec

    @property
    def modality(self) -> str:
        return self.input_spec.modality

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def attribution_layer(self) -> nn.Module:
        """The layer that layer-attribution methods (LayerGradCam) explain."""
        raise NotImplementedError(f"{type(self).__name__} names no attribution layer.")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised features of ``x``, shape ``(N, embed_dim)``."""
        return F.normalize(self(x), dim=1)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, modality={self.modality!r}"
