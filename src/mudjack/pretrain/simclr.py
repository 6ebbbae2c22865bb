"""SimCLR pre-training (Chen et al., ICML 2020, https://arxiv.org/abs/2002.05709).

Two augmented views per image, a 2-layer projection head, and the NT-Xent loss. Used to
build the clean encoder that BadEncoder then backdoors. Departures from the paper: Adam
instead of LARS (as BadEncoder's code does), and the plain-torch augmentations of
:class:`mudjack.data.SimCLRAugment` (no blur, no hue jitter).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mudjack.data.augment import SimCLRAugment
from mudjack.encoders.base import Encoder, check_images
from mudjack.errors import InputError
from mudjack.pretrain.base import ViewTrainer, check_temperature
from mudjack.utils import make_generator, resolve_device, seeded


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised temperature-scaled cross entropy over a batch of positive pairs."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class SimCLR(ViewTrainer):
    """SimCLR trainer.

    Args:
        epochs: passes over the images (the paper's SimCLR encoders use 1,000 on CIFAR-10).
        batch_size: images per step (each contributes two views).
        lr: Adam learning rate (Table 17a: 0.001).
        temperature: NT-Xent temperature.
        proj_dim: output size of the projection head.
        augment: the view generator (``None``: ``SimCLRAugment()``).
        max_steps: stop after this many steps whatever ``epochs`` says (None: no cap).

    After :meth:`fit`, ``steps_`` holds the number of steps taken.
    """

    def __init__(
        self,
        *,
        epochs: int = 1000,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        temperature: float = 0.5,
        proj_dim: int = 128,
        augment: SimCLRAugment | None = None,
        max_steps: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.proj_dim = proj_dim
        self.augment = augment
        self.max_steps = max_steps
        self._check_schedule()
        check_temperature(temperature)
        if proj_dim < 1:
            raise InputError(f"Expected proj_dim >= 1, got {proj_dim}. SimCLR uses 128.")

    def fit(
        self,
        encoder: Encoder,
        images: torch.Tensor,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> Encoder:
        """Train ``encoder`` in place on ``images`` (N, C, H, W) in [0, 1]; return it.

        A trainer's job is to change the module it is given: the encoder is moved to
        ``device`` and trained there (move a copy first to keep the original). ``steps_``
        holds the number of steps taken."""
        images = check_images(images, encoder.input_spec, "pre-training images")
        if len(images) < 4:
            raise InputError(f"Expected at least 4 pre-training images, got {len(images)}.")
        dev = resolve_device(device)
        head = self._head(encoder.embed_dim, seed)
        encoder.to(dev).train()
        head.to(dev).train()
        params = list(encoder.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        gen = make_generator(seed)
        n = len(images)
        bs, steps, total = self._total_steps(n)
        self.steps_ = 0
        bar = tqdm(total=total, desc="SimCLR", unit="step", disable=not progress)
        model = (encoder, head, opt, self._augment(), dev)
        for epoch in range(self.epochs):
            if self.steps_ >= total:
                break
            perm = torch.randperm(n, generator=gen)
            running = 0.0
            for i in range(steps):
                if self.steps_ >= total:
                    break
                loss = self._step(model, images[perm[i * bs : (i + 1) * bs]], gen)
                running += loss
                self.steps_ += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
            if on_epoch is not None:
                on_epoch(epoch + 1, running / max(steps, 1))
        bar.close()
        return encoder.eval()

    def _head(self, embed_dim: int, seed: int) -> nn.Module:
        """The projection head, initialised from ``seed``."""
        with seeded(seed):
            return nn.Sequential(
                nn.Linear(embed_dim, embed_dim),
                nn.ReLU(),
                nn.Linear(embed_dim, self.proj_dim),
            )

    def _step(self, model: tuple, x: torch.Tensor, gen: torch.Generator) -> float:
        """One NT-Xent step on two augmented views of the batch ``x``; returns its loss."""
        encoder, head, opt, augment, dev = model
        bs = len(x)
        v1, v2 = augment(x, gen), augment(x, gen)
        v = torch.cat([v1, v2]).to(dev).contiguous(memory_format=torch.channels_last)
        z = head(encoder(v))
        loss = nt_xent(z[:bs], z[bs:], self.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()
