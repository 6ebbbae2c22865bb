"""Trigger reverse-engineering from a bug instance (images and text)."""

from mudjack.reverse.reverser import METHODS, TEXT_METHODS, ReverseResult, TriggerReverser
from mudjack.reverse.text import word_gradient, word_occlusion

__all__ = [
    "METHODS",
    "TEXT_METHODS",
    "ReverseResult",
    "TriggerReverser",
    "word_gradient",
    "word_occlusion",
]
