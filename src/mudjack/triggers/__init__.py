"""Backdoor triggers: a contract, image patch triggers, text triggers, and a file format."""

from mudjack.triggers.base import TRIGGERS, Trigger, load_trigger
from mudjack.triggers.image import PatchTrigger, mask_iou
from mudjack.triggers.text import TextTrigger, word_precision_recall

__all__ = [
    "TRIGGERS",
    "PatchTrigger",
    "TextTrigger",
    "Trigger",
    "load_trigger",
    "mask_iou",
    "word_precision_recall",
]
