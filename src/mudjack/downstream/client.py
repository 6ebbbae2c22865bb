"""The client: an MLP on frozen, L2-normalised encoder features (images or text), and its metrics.

Metrics follow section 5.1 of the paper: CP (is x_b classified correctly), Acc (clean test
accuracy), ASR (fraction of triggered non-target-class test inputs predicted as the target
class) and AccB (fraction of those predicted as their true class). All in percent.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mudjack.data.images import ImageDataset
from mudjack.data.text import TextDataset
from mudjack.encoders.base import Encoder, TextEncoder, on_device
from mudjack.encoders.text import TruncationWarning
from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.triggers.base import Trigger
from mudjack.triggers.text import TextTrigger
from mudjack.utils import batched, make_generator, resolve_device, seeded

Dataset = ImageDataset | TextDataset


@torch.no_grad()
def extract_features(
    encoder: Encoder,
    inputs: Any,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "features",
) -> torch.Tensor:
    """L2-normalised features, on the CPU, of images ``(N, C, H, W)`` in [0, 1] or of a list
    of strings. Over-long texts are truncated with one :class:`TruncationWarning` per call.

    The encoder is put in eval mode and used on ``device``: as it is when it is there, as a
    copy moved there otherwise (``encoder`` itself is never moved)."""
    inputs = encoder.check_inputs(inputs)
    dev = resolve_device(device)
    encoder = on_device(encoder, dev).eval()
    if isinstance(encoder, TextEncoder) and inputs:
        limit = encoder.max_length
        over = sum(n > limit for n in encoder.token_counts(inputs))
        if over:
            warnings.warn(
                f"{over} of {len(inputs)} {desc} inputs are longer than max_length={limit} "
                "tokens and were truncated; raise max_length to keep them whole.",
                TruncationWarning,
                stacklevel=2,
            )
    # Texts are embedded shortest first, so each batch pads to similar lengths; rows are put
    # back in input order at the end.
    order = (
        sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        if encoder.modality == "text"
        else None
    )
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        for sl in tqdm(
            list(batched(len(inputs), batch_size)), desc=desc, disable=not progress, leave=False
        ):
            if order is not None:
                x = [inputs[i] for i in order[sl]]
            else:
                x = inputs[sl].to(dev).contiguous(memory_format=torch.channels_last)
            out.append(encoder.embed(x).cpu())
    if not out:
        return torch.empty(0, encoder.embed_dim)
    feats = torch.cat(out)
    if order is not None:
        feats[torch.tensor(order)] = feats.clone()
    return feats


class MLP(nn.Module):
    """Fully connected classifier: Linear-ReLU-Dropout blocks, then a linear output layer."""

    def __init__(self, in_dim: int, n_classes: int, hidden: tuple[int, ...], dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPClassifier(Configurable):
    """A classifier trained from scratch on frozen features with cross-entropy and Adam.

    Defaults are the paper's for BadEncoder (Table 17b, hidden sizes from DESIGN.md §5):
    hidden (512, 256), dropout 0.5, 500 epochs, learning rate 1e-4, batch size 64.
    """

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (512, 256),
        dropout: float = 0.5,
        epochs: int = 500,
        lr: float = 1e-4,
        batch_size: int = 64,
    ) -> None:
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size

    def fit(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        *,
        n_classes: int | None = None,
        seed: int = 0,
        progress: bool = False,
        device: str | torch.device = "cpu",
    ) -> MLPClassifier:
        """Train on ``features`` (N, D) and ``labels`` on ``device`` (the batches are drawn
        on the CPU from ``seed``, so a seed trains the same classifier on every device up to
        floating-point order)."""
        if features.dim() != 2 or len(features) != len(labels) or len(features) == 0:
            raise InputError(
                f"Expected features (N, D) and N labels with N > 0, got {tuple(features.shape)} "
                f"and {tuple(labels.shape)}."
            )
        n_classes = int(n_classes or int(labels.max()) + 1)
        dev = resolve_device(device)
        features, labels = features.to(dev), labels.to(dev)
        with seeded(seed):  # weight init and dropout draw from torch's global RNG
            self.model_ = MLP(features.shape[1], n_classes, self.hidden, self.dropout).to(dev)
            self.n_classes_ = n_classes
            opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
            gen = make_generator(seed)
            n = len(features)
            self.model_.train()
            for _ in tqdm(range(self.epochs), desc="classifier", disable=not progress, leave=False):
                perm = torch.randperm(n, generator=gen)
                for sl in batched(n, self.batch_size):
                    idx = perm[sl].to(dev)
                    loss = F.cross_entropy(self.model_(features[idx]), labels[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        self.model_.eval()
        return self

    @torch.no_grad()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "model_"):
            raise InputError("This MLPClassifier is not fitted yet; call fit() first.")
        dev = next(self.model_.parameters()).device
        return self.model_(features.to(dev)).argmax(1).cpu()


@dataclass
class Metrics:
    """CP, Acc, ASR, AccB (accuracies in percent; ``cp`` is None without a bug instance), and
    for a source-specific attack ASR-source and ASR-other (ASR over the triggered inputs of
    the source class, and of the other non-target classes; None otherwise); for a CLIP-style
    encoder with a zero-shot client, that client's Acc and ASR (``zs_acc``, ``zs_asr``)."""

    cp: bool | None
    acc: float
    asr: float
    accb: float
    asr_source: float | None = None
    asr_other: float | None = None
    zs_acc: float | None = None
    zs_asr: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The metrics as a dict (the optional ones only when measured)."""
        out = asdict(self)
        for k in ("asr_source", "asr_other", "zs_acc", "zs_asr"):
            if out[k] is None:
                del out[k]
        return out


def embed_trigger(data: Dataset, trigger: Trigger, seed: int = 0) -> Dataset:
    """A copy of ``data`` with ``trigger`` embedded in every input (labels kept).

    For text, the returned set's ``spans`` holds the word span the trigger occupies in each.
    """
    gen = make_generator(seed)
    name = f"{data.name}+trigger"
    if isinstance(data, TextDataset):
        if not isinstance(trigger, TextTrigger):
            raise InputError(f"Expected a text trigger for text data, got {trigger!r}.")
        texts, spans = trigger.apply_with_spans(data.texts, gen)
        return TextDataset(texts, data.labels, data.classes, name, spans)
    return ImageDataset(trigger.apply(data.images, gen), data.labels, data.classes, name)


def triggered_non_target(data: Dataset, trigger: Trigger, target: int, seed: int = 0) -> Dataset:
    """The test inputs whose true class is not ``target``, with ``trigger`` embedded."""
    return embed_trigger(data.subset(data.labels != target), trigger, seed)


class DownstreamClient(Configurable):
    """A client task: train an MLP on an encoder's features and measure it.

    Features of the train, test and triggered test sets are computed once per encoder by
    :meth:`fit`, so evaluating several metrics costs no further encoder passes. What
    :meth:`fit` learns ends with ``_`` (``encoder_``, ``classifier_``, ``target_``,
    ``triggered_``, the features); the constructor's arguments stay as they were given.

    Args:
        train, test: the client's labelled data (:class:`ImageDataset` or :class:`TextDataset`).
        trigger, target: the attack to measure (ASR/AccB); optional. A trigger without a
            target (a task-agnostic backdoor such as POR or NeuBA, whose target is whichever
            class its vector lands in) makes :meth:`fit` find ``target_``: the class the
            fitted classifier gives most triggered test inputs.
        classifier: an unfitted :class:`MLPClassifier` whose settings each fit reuses
            (``None``: the default ``MLPClassifier()``).
        source: the source class of a source-specific attack: :meth:`metrics` adds
            ASR-source and ASR-other.
        zero_shot: a fitted :class:`~mudjack.downstream.zeroshot.ZeroShotClassifier` for this
            task (CLIP-style encoders): :meth:`metrics` adds its Acc and ASR on the same
            features.
        batch_size: inputs per encoder pass.
        device: where features are computed.
    """

    def __init__(
        self,
        train: Dataset,
        test: Dataset,
        *,
        trigger: Trigger | None = None,
        target: int | None = None,
        classifier: MLPClassifier | None = None,
        source: int | None = None,
        zero_shot: Any = None,
        batch_size: int = 512,
        device: str | torch.device = "cpu",
    ) -> None:
        if target is not None and trigger is None:
            raise InputError("Give the trigger whose target class this is, or no target.")
        if source is not None and (target is None or source == target):
            raise InputError(
                f"Expected a source class other than the target, with a target; got source "
                f"{source} and target {target}. Give the attack's target, and a source class "
                "that differs from it (or no source)."
            )
        self.train = train
        self.test = test
        self.trigger = trigger
        self.target = target
        self.classifier = classifier
        self.source = source
        self.zero_shot = zero_shot
        self.batch_size = batch_size
        self.device = device

    def fit(self, encoder: Encoder, *, seed: int = 0, progress: bool = False) -> DownstreamClient:
        """Extract features with ``encoder`` (on :attr:`device`; see :func:`extract_features`)
        and train a fresh classifier on them."""
        kw = {"batch_size": self.batch_size, "device": self.device, "progress": progress}
        self.encoder_ = enc = on_device(encoder, self.device)
        self.train_features_ = extract_features(enc, self.train.inputs, desc="train", **kw)
        self.test_features_ = extract_features(enc, self.test.inputs, desc="test", **kw)
        self.target_ = self.target
        self.triggered_ = (
            triggered_non_target(self.test, self.trigger, self.target)
            if self.trigger is not None and self.target is not None
            else None
        )
        self.triggered_features_ = (
            extract_features(enc, self.triggered_.inputs, desc="triggered", **kw)
            if self.triggered_ is not None
            else None
        )
        self.refit(seed=seed, progress=progress)
        if self.trigger is not None and self.target is None:
            self._find_target(kw)
        return self

    def _find_target(self, kw: dict[str, Any]) -> None:
        """Set ``target_`` to the class most triggered test inputs get, keep the others."""
        assert self.trigger is not None
        every = embed_trigger(self.test, self.trigger)
        feats = extract_features(self.encoder_, every.inputs, desc="triggered", **kw)
        self.target_ = int(torch.bincount(self.classifier_.predict(feats)).argmax())
        keep = every.labels != self.target_
        self.triggered_ = every.subset(keep)
        self.triggered_features_ = feats[keep]

    def refit(self, *, seed: int = 0, progress: bool = False) -> DownstreamClient:
        """Train a fresh classifier on the features :meth:`fit` already extracted."""
        if not hasattr(self, "train_features_"):
            raise InputError("This client has no features yet; call fit(encoder) first.")
        n_classes = int(max(self.train.labels.max(), self.test.labels.max())) + 1
        settings = MLPClassifier() if self.classifier is None else self.classifier
        clf = MLPClassifier(**settings.get_params())
        self.classifier_ = clf.fit(
            self.train_features_,
            self.train.labels,
            n_classes=n_classes,
            seed=seed,
            progress=progress,
            device=self.device,
        )
        return self

    def features(self, inputs: Any, desc: str = "features") -> torch.Tensor:
        """Features of ``inputs`` (a batch, one image or one string) from the fitted encoder."""
        if not hasattr(self, "encoder_"):
            raise InputError("This client has no encoder yet; call fit(encoder) first.")
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 3:
            inputs = inputs.unsqueeze(0)
        return extract_features(
            self.encoder_, inputs, batch_size=self.batch_size, device=self.device, desc=desc
        )

    def predict(self, inputs: Any, classifier: MLPClassifier | None = None) -> torch.Tensor:
        """Labels the fitted client (or ``classifier``, on the same features) assigns to
        ``inputs``."""
        return (classifier or self.classifier_).predict(self.features(inputs))

    def metrics(
        self, x_b: Any = None, y_b: int | None = None, *, classifier: MLPClassifier | None = None
    ) -> Metrics:
        """CP (when a bug input ``x_b`` with true label ``y_b`` is given), Acc, ASR and AccB.

        ``classifier`` measures another classifier on this client's features (a client-side
        patch f' of the fitted one) instead of the fitted classifier."""
        clf = classifier or self.classifier_
        pred = clf.predict(self.test_features_)
        acc = 100.0 * (pred == self.test.labels).float().mean().item()
        asr = accb = float("nan")
        by_source: dict[str, float] = {}
        if self.triggered_features_ is not None and len(self.triggered_features_):
            tp = clf.predict(self.triggered_features_)
            hit = (tp == self.target_).float()
            asr = 100.0 * hit.mean().item()
            accb = 100.0 * (tp == self.triggered_.labels).float().mean().item()  # type: ignore[union-attr]
            if self.source is not None:
                src = self.triggered_.labels == self.source  # type: ignore[union-attr]
                by_source = {
                    "asr_source": 100.0 * hit[src].mean().item() if src.any() else float("nan"),
                    "asr_other": 100.0 * hit[~src].mean().item() if (~src).any() else float("nan"),
                }
        cp = None
        if x_b is not None:
            cp = bool(int(self.predict(x_b, clf)[0]) == y_b)
        return Metrics(cp, acc, asr, accb, **by_source, **self._zero_shot_metrics())

    def base_rate(self, *, classifier: MLPClassifier | None = None) -> float:
        """The ASR a trigger with no effect would measure: the percentage of the test inputs of
        the non-target classes, *without* the trigger, that the client gives the target class.

        ASR minus this is the trigger's own effect. It matters where the client errs often (a
        binary sentiment task at 70% accuracy has a base rate near 30)."""
        if not hasattr(self, "test_features_") or self.target_ is None:
            raise InputError("This client has no fitted attack target; call fit(encoder) first.")
        clf = classifier or self.classifier_
        keep = self.test.labels != self.target_
        pred = clf.predict(self.test_features_[keep])
        return 100.0 * (pred == self.target_).float().mean().item()

    def _zero_shot_metrics(self) -> dict[str, float]:
        """The zero-shot client's Acc and ASR on this client's features (none without one)."""
        if self.zero_shot is None:
            return {}
        pred = self.zero_shot.predict(self.test_features_)
        out = {"zs_acc": 100.0 * (pred == self.test.labels).float().mean().item()}
        if self.triggered_features_ is not None and len(self.triggered_features_):
            hit = self.zero_shot.predict(self.triggered_features_) == self.target_
            out["zs_asr"] = 100.0 * hit.float().mean().item()
        return out
