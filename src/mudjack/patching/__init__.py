"""Patching methods behind one interface: ``create_patcher(name, **kw).patch(h, bug, D_val, t)``.

``mudjacking`` and the encoder-side baselines ``ft``, ``ft-l2``, ``ft-linf``, ``unlearning``,
``fine-pruning`` (section 5.1 of the paper)."""

from mudjack.patching.base import (
    PATCHERS,
    Patcher,
    PatchResult,
    create_patcher,
    list_patchers,
    register_patcher,
)
from mudjack.patching.baselines import (
    FineTune,
    FineTuneL2,
    FineTuneLinf,
    FineTuneLp,
    Unlearning,
)
from mudjack.patching.checkpoint import PatchCheckpoint
from mudjack.patching.mudjacking import Mudjacking
from mudjack.patching.pruning import FinePruning

__all__ = [
    "PATCHERS",
    "FinePruning",
    "FineTune",
    "FineTuneL2",
    "FineTuneLinf",
    "FineTuneLp",
    "Mudjacking",
    "PatchCheckpoint",
    "PatchResult",
    "Patcher",
    "Unlearning",
    "create_patcher",
    "list_patchers",
    "register_patcher",
]
