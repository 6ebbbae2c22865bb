"""Backdoor triggers: a contract, image patch triggers, and a file format."""

from mudjack.triggers.base import Trigger, load_trigger
from mudjack.triggers.image import PatchTrigger, mask_iou

__all__ = ["PatchTrigger", "Trigger", "load_trigger", "mask_iou"]
