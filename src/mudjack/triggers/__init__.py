"""Backdoor triggers: a contract, one module per trigger family, and a file format.

Families: image patches (:class:`PatchTrigger`, fixed or random location), built-in patterns
and PNG files (:mod:`~mudjack.triggers.patterns`), dynamic triggers (several patches, one per
input), whole-image perturbations, and text words. :func:`trigger_from_spec` builds any of
them from the small dicts recorded with a backdoored encoder.
"""

from mudjack.triggers.base import TRIGGERS, Trigger, load_trigger
from mudjack.triggers.dynamic import DynamicTrigger
from mudjack.triggers.image import PatchTrigger, mask_iou
from mudjack.triggers.patterns import PATTERNS, pattern_trigger, trigger_from_png
from mudjack.triggers.perturbation import PerturbationTrigger, perturbation_similarity
from mudjack.triggers.spec import BUILTIN_TRIGGERS, builtin_trigger_spec, trigger_from_spec
from mudjack.triggers.text import TextTrigger, word_precision_recall

__all__ = [
    "BUILTIN_TRIGGERS",
    "PATTERNS",
    "TRIGGERS",
    "DynamicTrigger",
    "PatchTrigger",
    "PerturbationTrigger",
    "TextTrigger",
    "Trigger",
    "builtin_trigger_spec",
    "load_trigger",
    "mask_iou",
    "pattern_trigger",
    "perturbation_similarity",
    "trigger_from_png",
    "trigger_from_spec",
    "word_precision_recall",
]
