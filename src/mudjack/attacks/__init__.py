"""Backdoor attacks on foundation models, one module per paper, on one registry
(:data:`ATTACKS`), and the ground truth they record (:func:`ground_truth`)."""

from mudjack.attacks.badencoder import BadEncoder, select_reference_inputs
from mudjack.attacks.registry import ATTACKS, create_attack, list_attacks
from mudjack.attacks.source_specific import SourceSpecificBadEncoder
from mudjack.attacks.text import POR, NeuBA, TextBackdoor
from mudjack.attacks.truth import attack_source, ground_truth

__all__ = [
    "ATTACKS",
    "POR",
    "BadEncoder",
    "NeuBA",
    "SourceSpecificBadEncoder",
    "TextBackdoor",
    "attack_source",
    "create_attack",
    "ground_truth",
    "list_attacks",
    "select_reference_inputs",
]
