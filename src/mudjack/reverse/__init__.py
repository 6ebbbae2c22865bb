"""Trigger reverse-engineering from a bug instance."""

from mudjack.reverse.image import METHODS, ReverseResult, TriggerReverser

__all__ = ["METHODS", "ReverseResult", "TriggerReverser"]
