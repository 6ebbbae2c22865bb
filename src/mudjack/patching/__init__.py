"""Patching methods behind one interface: ``create_patcher(name, **kw).patch(h, bug, D_val, t)``."""

from mudjack.patching.base import (
    Patcher,
    PatchResult,
    create_patcher,
    list_patchers,
    register_patcher,
)
from mudjack.patching.mudjacking import Mudjacking

__all__ = [
    "Mudjacking",
    "PatchResult",
    "Patcher",
    "create_patcher",
    "list_patchers",
    "register_patcher",
]
