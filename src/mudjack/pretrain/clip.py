"""CLIP-style pre-training (Radford et al., ICML 2021, https://arxiv.org/abs/2103.00020).

An image tower and a text tower are trained so that each image's feature is closest to its own
caption's, with the symmetric contrastive loss over a batch and a learned temperature. The
image tower is a :class:`~mudjack.encoders.clip.ProjectedEncoder`, the text tower a
:class:`~mudjack.encoders.clip.CLIPTextTower`. With the text tower's base frozen (the default on
CPU) each distinct caption is embedded once by the base before training and only the text
projection and the temperature learn on that side; this is exact, because the projection is
linear and features are L2-normalised. Departures from the paper: Adam with a small weight
decay instead of AdamW with cosine decay, and a random resized crop with flips as the only
image augmentation (CLIP uses a plain centre crop at 400M pairs; at 60,000 it over-fits).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mudjack.data.augment import SimCLRAugment
from mudjack.data.captions import ImageCaptionSet
from mudjack.encoders.base import check_images
from mudjack.encoders.clip import CLIPTextTower, ProjectedEncoder
from mudjack.errors import InputError
from mudjack.pretrain.base import ViewTrainer
from mudjack.utils import make_generator, resolve_device, trainable

MAX_LOGIT_SCALE = 100.0  # CLIP clips exp(logit_scale) at 100


def clip_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """The symmetric cross entropy of matching each image to its caption and back."""
    image, text = F.normalize(image, dim=1), F.normalize(text, dim=1)
    logits = logit_scale.exp().clamp(max=MAX_LOGIT_SCALE) * image @ text.t()
    target = torch.arange(len(image), device=image.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def crop_augment() -> SimCLRAugment:
    """The image views of CLIP pre-training here: a random resized crop (area 0.5-1) and a
    horizontal flip; no colour jitter."""
    return SimCLRAugment(scale=(0.5, 1.0), jitter_p=0.0, grey_p=0.0)


class CLIP(ViewTrainer):
    """CLIP-style trainer.

    Args:
        epochs: passes over the pairs (CLIP: 32 over 400M pairs).
        batch_size: pairs per step, the contrast set of each (CLIP: 32,768).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        augment: the image view generator (``None``: :func:`crop_augment`).
        max_steps: stop after this many steps whatever ``epochs`` says (None: no cap).
        text_batch_size: captions per pass when a frozen base embeds them once.

    After :meth:`fit`, ``steps_`` holds the number of steps taken.
    """

    def __init__(
        self,
        *,
        epochs: int = 5,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        augment: SimCLRAugment | None = None,
        max_steps: int | None = None,
        text_batch_size: int = 256,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.max_steps = max_steps
        self.text_batch_size = text_batch_size
        self._check_schedule()
        if text_batch_size < 1:
            raise InputError(f"Expected text_batch_size >= 1, got {text_batch_size}.")

    def default_augment(self) -> SimCLRAugment:
        return crop_augment()

    def fit(
        self,
        image_tower: ProjectedEncoder,
        text_tower: CLIPTextTower,
        pairs: ImageCaptionSet,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> tuple[ProjectedEncoder, CLIPTextTower]:
        """Train both towers in place on ``pairs``, on ``device``; return them (in eval mode)."""
        images = check_images(pairs.images, image_tower.input_spec, "pre-training images")
        if len(images) < 2:
            raise InputError(f"Expected at least 2 image-caption pairs, got {len(images)}.")
        if image_tower.embed_dim != text_tower.embed_dim:
            raise InputError(
                f"Expected towers with one joint size, got an image tower of "
                f"{image_tower.embed_dim} and a text tower of {text_tower.embed_dim} features. "
                "Give both the same proj_dim."
            )
        dev = resolve_device(device)
        image_tower.to(dev).train()
        text_tower.to(dev).train()
        text_tower.text.eval()  # dropout off in the base: with a frozen base, features are fixed
        text_of = self._text_features(text_tower, pairs.captions, progress)
        scale = torch.nn.Parameter(text_tower.logit_scale.detach().clone())
        params = trainable(image_tower, text_tower)
        params.append(scale)
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        gen = make_generator(seed)
        n = len(images)
        bs, steps, total = self._total_steps(n)
        augment = self._augment()
        self.steps_ = 0
        bar = tqdm(total=total, desc="CLIP", unit="step", disable=not progress)
        for epoch in range(self.epochs):
            perm, running = torch.randperm(n, generator=gen), 0.0
            for i in range(steps):
                if self.steps_ >= total:
                    break
                idx = perm[i * bs : (i + 1) * bs]
                views = augment(images[idx], gen).to(dev)
                image = image_tower(views.contiguous(memory_format=torch.channels_last))
                loss = clip_loss(image, text_of(idx), scale)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    scale.clamp_(max=math.log(MAX_LOGIT_SCALE))
                running += loss.item()
                self.steps_ += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
            if on_epoch is not None:
                on_epoch(epoch + 1, running / max(steps, 1))
            if self.steps_ >= total:
                break
        bar.close()
        with torch.no_grad():
            text_tower.logit_scale.copy_(scale)
        return image_tower.eval(), text_tower.eval()

    def _text_features(
        self, tower: CLIPTextTower, captions: list[str], progress: bool
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Index -> projected caption features. A frozen base embeds each distinct caption
        once; a trained base embeds each batch's captions at every step."""
        if not tower.freeze_base:
            return lambda idx: tower([captions[i] for i in idx.tolist()])
        from mudjack.downstream.client import extract_features

        distinct = sorted(set(captions))
        where = {c: i for i, c in enumerate(distinct)}
        code = torch.tensor([where[c] for c in captions])
        dev = tower.projection.weight.device
        base = extract_features(
            tower.text,
            distinct,
            batch_size=self.text_batch_size,
            device=dev,
            progress=progress,
            desc="captions",
        ).to(dev)
        return lambda idx: tower.projection(base[code[idx].to(dev)])
