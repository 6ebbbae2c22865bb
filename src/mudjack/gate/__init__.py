"""The provider's acceptance gate (beyond the paper): :class:`Intake` checks a bug report
before patching, :class:`Release` checks a patched encoder before it is served. Each returns a
:class:`Verdict` of :class:`Check` s, every number with the threshold it was held to."""

from mudjack.gate.intake import (
    Intake,
    occluded,
    occlusion_gain,
    trigger_fraction,
    trigger_transfer,
)
from mudjack.gate.probe import KnnProbe
from mudjack.gate.release import ProbeData, Release
from mudjack.gate.verdict import Check, Verdict

__all__ = [
    "Check",
    "Intake",
    "KnnProbe",
    "ProbeData",
    "Release",
    "Verdict",
    "occluded",
    "occlusion_gain",
    "trigger_fraction",
    "trigger_transfer",
]
