"""What the contrastive pre-trainers (SimCLR, CLIP) share: their schedule checks, their view
generator and what they record about themselves."""

from __future__ import annotations

import math

from mudjack.data.augment import SimCLRAugment
from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.utils import check_range, check_schedule


class ViewTrainer(Configurable):
    """Base of a trainer that draws augmented views of images at every step.

    Subclasses set ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``augment`` and
    ``max_steps`` as attributes (checked by :meth:`_check_schedule`) and say which views they
    draw when ``augment`` is ``None`` (:meth:`default_augment`).
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: SimCLRAugment | None
    max_steps: int | None

    def default_augment(self) -> SimCLRAugment:
        """The view generator used when ``augment`` is ``None``."""
        return SimCLRAugment()

    def _augment(self) -> SimCLRAugment:
        return self.default_augment() if self.augment is None else self.augment

    def _check_schedule(self) -> None:
        """Raise :class:`InputError` on a schedule that cannot train (zero, negative or not
        finite)."""
        check_schedule(self.epochs, self.batch_size, self.lr, min_batch=2)
        check_range(self.weight_decay, "weight_decay", 0.0, 1.0)
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(
                f"Expected max_steps >= 1 or None, got {self.max_steps}. Leave it out to run "
                "every epoch."
            )

    def _total_steps(self, n: int) -> tuple[int, int, int]:
        """``(batch size, steps per epoch, total steps)`` for ``n`` training items."""
        bs = min(self.batch_size, n)
        steps = n // bs
        total = self.epochs * steps
        return bs, steps, total if self.max_steps is None else min(total, self.max_steps)

    def provenance(self) -> dict[str, object]:
        """The hyperparameters as recorded with a pre-trained model (the views as a ``repr``)."""
        return {
            k: (repr(self._augment()) if k == "augment" else v)
            for k, v in vars(self).items()
            if not k.endswith("_")
        }


def check_temperature(value: float) -> float:
    """Raise :class:`InputError` unless ``value`` is a finite temperature > 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (math.isfinite(value) and value > 0):
        raise InputError(
            f"Expected a finite temperature > 0, got {value!r}. SimCLR uses 0.5 on CIFAR-10."
        )
    return value
