"""mudjack: patch backdoored foundation models (Mudjacking, USENIX Security 2024).

The flat namespace re-exports the public API::

    from mudjack import load_encoder, load_bug, TriggerReverser, Mudjacking

``load_encoder`` takes a zoo name, a mudjack encoder folder or a Hugging Face folder;
``ground_truth`` the trigger and target recorded with a backdoored one.
"""

from mudjack.attacks import BadEncoder, ground_truth
from mudjack.bug import BugInstance, load_bug, select_bug
from mudjack.downstream import DownstreamClient, Metrics, MLPClassifier, extract_features
from mudjack.encoders import (
    Encoder,
    InputSpec,
    TextEncoder,
    create_encoder,
    list_encoders,
    load_encoder,
    save_encoder,
)
from mudjack.errors import (
    DataNotFoundError,
    InputError,
    ModelLoadError,
    MudjackError,
    OutputExistsError,
    UnknownNameError,
)
from mudjack.patching import (
    Mudjacking,
    PatchCheckpoint,
    Patcher,
    PatchResult,
    create_patcher,
    list_patchers,
)
from mudjack.pretrain import SimCLR
from mudjack.reverse import ReverseResult, TriggerReverser
from mudjack.triggers import PatchTrigger, Trigger, load_trigger

__version__ = "0.1.0"

__all__ = [
    "BadEncoder",
    "BugInstance",
    "DataNotFoundError",
    "DownstreamClient",
    "Encoder",
    "InputError",
    "InputSpec",
    "MLPClassifier",
    "Metrics",
    "ModelLoadError",
    "MudjackError",
    "Mudjacking",
    "OutputExistsError",
    "PatchCheckpoint",
    "PatchResult",
    "PatchTrigger",
    "Patcher",
    "ReverseResult",
    "SimCLR",
    "TextEncoder",
    "Trigger",
    "TriggerReverser",
    "UnknownNameError",
    "create_encoder",
    "create_patcher",
    "extract_features",
    "ground_truth",
    "list_encoders",
    "list_patchers",
    "load_bug",
    "load_encoder",
    "load_trigger",
    "save_encoder",
    "select_bug",
]
