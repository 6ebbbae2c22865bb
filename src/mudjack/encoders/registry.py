"""Name -> encoder class registry, in the manner of timm's ``create_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mudjack.registry import Registry

ENCODERS: Registry[type] = Registry("encoder")
T = TypeVar("T", bound=type)


def register_encoder(name: str) -> Callable[[T], T]:
    """Class decorator: make an encoder class constructible by ``create_encoder(name)``."""
    return ENCODERS.register(name)


def list_encoders(pattern: str = "*") -> list[str]:
    """Registered encoder names matching a shell-style ``pattern``."""
    return ENCODERS.names(pattern)


def encoder_class(name: str) -> type:
    return ENCODERS.get(name)


def create_encoder(name: str, **kwargs: Any) -> Any:
    """Build a registered encoder with fresh weights: ``create_encoder("resnet18", width=16)``."""
    return ENCODERS.create(name, **kwargs)
