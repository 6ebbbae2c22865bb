"""Trigger reverse-engineering from a bug instance (images and text), one attribution method
per name on :data:`REVERSERS`; :class:`InversionReverser` finds image triggers by optimisation."""

from mudjack.reverse.inversion import InversionReverser
from mudjack.reverse.reverser import (
    METHODS,
    REVERSERS,
    TEXT_METHODS,
    ReverseResult,
    TriggerReverser,
    create_reverser,
    list_reversers,
)
from mudjack.reverse.text import word_gradient, word_occlusion

__all__ = [
    "METHODS",
    "REVERSERS",
    "TEXT_METHODS",
    "InversionReverser",
    "ReverseResult",
    "TriggerReverser",
    "create_reverser",
    "list_reversers",
    "word_gradient",
    "word_occlusion",
]
