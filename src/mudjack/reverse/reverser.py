"""Trigger reverse-engineering (section 4.4 and Algorithm 2 of the paper).

Step I: an attribution method scores each pixel (image) or word (text) of ``x_b`` for the
objective ``1 - cos(h(x_b), h(x_r))``. Step II: K-means with K = 2 splits the scores; the
cluster with the higher mean score is the trigger. For an image the trigger mask is that
cluster and the pattern is ``x_b``'s pixels under it; for text the trigger is that cluster's
words, in order, at their relative position in ``x_b`` (:class:`~mudjack.triggers.TextTrigger`;
words that are not contiguous are re-inserted as one group at the first one's position).

Departure from the paper, on measurement: by default the clustering uses the *magnitude* of
each pixel's score (``signed=False``). On the shipped Fashion-MNIST BadEncoder, 4 of 12 real
bug instances had strongly *negative* occlusion scores on the trigger (occluding the trigger
moved x_b further from x_r, since the target-class features it induces were closer to x_r than
the clean image's), so signed scores put ~730 of 784 pixels in the "high" cluster (IoU ≈ 0),
while magnitudes found the trigger in all 12 (mean IoU 0.58 with the authors' 5x5 window).
``signed=True`` restores the paper's rule. Text uses the same rule.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from mudjack.bug import BugInstance
from mudjack.encoders.base import Encoder, TextEncoder, on_device
from mudjack.errors import InputError, UnknownNameError
from mudjack.registry import Configurable, Registry
from mudjack.reverse.text import OCCLUSIONS, TEXT_METHODS, word_gradient, word_occlusion
from mudjack.triggers.image import PatchTrigger, mask_iou
from mudjack.triggers.perturbation import PerturbationTrigger
from mudjack.triggers.text import TextTrigger, word_precision_recall
from mudjack.utils import resolve_device

METHODS = ("occlusion", "gradcam", "saliency", "guided_backprop")


@dataclass
class ReverseResult:
    """What reverse-engineering found.

    Attributes:
        trigger: the recovered trigger: a :class:`PatchTrigger` (mask = high-score cluster,
            pattern = x_b under it) or a :class:`TextTrigger` (the high-score words); from
            :class:`~mudjack.reverse.InversionReverser`, also a :class:`PerturbationTrigger`.
        scores: signed attribution scores, per pixel ``(H, W)`` or per word ``(n_words,)``.
        clustered: the values K-means split (the magnitudes of ``scores`` unless ``signed``).
        method: the attribution method's name.
        seconds: wall time.
        words: for text, the indices of the recovered words in ``x_b``.
    """

    trigger: PatchTrigger | PerturbationTrigger | TextTrigger
    scores: torch.Tensor
    clustered: torch.Tensor
    method: str
    seconds: float
    words: list[int] | None = None

    def iou(self, true_mask: torch.Tensor) -> float:
        """IoU of the recovered mask with a known true mask (images)."""
        if not isinstance(self.trigger, PatchTrigger):
            raise InputError("IoU is for image triggers; use precision_recall() for text.")
        return mask_iou(self.trigger.mask, true_mask)

    def precision_recall(self, true_span: tuple[int, int] | list[int]) -> tuple[float, float]:
        """Precision and recall of the recovered words against the true word span ``[a, b)``."""
        if self.words is None:
            raise InputError("precision_recall() is for text triggers; use iou() for images.")
        a, b = int(true_span[0]), int(true_span[1])
        return word_precision_recall(self.words, range(a, b))


class _Objective(torch.nn.Module):
    """x -> 1 - cos(h(x), h(x_r)), one value per input."""

    def __init__(self, encoder: Encoder, x_r: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        with torch.no_grad():
            self.register_buffer("ref", encoder.embed(x_r.unsqueeze(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - F.cosine_similarity(self.encoder.embed(x), self.ref.expand(len(x), -1))


class TriggerReverser(Configurable):
    """Reverse-engineer the trigger in a bug instance.

    Args:
        method: ``"occlusion"`` (default, as in the paper; images and text); for images also
            ``"gradcam"`` (LayerGradCam on the encoder's attribution layer), ``"saliency"`` or
            ``"guided_backprop"``; for text also ``"gradient"`` (input × gradient at the
            word-embedding layer).
        window: occlusion window side (5 in the authors' code on 32x32 images).
        stride: occlusion stride.
        n_clusters: K of K-means (2 in the paper); the highest-mean cluster is the trigger.
        signed: cluster the signed scores (the paper's rule) instead of their magnitudes.
        baseline: the pixel value occluded windows are filled with; ``None`` (default) uses
            the encoder's normalisation mean, i.e. 0 in the normalised space, as the authors do.
        perturbations_per_eval: occluded copies evaluated per forward pass.
        occlude: text occlusion: ``"remove"`` the word (default), or replace it by the
            ``"mask"`` or ``"unk"`` token.
    """

    def __init__(
        self,
        *,
        method: str = "occlusion",
        window: int = 5,
        stride: int = 1,
        n_clusters: int = 2,
        signed: bool = False,
        baseline: float | None = None,
        perturbations_per_eval: int = 256,
        occlude: str = "remove",
    ) -> None:
        if method not in METHODS and method not in TEXT_METHODS:
            names = sorted({*METHODS, *TEXT_METHODS})
            raise UnknownNameError(
                f"Unknown attribution method {method!r}. Expected one of: {', '.join(names)} "
                f"(images: {', '.join(METHODS)}; text: {', '.join(TEXT_METHODS)})."
            )
        if occlude not in OCCLUSIONS:
            raise InputError(f"Expected occlude in {OCCLUSIONS}, got {occlude!r}.")
        if window < 1 or stride < 1 or n_clusters < 2:
            raise InputError(
                f"Expected window >= 1, stride >= 1 and n_clusters >= 2, got "
                f"{window}, {stride}, {n_clusters}."
            )
        self.method = method
        self.window = window
        self.stride = stride
        self.n_clusters = n_clusters
        self.signed = signed
        self.baseline = baseline
        self.perturbations_per_eval = perturbations_per_eval
        self.occlude = occlude

    def attribute(
        self, encoder: Encoder, bug: BugInstance, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """Attribution scores of ``x_b`` for ``1 - cos(h(x_b), h(x_r))``: per pixel ``(H, W)``
        for images, per whitespace-separated word ``(n_words,)`` for text.

        The encoder is put in eval mode and used on ``device``: as it is when it is there, as
        a copy moved there otherwise (``encoder`` itself is never moved)."""
        from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam, Occlusion, Saliency

        bug.check(encoder)
        dev = resolve_device(device)
        encoder = on_device(encoder, dev).eval()
        valid = TEXT_METHODS if encoder.modality == "text" else METHODS
        if self.method not in valid:
            raise InputError(
                f"Attribution method {self.method!r} does not apply to {encoder.modality} "
                f"encoders. Expected one of: {', '.join(valid)}."
            )
        if encoder.modality == "text":
            if not isinstance(encoder, TextEncoder):
                raise InputError(
                    f"Expected a TextEncoder to reverse-engineer text triggers, got "
                    f"{type(encoder).__name__}: implement mudjack.encoders.TextEncoder."
                )
            if self.method == "occlusion":
                return word_occlusion(encoder, bug, occlude=self.occlude)
            return word_gradient(encoder, bug)
        objective = _Objective(encoder, bug.x_r.to(dev))
        x = bug.x_b.unsqueeze(0).to(dev)
        c = x.shape[1]
        if self.method == "occlusion":
            # Baseline 0 in the encoder's normalised space = the normalisation mean in pixels.
            fill = encoder.input_spec.mean if self.baseline is None else (self.baseline,) * c
            baseline = torch.tensor(fill, dtype=x.dtype, device=dev)
            baseline = baseline.view(1, c, 1, 1).expand_as(x).contiguous()
            attr = Occlusion(objective).attribute(
                x,
                sliding_window_shapes=(c, self.window, self.window),
                strides=(c, self.stride, self.stride),
                baselines=baseline,
                perturbations_per_eval=self.perturbations_per_eval,
            )
            scores = attr[0].mean(0)
        elif self.method == "gradcam":
            attr = LayerGradCam(objective, encoder.attribution_layer()).attribute(
                x.requires_grad_(True), relu_attributions=False
            )
            scores = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), "bilinear")[0, 0]
        elif self.method == "saliency":
            scores = Saliency(objective).attribute(x.requires_grad_(True), abs=True)[0].mean(0)
        else:
            scores = GuidedBackprop(objective).attribute(x.requires_grad_(True))[0].abs().mean(0)
        return scores.detach().cpu()

    def cluster(self, scores: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """K-means on the scores (or their magnitudes); the 0/1 mask of the highest-mean
        cluster, ``(1, H, W)`` for pixel scores ``(H, W)``, ``(n_words,)`` for word scores."""
        flat = self._values(scores).reshape(-1, 1).double().numpy()
        unit = "word" if scores.dim() == 1 else "pixel"
        if len(flat) < self.n_clusters:
            raise InputError(
                f"Expected x_b with at least {self.n_clusters} {unit}s to cluster, got "
                f"{len(flat)}. A one-word text has no trigger to separate from the rest."
            )
        if np.ptp(flat) == 0:
            raise InputError(
                f"Every {unit} of x_b got the same attribution score, so no trigger stands out. "
                "Is x_b misclassified because of a trigger? Try another attribution method."
            )
        km = KMeans(n_clusters=self.n_clusters, n_init=10, random_state=seed).fit(flat)
        means = [flat[km.labels_ == k].mean() for k in range(self.n_clusters)]
        top = int(np.argmax(means))
        mask = torch.from_numpy(km.labels_ == top).float()
        return mask if scores.dim() == 1 else mask.view(1, *scores.shape)

    def _values(self, scores: torch.Tensor) -> torch.Tensor:
        return scores if self.signed else scores.abs()

    def reverse(
        self,
        encoder: Encoder,
        bug: BugInstance,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> ReverseResult:
        """Run Algorithm 2: attribution, then clustering. Returns a :class:`ReverseResult`."""
        start = time.perf_counter()
        scores = self.attribute(encoder, bug, device)
        mask = self.cluster(scores, seed)
        if isinstance(bug.x_b, str):
            idx = [int(i) for i in torch.nonzero(mask).flatten()]
            trigger = text_trigger_from_words(bug.x_b, idx)
            return ReverseResult(
                trigger,
                scores,
                self._values(scores),
                self.method,
                time.perf_counter() - start,
                idx,
            )
        trigger = PatchTrigger(bug.x_b.cpu() * mask, mask)
        return ReverseResult(
            trigger, scores, self._values(scores), self.method, time.perf_counter() - start
        )


REVERSERS: Registry[Callable[..., TriggerReverser]] = Registry("attribution method")
for _method in sorted({*METHODS, *TEXT_METHODS}):
    REVERSERS.register(_method)(functools.partial(TriggerReverser, method=_method))


def list_reversers(modality: str | None = None) -> list[str]:
    """The attribution methods: all of them, or those for ``"image"`` or ``"text"`` encoders."""
    if modality is None:
        return REVERSERS.names()
    if modality not in ("image", "text"):
        raise InputError(f"Expected modality 'image' or 'text', got {modality!r}.")
    return sorted(TEXT_METHODS if modality == "text" else METHODS)


def create_reverser(method: str, **kwargs: Any) -> TriggerReverser:
    """A :class:`TriggerReverser` with attribution ``method``: ``create_reverser("gradcam")``."""
    return REVERSERS.create(method, **kwargs)


def text_trigger_from_words(text: str, index: list[int]) -> TextTrigger:
    """The trigger made of ``text``'s words at ``index``, at their relative position.

    The position is the first recovered word's index over the number of words that are left
    once the trigger is removed (so re-inserting the trigger into the rest gives ``text`` back
    when the words are contiguous): ``"start"`` for 0, ``"end"`` for 1.
    """
    words = text.split()
    rest = len(words) - len(index)
    frac = index[0] / rest if rest > 0 else 1.0
    frac = min(frac, 1.0)
    position: str | float = "start" if frac == 0 else "end" if frac == 1 else round(frac, 4)
    return TextTrigger([words[i] for i in index], position)
