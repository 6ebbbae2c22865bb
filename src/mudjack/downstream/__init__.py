"""The client side: classifiers on frozen features, the paper's metrics, and the client-side
patching baselines (section 5.3)."""

from mudjack.downstream.baselines import (
    CLIENT_PATCHERS,
    AILancet,
    Beagle,
    ClientFineTune,
    ClientFineTuneTrain,
    ClientPatcher,
    ClientPatchResult,
    create_client_patcher,
    list_client_patchers,
)
from mudjack.downstream.client import (
    MLP,
    DownstreamClient,
    Metrics,
    MLPClassifier,
    extract_features,
    triggered_non_target,
)

__all__ = [
    "CLIENT_PATCHERS",
    "MLP",
    "AILancet",
    "Beagle",
    "ClientFineTune",
    "ClientFineTuneTrain",
    "ClientPatchResult",
    "ClientPatcher",
    "DownstreamClient",
    "MLPClassifier",
    "Metrics",
    "create_client_patcher",
    "extract_features",
    "list_client_patchers",
    "triggered_non_target",
]
