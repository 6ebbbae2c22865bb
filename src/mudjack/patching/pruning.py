"""Fine-Pruning (Liu, Dolan-Gavitt, Garg, RAID 2018) as the paper extends it to foundation
models (section 5.1, Table 3): prune half of the channels that are dormant on x_r, then
fine-tune on pre-training data with the pre-training objective."""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.data.augment import PatchAugment, SimCLRAugment
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.patching.base import Patcher, PatchResult, register_patcher
from mudjack.triggers.base import Trigger
from mudjack.utils import check_schedule, resolve_device


@register_patcher("fine-pruning")
class FinePruning(Patcher):
    """Fine-Pruning, as the paper extends it to foundation models (image encoders).

    1. Prune: feed x_r through h and, in the encoder's pruning layer (the last convolution
       whose output channels can be removed without touching a residual connection: the first
       convolution of ResNet-18's last block), zero the ``ratio`` of channels with the lowest
       mean activation on x_r (their filter weights and BatchNorm scale and shift), so they
       output 0.
    2. Fine-tune the pruned encoder on pre-training data (the validation set D_val, a sample of
       it) with the pre-training objective (SimCLR's NT-Xent with a fresh projection head; the
       paper: 50 epochs), keeping the pruned channels at zero.

    Departures: the original prunes the channels dormant on clean data and fine-tunes a
    classifier on labelled data; the paper's version ranks the channels on x_r alone and
    fine-tunes on pre-training data, as here. BatchNorm statistics are updated while
    fine-tuning (the pre-training objective trains in train mode). Text encoders are not
    supported: the bundled MiniLM ships no pre-training (masked-language-model) head.

    Args:
        ratio: fraction of the layer's channels to prune (0.5).
        epochs, batch_size, lr: fine-tuning schedule (the paper: 50 epochs; batch size and
            learning rate of SimCLR pre-training, Table 17a: 0.001).
        max_steps: cap on the fine-tuning steps (None: no cap).
        temperature: NT-Xent temperature.
        augment: the SimCLR view generator.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.5,
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        temperature: float = 0.5,
        augment: PatchAugment | None = None,
    ) -> None:
        if not 0 < ratio < 1:
            raise InputError(f"Expected 0 < ratio < 1, got {ratio}.")
        check_schedule(epochs, batch_size, lr, min_batch=2)
        self.ratio = ratio
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_steps = max_steps
        self.temperature = temperature
        self.augment = augment

    def patch(
        self,
        encoder: Encoder,
        bug: BugInstance,
        val_data: Any,
        trigger: Trigger | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ) -> PatchResult:
        from mudjack.pretrain.simclr import SimCLR

        if isinstance(encoder, Encoder) and encoder.modality != "image":
            raise InputError(
                "Fine-Pruning supports image encoders only: it fine-tunes with the pre-training "
                f"objective, which a {encoder.modality} encoder here does not ship."
            )
        val = self._check(encoder, bug, val_data, trigger)
        try:
            encoder.pruning_layer()
        except NotImplementedError as exc:
            raise InputError(
                f"Fine-Pruning needs to know which layer to prune; {type(encoder).__name__} "
                "does not say (implement Encoder.pruning_layer)."
            ) from exc
        dev = resolve_device(device)
        start = time.perf_counter()
        patched = copy.deepcopy(encoder).to(dev).eval().requires_grad_(True)
        pruned, keep, channels = self._prune(patched, bug.x_r.unsqueeze(0).to(dev))  # type: ignore[union-attr]
        handles = _freeze_pruned(patched, keep)
        trainer = SimCLR(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            temperature=self.temperature,
            max_steps=self.max_steps,
            augment=self.augment or SimCLRAugment(),
        )
        try:
            trainer.fit(patched, val, seed=seed, device=dev, progress=progress)
        finally:
            for h in handles:
                h.remove()
        patched.eval().requires_grad_(False)
        history = [{"pruned_channels": float(len(pruned)), "channels": float(channels)}]
        return PatchResult(
            patched,
            trainer.steps_,
            time.perf_counter() - start,
            history,
            {**self.provenance(), "pruned": pruned.tolist()},
        )

    def _prune(self, patched: Encoder, x_r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Zero the ``ratio`` of the pruning layer's channels least active on ``x_r``; return
        the pruned channels, the keep mask and the layer's channel count."""
        conv, bn = patched.pruning_layer()
        acts: list[torch.Tensor] = []
        hook = bn.register_forward_hook(lambda _m, _i, out: acts.append(F.relu(out).detach()))
        with torch.no_grad():
            patched(x_r)
        hook.remove()
        mean = acts[0].mean(dim=(0, 2, 3))
        k = round(self.ratio * len(mean))
        pruned = torch.argsort(mean, stable=True)[:k]
        keep = torch.ones(len(mean), device=x_r.device)
        keep[pruned] = 0
        with torch.no_grad():
            conv.weight.mul_(keep.view(-1, 1, 1, 1))
            if conv.bias is not None:
                conv.bias.mul_(keep)
            bn.weight.mul_(keep)
            bn.bias.mul_(keep)
        return pruned, keep, len(mean)


def _freeze_pruned(patched: Encoder, keep: torch.Tensor) -> list[Any]:
    """Zero gradients keep the pruned entries at exactly 0 under Adam (and weight decay);
    returns the hooks' handles, to remove after training."""
    conv, bn = patched.pruning_layer()
    handles = [
        conv.weight.register_hook(lambda g: g * keep.view(-1, 1, 1, 1)),
        bn.weight.register_hook(lambda g: g * keep),
        bn.bias.register_hook(lambda g: g * keep),
    ]
    if conv.bias is not None:
        handles.append(conv.bias.register_hook(lambda g: g * keep))
    return handles
