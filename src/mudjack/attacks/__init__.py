"""Backdoor attacks on foundation models, one module per paper."""

from mudjack.attacks.badencoder import BadEncoder, select_reference_inputs

__all__ = ["BadEncoder", "select_reference_inputs"]
