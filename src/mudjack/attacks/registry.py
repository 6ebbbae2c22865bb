"""Name -> attack class registry: ``create_attack("badencoder", epochs=3)``."""

from __future__ import annotations

from typing import Any

from mudjack.registry import Registry

ATTACKS: Registry[type] = Registry("attack", set_name=True)


def list_attacks(pattern: str = "*") -> list[str]:
    """Registered attack names matching a shell-style ``pattern``."""
    return ATTACKS.names(pattern)


def create_attack(name: str, **kwargs: Any) -> Any:
    """Build a registered attack: ``create_attack("por", steps=300)``."""
    return ATTACKS.create(name, **kwargs)
