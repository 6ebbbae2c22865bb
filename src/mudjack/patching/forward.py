"""How the patch loop runs the encoders: as they are, across processes
(``DistributedDataParallel``), compiled (``torch.compile``) and/or in bfloat16 autocast.

The loss only calls :meth:`Forward.embed`; each option wraps the module once, before the first
step. Features come back in float32 and L2-normalised, whatever the precision inside.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mudjack.errors import InputError
from mudjack.utils import concat_inputs

PRECISIONS = ("fp32", "bf16")


def check_speed_options(precision: str, compile: bool) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"Expected precision one of {PRECISIONS}, got {precision!r}.")
    if not isinstance(compile, bool):
        raise InputError(f"Expected compile True or False, got {compile!r}.")


class Forward(nn.Module):
    """``encoder`` as the loss runs it.

    Args:
        encoder: the module (patched, or the frozen reference).
        device: where it runs (autocast's device type; DDP's device id).
        distributed: wrap in ``DistributedDataParallel`` (gradients averaged across processes).
        compile: wrap in ``torch.compile``.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
    """

    def __init__(
        self,
        encoder: nn.Module,
        device: torch.device,
        *,
        distributed: bool = False,
        compile: bool = False,
        precision: str = "fp32",
    ) -> None:
        super().__init__()
        check_speed_options(precision, compile)
        run: Any = encoder
        if distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index or 0] if device.type == "cuda" else None
            run = DistributedDataParallel(encoder, device_ids=ids)
        if compile:
            run = torch.compile(run)
        self.run = run
        self.device_type = device.type
        self.bf16 = precision == "bf16"

    def embed(self, x: Any) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            features = self.run(x)
        return F.normalize(features.float(), dim=1)


def layout(x: Any) -> Any:
    """Images in channels-last memory layout (faster convolutions on CPU); text unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if isinstance(x, torch.Tensor) else x


def embed_batch(encoder: Any, pair: Any, rest: Any) -> torch.Tensor:
    """Features of ``pair`` then ``rest``: one forward pass for images; for text two, so that
    the bug pair (often a long review) does not pad every validation sentence to its length."""
    if isinstance(pair, torch.Tensor):
        return encoder.embed(layout(concat_inputs(pair, rest)))
    return torch.cat([encoder.embed(pair), encoder.embed(rest)])
