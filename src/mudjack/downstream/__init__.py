"""The client side: classifiers on frozen features and the paper's metrics."""

from mudjack.downstream.client import (
    MLP,
    DownstreamClient,
    Metrics,
    MLPClassifier,
    extract_features,
    triggered_non_target,
)

__all__ = [
    "MLP",
    "DownstreamClient",
    "MLPClassifier",
    "Metrics",
    "extract_features",
    "triggered_non_target",
]
