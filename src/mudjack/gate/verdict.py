"""What a gate check returns: each number, the threshold it was held to, and the verdict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One check of a bug report or a patch.

    Attributes:
        name: e.g. ``"reference_class"``.
        value: the measured number (NaN when it could not be measured: the check fails).
        threshold: the number it was held to.
        at_least: pass when ``value >= threshold`` (True) or ``value <= threshold`` (False).
        what: one line saying what the number is.
    """

    name: str
    value: float
    threshold: float
    at_least: bool
    what: str

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.threshold if self.at_least else self.value <= self.threshold

    def line(self) -> str:
        op = ">=" if self.at_least else "<="
        mark = "pass" if self.passed else "FAIL"
        return (
            f"{mark}  {self.name}: {self.value:.4g} (needs {op} {self.threshold:g}) - {self.what}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class Verdict:
    """The checks of one stage (``"intake"`` or ``"release"``) and whether all passed."""

    stage: str
    checks: list[Check]
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def summary(self) -> str:
        head = f"{self.stage}: {'ACCEPTED' if self.accepted else 'REFUSED'}"
        return "\n".join([head, *(f"  {c.line()}" for c in self.checks)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "verdict": "accepted" if self.accepted else "refused",
            "failed": self.failed,
            "checks": [c.to_dict() for c in self.checks],
            **({"notes": self.notes} if self.notes else {}),
        }
