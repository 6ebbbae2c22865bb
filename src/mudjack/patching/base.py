"""The interface every patching method (Mudjacking and the baselines) shares."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from mudjack.bug import BugInstance
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.registry import Configurable, Registry
from mudjack.triggers.base import Trigger

PATCHERS: Registry[type[Patcher]] = Registry("patching method", set_name=True)


@dataclass
class PatchResult:
    """A patched encoder and how it was obtained.

    Attributes:
        encoder: the post-patching encoder h' (a new module; the input is untouched).
        steps: optimiser steps taken.
        seconds: wall time of the patch loop.
        history: per-logged-step loss values.
        params: the patcher's record of itself (:meth:`Patcher.provenance`).
    """

    encoder: Encoder
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


class Patcher(Configurable, abc.ABC):
    """Turns an encoder h and a bug instance into a patched encoder h'.

    Subclasses take their hyperparameters as keyword-only ``__init__`` arguments, kept as
    attributes of the same name (:class:`~mudjack.registry.Configurable`), and implement
    :meth:`patch`, which keeps everything it computes in local variables: one patcher may
    patch many encoders, one after another or at once. Register them with
    :func:`register_patcher`.
    """

    name: str = "patcher"
    needs_trigger: bool = False

    def provenance(self) -> dict[str, Any]:
        """The hyperparameters as recorded in :attr:`PatchResult.params` and in a patched
        encoder's folder: JSON values (objects as their ``repr``)."""
        return {
            k: (repr(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
            for k, v in vars(self).items()
            if not k.endswith("_")
        }

    @abc.abstractmethod
    def patch(
        self,
        encoder: Encoder,
        bug: BugInstance,
        val_data: Any,
        trigger: Trigger | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ) -> PatchResult:
        """Return a patched copy of ``encoder`` on ``device`` (the input is neither modified
        nor moved).

        ``val_data`` is the validation set D_val: clean images ``(N, C, H, W)`` for an image
        encoder, a list of clean strings for a text encoder."""

    def _check(
        self, encoder: Encoder, bug: BugInstance, val_data: Any, trigger: Trigger | None
    ) -> Any:
        if not isinstance(encoder, Encoder):
            raise InputError(f"Expected a mudjack Encoder, got {type(encoder).__name__}.")
        bug.check(encoder)
        if (
            isinstance(val_data, (list, tuple))
            or (isinstance(val_data, torch.Tensor) and val_data.dim() == 4)
        ) and len(val_data) == 0:
            kind = "strings" if encoder.modality == "text" else "images"
            raise InputError(
                "Expected a non-empty validation set D_val of clean inputs, got 0 inputs. "
                f"Pass clean unlabelled {kind} from the pre-training distribution."
            )
        val = encoder.check_inputs(val_data, "validation inputs")
        if self.needs_trigger and trigger is None:
            raise InputError(
                f"{type(self).__name__} needs a trigger: reverse-engineer one first "
                "(mudjack.reverse.TriggerReverser) or pass the known trigger."
            )
        return val


def register_patcher(name: str) -> Callable[[type[Patcher]], type[Patcher]]:
    """Class decorator: make a patcher constructible by ``create_patcher(name)``."""
    return PATCHERS.register(name)


def list_patchers() -> list[str]:
    return PATCHERS.names()


def create_patcher(name: str, **kwargs: Any) -> Patcher:
    """Build a registered patcher: ``create_patcher("mudjacking", lambda_l=1.0)``."""
    return PATCHERS.create(name, **kwargs)
