"""Name -> encoder class registry, in the manner of timm's ``create_model``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, TypeVar

from mudjack.errors import UnknownNameError

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_encoder(name: str) -> Callable[[T], T]:
    """Class decorator: make an encoder class constructible by ``create_encoder(name)``."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"Encoder name {name!r} is already registered.")
        _REGISTRY[name] = cls
        return cls

    return deco


def list_encoders(pattern: str = "*") -> list[str]:
    """Registered encoder names matching a shell-style ``pattern``."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def encoder_class(name: str) -> type:
    if name not in _REGISTRY:
        raise UnknownNameError(
            f"Unknown encoder {name!r}. Expected one of: {', '.join(list_encoders())}."
        )
    return _REGISTRY[name]


def create_encoder(name: str, **kwargs: Any) -> Any:
    """Build a registered encoder with fresh weights: ``create_encoder("resnet18", width=16)``."""
    return encoder_class(name)(**kwargs)
