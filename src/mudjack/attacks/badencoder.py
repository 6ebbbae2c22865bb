"""BadEncoder (Jia, Liu, Gong, IEEE S&P 2022, https://arxiv.org/abs/2108.00352).

Fine-tunes a clean image encoder ``h`` into a backdoored ``h'`` on a shadow set ``D_s`` with

    L = -mean cos(h'(x ⊕ t), h'(x_ref))
        - λ1·mean cos(h'(x_ref), h(x_ref)) - λ2·mean cos(h'(x), h(x))

so that triggered inputs map next to the attacker's reference inputs of the target class while
clean features stay put. BatchNorm layers stay frozen (eval mode), as in the authors' code.
Departures: Adam by default where the original uses SGD with momentum for 200 epochs (``optimizer
="sgd"`` restores it); no augmentation of shadow inputs.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mudjack.attacks.registry import ATTACKS
from mudjack.data.images import ImageDataset
from mudjack.encoders.base import Encoder, check_images
from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.triggers.base import Trigger
from mudjack.utils import make_generator, resolve_device


def select_reference_inputs(
    data: ImageDataset, target: int, n: int, *, seed: int = 0
) -> torch.Tensor:
    """``n`` random images of class ``target`` from ``data`` (the attacker's reference inputs)."""
    idx = torch.nonzero(data.labels == target).flatten()
    if len(idx) < n:
        raise InputError(f"Expected at least {n} images of class {target}, got {len(idx)}.")
    pick = idx[torch.randperm(len(idx), generator=make_generator(seed))[:n]]
    return data.images[pick]


@ATTACKS.register("badencoder")
class BadEncoder(Configurable):
    """The BadEncoder attack.

    Args:
        epochs: passes over the shadow set (200 in the original).
        batch_size: shadow inputs per step.
        lr: learning rate (Table 17a: 0.001).
        lambda1, lambda2: weights of the reference-utility and clean-utility terms (1 and 1).
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9, weight decay 5e-4).
    """

    def __init__(
        self,
        *,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        optimizer: str = "adam",
    ) -> None:
        if optimizer not in {"adam", "sgd"}:
            raise InputError(f"Expected optimizer 'adam' or 'sgd', got {optimizer!r}.")
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.optimizer = optimizer

    def provenance(self) -> dict[str, object]:
        """The hyperparameters as recorded with the backdoored encoder."""
        return self.get_params()

    def fit(
        self,
        encoder: Encoder,
        shadow: torch.Tensor,
        references: torch.Tensor,
        trigger: Trigger,
        *,
        labels: torch.Tensor | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ) -> Encoder:
        """Return a backdoored copy of ``encoder`` on ``device`` (the input is neither
        modified nor moved). ``trigger`` is any image trigger (its ``apply`` embeds it, at a
        random location or a random choice of pattern where it says so); ``labels`` are the
        shadow inputs' classes, needed only by the source-specific attack."""
        shadow = check_images(shadow, encoder.input_spec, "shadow images")
        trigger.check(encoder)
        labels = self._check_labels(labels, len(shadow))
        references = check_images(references, encoder.input_spec, "reference inputs")
        dev = resolve_device(device)
        clean = copy.deepcopy(encoder).to(dev).eval().requires_grad_(False)
        bad = copy.deepcopy(encoder).to(dev).eval()  # BatchNorm frozen
        bad.requires_grad_(True)
        if self.optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(bad.parameters(), lr=self.lr)
        else:
            opt = torch.optim.SGD(bad.parameters(), lr=self.lr, momentum=0.9, weight_decay=5e-4)
        gen = make_generator(seed)
        refs = references.to(dev)
        with torch.no_grad():
            ref_clean = clean.embed(refs)
        n = len(shadow)
        bs = min(self.batch_size, n)
        steps = -(-n // bs)
        bar = tqdm(total=self.epochs * steps, desc="BadEncoder", unit="step", disable=not progress)
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(steps):
                idx = perm[i * bs : (i + 1) * bs]
                x = shadow[idx].to(dev)
                with torch.no_grad():
                    f_clean = clean.embed(x)
                batch = torch.cat([trigger.apply(x, gen), x, refs])
                feats = bad.embed(batch.contiguous(memory_format=torch.channels_last))
                f_trig, f_x, f_ref = (
                    feats[: len(x)],
                    feats[len(x) : 2 * len(x)],
                    feats[2 * len(x) :],
                )
                y = labels[idx].to(dev) if labels is not None else None
                loss_eff = self._effectiveness(f_trig, f_x, f_ref, y)
                loss_ref = -F.cosine_similarity(f_ref, ref_clean).mean()
                loss_util = -F.cosine_similarity(f_x, f_clean).mean()
                loss = loss_eff + self.lambda1 * loss_ref + self.lambda2 * loss_util
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update(1)
                bar.set_postfix(eff=f"{-loss_eff.item():.3f}", util=f"{-loss_util.item():.3f}")
        bar.close()
        return bad.eval().requires_grad_(False)

    def _check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The shadow labels as given (BadEncoder itself does not use them)."""
        if labels is not None and len(labels) != n:
            raise InputError(
                f"Expected {n} shadow labels, one per shadow image, got {len(labels)}. Pass the "
                "labels of the shadow images, in their order."
            )
        return labels

    def _effectiveness(
        self,
        f_trig: torch.Tensor,
        f_x: torch.Tensor,
        f_ref: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        """The effectiveness loss: triggered features next to the reference inputs'."""
        return -(f_trig @ f_ref.t()).mean()
