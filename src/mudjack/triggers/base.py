"""The trigger contract and the trigger file format (one ``.safetensors`` file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mudjack.errors import InputError, ModelLoadError, UnknownNameError
from mudjack.utils import ensure_new_path

_KINDS: dict[str, type[Trigger]] = {}


class Trigger:
    """A backdoor trigger that can be embedded into inputs: ``x' = trigger.apply(x, gen)``."""

    kind: ClassVar[str] = "trigger"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[cls.kind] = cls

    def apply(self, x: Any, gen: torch.Generator | None = None) -> Any:
        raise NotImplementedError

    def with_random_location(self, flag: bool = True) -> Trigger:
        """A copy that embeds the same pattern at a random location in each input."""
        raise NotImplementedError

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
    if kind not in _KINDS:
        raise UnknownNameError(
            f"Unknown trigger kind {kind!r} in {str(p)!r}. Expected one of: {', '.join(_KINDS)}."
        )
    return _KINDS[kind].from_parts(tensors, meta)


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
