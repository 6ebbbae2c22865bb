"""The provider's own proxy for a client: a k-nearest-neighbour probe on an encoder's
features of a labelled probe set the provider holds."""

from __future__ import annotations

from typing import Any

import torch

from mudjack.downstream.client import extract_features
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.registry import Configurable


class KnnProbe(Configurable):
    """Cosine k-NN on L2-normalised features.

    Args:
        k: neighbours that vote (10).
        batch_size: inputs per forward pass when extracting features.
    """

    def __init__(self, *, k: int = 10, batch_size: int = 512) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"Expected k >= 1 neighbours, got {k!r}. Pass e.g. k=10.")
        self.k = k
        self.batch_size = batch_size

    def fit(
        self, encoder: Encoder, inputs: Any, labels: torch.Tensor, *, device: Any = "cpu"
    ) -> KnnProbe:
        """Store ``encoder``'s features of the labelled probe set."""
        if len(inputs) != len(labels) or len(labels) < self.k:
            raise InputError(
                f"Expected one label per probe input and at least k={self.k} inputs, got "
                f"{len(inputs)} inputs and {len(labels)} labels."
            )
        self.encoder_ = encoder
        self.device_ = device
        self.inputs_ = inputs
        self.features_ = self._features(inputs)
        self.labels_ = labels.long().cpu()
        self.classes_ = int(self.labels_.max()) + 1
        return self

    def _features(self, inputs: Any) -> torch.Tensor:
        return extract_features(
            self.encoder_, inputs, batch_size=self.batch_size, device=self.device_
        )

    def votes(self, inputs: Any) -> torch.Tensor:
        """``(N, classes)``: the fraction of the k nearest probe inputs of each class."""
        if not hasattr(self, "features_"):
            raise InputError("The probe is not fitted: call probe.fit(encoder, inputs, labels).")
        return self.votes_of(self._features(inputs))

    def votes_of(self, features: torch.Tensor) -> torch.Tensor:
        """:meth:`votes` of inputs whose L2-normalised features (by the fitted encoder) are
        already at hand."""
        sims = features @ self.features_.T
        nearest = sims.topk(self.k, dim=1).indices
        counts = torch.nn.functional.one_hot(self.labels_[nearest], self.classes_).sum(1)
        return counts.float() / self.k

    def predict(self, inputs: Any) -> torch.Tensor:
        return self.votes(inputs).argmax(1)

    def accuracy(self, inputs: Any, labels: torch.Tensor) -> float:
        """Percent of ``inputs`` the probe labels correctly."""
        return accuracy_of(self.votes(inputs), labels)


def accuracy_of(votes: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of rows of ``votes`` whose top class is the label (NaN for no rows)."""
    if len(labels) == 0:
        return float("nan")
    return float((votes.argmax(1) == labels.cpu()).float().mean() * 100)
