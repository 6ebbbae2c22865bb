"""Named, config-driven experiments that map to the paper's tables."""

from mudjack.experiments.run import (
    SETTINGS,
    Setting,
    encoder_folder,
    get_setting,
    ground_truth,
    resolve_encoder,
    run_setting,
)

__all__ = [
    "SETTINGS",
    "Setting",
    "encoder_folder",
    "get_setting",
    "ground_truth",
    "resolve_encoder",
    "run_setting",
]
