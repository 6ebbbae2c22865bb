"""Named, config-driven experiments that map to the paper's tables."""

# encoder_folder, ground_truth and resolve_encoder are the old names of
# mudjack.encoders.encoder_folder, mudjack.attacks.ground_truth and mudjack.encoders.load_encoder,
# re-exported until every caller imports them from there.
from mudjack.attacks import ground_truth
from mudjack.encoders import encoder_folder
from mudjack.encoders import load_encoder as resolve_encoder
from mudjack.experiments.run import SETTINGS, Setting, get_setting, run_setting

__all__ = [
    "SETTINGS",
    "Setting",
    "encoder_folder",
    "get_setting",
    "ground_truth",
    "resolve_encoder",
    "run_setting",
]
