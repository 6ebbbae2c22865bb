"""Named, config-driven experiments that map to the paper's tables."""

from mudjack.experiments.vision import (
    SETTINGS,
    VisionSetting,
    get_setting,
    ground_truth,
    resolve_encoder,
    run_vision,
)

__all__ = [
    "SETTINGS",
    "VisionSetting",
    "get_setting",
    "ground_truth",
    "resolve_encoder",
    "run_vision",
]
