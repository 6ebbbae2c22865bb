"""Does the backdoor come back? A downstream user fine-tunes the encoder briefly on clean data;
a backdoor removed by fine-tuning is known to return under further fine-tuning. This module
fine-tunes a copy of an encoder the way such a user might (SimCLR's contrastive objective on
clean images), so that ASR can be measured before and after, for the patched encoder and for
the unpatched backdoored one beside it."""

from __future__ import annotations

import copy
from typing import Any

import torch

from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.pretrain import SimCLR
from mudjack.registry import Configurable
from mudjack.utils import check_schedule


class CleanFineTune(Configurable):
    """A brief SimCLR fine-tune on clean images, of a copy of the encoder.

    Args:
        steps: optimiser steps (200).
        lr: Adam learning rate (1e-4: a tenth of pre-training's, as a user adapting a model
            would take).
        batch_size: images per step (each gives two views).
    """

    def __init__(self, *, steps: int = 200, lr: float = 1e-4, batch_size: int = 128) -> None:
        check_schedule(steps, batch_size, lr, min_batch=2, unit="steps")
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size

    def apply(
        self,
        encoder: Encoder,
        images: torch.Tensor,
        *,
        seed: int = 0,
        device: Any = "cpu",
        progress: bool = False,
    ) -> Encoder:
        """A fine-tuned copy of ``encoder`` (the input is untouched), in eval mode."""
        if encoder.modality != "image":
            raise InputError(
                f"Expected an image encoder for the clean fine-tune (SimCLR), got a "
                f"{encoder.modality} encoder. The persistence check supports image encoders."
            )
        tuned = copy.deepcopy(encoder)
        per_epoch = max(1, len(images) // min(self.batch_size, max(1, len(images))))
        trainer = SimCLR(epochs=-(-self.steps // per_epoch), batch_size=self.batch_size,
                         lr=self.lr, max_steps=self.steps)  # fmt: skip
        return trainer.fit(tuned, images, seed=seed, device=device, progress=progress)
