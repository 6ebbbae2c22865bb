"""The paper's experiments as data, and the one engine that runs them.

- :mod:`~mudjack.experiments.settings`: named settings (CPU scale; ``Setting.paper()``).
- :mod:`~mudjack.experiments.spec` and ``specs/*.toml``: experiments (tables, figures).
- :mod:`~mudjack.experiments.engine`: :func:`run_experiment` for any spec.
- :mod:`~mudjack.experiments.config`: experiments and run options from a file.
"""

from mudjack.experiments.cache import RunCache
from mudjack.experiments.config import Config, load_config
from mudjack.experiments.engine import RunOptions, run_experiment
from mudjack.experiments.settings import SETTINGS, Setting, get_setting, resolve_setting
from mudjack.experiments.spec import (
    EXPERIMENTS,
    Arm,
    Experiment,
    PaperRow,
    Part,
    demo_experiment,
    get_experiment,
    list_experiments,
)

__all__ = [
    "EXPERIMENTS",
    "SETTINGS",
    "Arm",
    "Config",
    "Experiment",
    "PaperRow",
    "Part",
    "RunCache",
    "RunOptions",
    "Setting",
    "demo_experiment",
    "get_experiment",
    "get_setting",
    "list_experiments",
    "load_config",
    "resolve_setting",
    "run_experiment",
]
