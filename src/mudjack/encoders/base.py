"""The one contract every encoder follows.

An :class:`Encoder` is an ``nn.Module`` that maps inputs to feature vectors.
``forward`` returns raw features; :meth:`Encoder.embed` returns them
L2-normalised, which is what clients, attacks and patches use. Image encoders
take float tensors in [0, 1] of shape ``(N, C, H, W)`` and own their input
normalisation, so callers never normalise. Text encoders (:class:`TextEncoder`) take a list of
strings and own their tokenizer; words are whitespace-separated, which is also the unit that text
triggers and text reverse-engineering work on.

Nothing here moves a caller's encoder: code that computes on a device takes the encoder as it is
when it is already there, and a copy moved there otherwise (:func:`on_device`).
"""

from __future__ import annotations

import abc
import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from mudjack.errors import InputError, ModelLoadError
from mudjack.utils import resolve_device

WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class InputSpec:
    """What an encoder accepts.

    Attributes:
        modality: ``"image"`` or ``"text"``.
        channels, height, width: image size (``None`` for text).
        mean, std: per-channel normalisation applied inside the encoder.
        max_length: the longest token sequence a text encoder reads (``None`` for images).
    """

    modality: str
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)
    max_length: int | None = None

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


def check_texts(x: Any, spec: InputSpec, name: str = "texts") -> list[str]:
    """Validate a batch of texts for a text encoder; return it as a list of strings.

    Accepts one string or a list/tuple of strings. Raises :class:`InputError` for an image
    tensor, a non-string item or an empty (or whitespace-only) string.
    """
    if spec.modality != "text":
        raise InputError(
            f"Expected {name} for an {spec.modality} encoder (a float tensor of shape "
            f"(N, {spec.channels}, {spec.height}, {spec.width})), got text. Give this encoder "
            "images, or use a text encoder."
        )
    if isinstance(x, torch.Tensor):
        raise InputError(
            f"Expected {name} as a list of strings for a text encoder, got a tensor of shape "
            f"{tuple(x.shape)}. Images go to image encoders only."
        )
    if isinstance(x, str):
        x = [x]
    if not isinstance(x, (list, tuple)):
        raise InputError(f"Expected {name} as a list of strings, got {type(x).__name__}.")
    out = list(x)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"Expected {name} as strings, got {type(t).__name__} at position {i}.")
        if not t.strip():
            raise InputError(
                f"Expected non-empty {name}, got an empty string at position {i}. Drop empty "
                "inputs before calling the encoder."
            )
    return out


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
        """The keyword arguments recorded in a model folder to rebuild this architecture."""
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's contract; see
        :class:`mudjack.registry.Configurable`): for most encoders, :meth:`config`."""
        return self.config()

    def check_inputs(self, x: Any, name: str = "inputs") -> Any:
        """Validate a batch for this encoder: images ``(N, C, H, W)`` or a list of strings."""
        if self.modality == "text":
            return check_texts(x, self.input_spec, name)
        return check_images(x, self.input_spec, name)

    def save_weights(self, folder: Path) -> str:
        """Write the weights into ``folder``; return the weights file's name."""
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
            str(folder / WEIGHTS_NAME),
        )
        return WEIGHTS_NAME

    @classmethod
    def from_folder(cls, folder: Path, kwargs: dict[str, Any]) -> Encoder:
        """Rebuild the architecture from ``kwargs`` and load the folder's weights."""
        encoder = cls(**kwargs)
        try:
            state = load_file(str(folder / WEIGHTS_NAME), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(f"Corrupt {WEIGHTS_NAME} in {str(folder)!r}: {exc}.") from exc
        try:
            encoder.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelLoadError(
                f"Weights in {str(folder)!r} do not fit a {cls.name} with {kwargs}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        return encoder

    def attribution_layer(self) -> nn.Module:
        """The layer that layer-attribution methods (LayerGradCam) explain."""
        raise NotImplementedError(f"{type(self).__name__} names no attribution layer.")

    def pruning_layer(self) -> tuple[nn.Module, nn.Module]:
        """The convolution and its BatchNorm whose output channels Fine-Pruning may remove
        (channels that feed no residual connection)."""
        raise NotImplementedError(f"{type(self).__name__} names no pruning layer.")

    def embed(self, x: Any) -> torch.Tensor:
        """L2-normalised features of ``x`` (images or texts), shape ``(N, embed_dim)``."""
        return F.normalize(self(x), dim=1)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, modality={self.modality!r}"


class TextEncoder(Encoder, metaclass=abc.ABCMeta):
    """An encoder of whitespace-separated words through a tokenizer: what text attacks,
    text reverse-engineering and clients rely on.

    ``forward`` is :meth:`tokenize`, then :meth:`hidden_states`, then :meth:`pool`; the steps
    are separate so that attacks can train on token states and attribution can start at the
    word embeddings (:meth:`Encoder.attribution_layer`).

    Attributes:
        tokenizer: a Hugging Face-style tokenizer; ``mask_token`` and ``unk_token`` name the
            tokens that text occlusion may put in place of a word.
        max_length: the longest token sequence read, special tokens included.
    """

    tokenizer: Any
    max_length: int

    @abc.abstractmethod
    def tokenize(self, texts: Sequence[str], *, warn: bool = True) -> Any:
        """Tokenise ``texts`` (padded, truncated to :attr:`max_length`) into a mapping of
        tensors whose ``word_ids(i)`` maps each token of input ``i`` to its word index; with
        ``warn``, a :class:`TruncationWarning` says how many inputs were cut."""

    @abc.abstractmethod
    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text, special tokens included, before truncation."""

    @abc.abstractmethod
    def hidden_states(self, enc: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states ``(N, L, D)`` and attention mask ``(N, L)`` of a tokenised
        batch (the output of :meth:`tokenize`, or a mapping with the same tensors)."""

    @abc.abstractmethod
    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The feature ``(N, D)`` of each input from its hidden states and attention mask."""

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.pool(*self.hidden_states(self.tokenize(texts)))


def _on(t: torch.Tensor, dev: torch.device) -> bool:
    if t.device.type != dev.type:
        return False
    if dev.index is None:
        return dev.type != "cuda" or t.device.index == torch.cuda.current_device()
    return t.device.index == dev.index


def on_device(encoder: Encoder, device: str | torch.device) -> Encoder:
    """``encoder`` itself when all its weights are on ``device``; otherwise a copy moved there.

    A caller's encoder is never moved in place."""
    dev = resolve_device(device)
    if all(_on(t, dev) for t in itertools.chain(encoder.parameters(), encoder.buffers())):
        return encoder
    return copy.deepcopy(encoder).to(dev)
