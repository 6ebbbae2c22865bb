"""The trigger contract and the trigger file format (one ``.safetensors`` file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mudjack.encoders.base import Encoder, InputSpec
from mudjack.errors import InputError, ModelLoadError, UnknownNameError
from mudjack.registry import Registry
from mudjack.utils import ensure_new_path

TRIGGERS: Registry[Any] = Registry("trigger kind")
_A = {"image": "an image", "text": "a text"}


class Trigger:
    """A backdoor trigger that can be embedded into inputs: ``x' = trigger.apply(x, gen)``."""

    kind: ClassVar[str] = "trigger"
    modality: ClassVar[str] = ""
    tensor_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TRIGGERS.register(cls.kind)(cls)

    def apply(self, x: Any, gen: torch.Generator | None = None) -> Any:
        raise NotImplementedError

    def with_random_location(self, flag: bool = True) -> Trigger:
        """A copy that embeds the same pattern at a random location in each input."""
        raise NotImplementedError

    def check(self, encoder: Encoder | InputSpec) -> Trigger:
        """Validate the trigger for an encoder (or its input spec); return ``self``.

        Raises:
            InputError: the trigger is of the other modality, or (image triggers) its shape or
                values do not fit the encoder's inputs.
        """
        spec = encoder if isinstance(encoder, InputSpec) else encoder.input_spec
        if spec.modality != self.modality:
            want, got = (_A[spec.modality], _A[self.modality])
            raise InputError(
                f"Expected {want} trigger for this {spec.modality} encoder, got {got} trigger "
                f"({self!r}). Use a trigger file made for this encoder (`mudjack reverse` "
                "writes one)."
            )
        self._check_spec(spec)
        return self

    def _check_spec(self, spec: InputSpec) -> None:
        """Subclasses: raise :class:`InputError` if the trigger does not fit ``spec``."""

    def tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def meta(self) -> dict[str, str]:
        raise NotImplementedError

    @classmethod
    def from_parts(cls, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> Trigger:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the trigger to a ``.safetensors`` file (atomically; no overwrite by default)."""
        p = Path(path)
        if not overwrite:
            ensure_new_path(p, "trigger file")
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        save_file(
            {k: v.contiguous() for k, v in self.tensors().items()},
            str(tmp),
            metadata={"kind": self.kind, **self.meta()},
        )
        os.replace(tmp, p)
        return p


def load_trigger(path: str | os.PathLike[str]) -> Trigger:
    """Read a trigger written by :meth:`Trigger.save`."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"Expected a trigger file (.safetensors) at {str(p)!r}; not found.")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"Corrupt trigger file {str(p)!r}: {exc}.") from exc
    kind = meta.pop("kind", None)
    if kind not in TRIGGERS.names():
        raise UnknownNameError(
            f"Unknown trigger kind {kind!r} in {str(p)!r}. Expected one of: "
            f"{', '.join(TRIGGERS.names())}."
        )
    cls = TRIGGERS.get(kind)
    missing = [k for k in cls.tensor_names if k not in tensors]
    if missing:
        raise ModelLoadError(
            f"Expected tensors {', '.join(cls.tensor_names)} in the {kind} trigger file "
            f"{str(p)!r}, got {', '.join(sorted(tensors)) or 'none'}. The file is not a "
            "mudjack trigger file: write one with `mudjack reverse` or Trigger.save()."
        )
    try:
        return cls.from_parts(tensors, meta)
    except InputError as exc:
        raise InputError(
            f"Trigger file {str(p)!r} does not hold a valid trigger. {exc} Write a new one with "
            "`mudjack reverse` or Trigger.save()."
        ) from exc


def check_trigger_shape(mask: torch.Tensor, pattern: torch.Tensor) -> None:
    if pattern.dim() != 3 or mask.dim() != 3 or mask.shape[0] != 1:
        raise InputError(
            f"Expected pattern (C, H, W) and mask (1, H, W), got {tuple(pattern.shape)} and "
            f"{tuple(mask.shape)}."
        )
    if mask.shape[1:] != pattern.shape[1:]:
        raise InputError(
            f"Expected mask and pattern of the same size, got {tuple(mask.shape)} and "
            f"{tuple(pattern.shape)}."
        )
