"""How `reverse` and `patch` reverse-engineer a trigger: attribution + K-means
(:class:`~mudjack.reverse.TriggerReverser`), or, with ``--method inversion``, trigger inversion
over clean validation images (:class:`~mudjack.reverse.InversionReverser`)."""

from __future__ import annotations

import argparse
from typing import Any

from mudjack.cli._common import nonnegative_float, positive_float, positive_int
from mudjack.errors import InputError, UnknownNameError
from mudjack.reverse import METHODS, TEXT_METHODS, InversionReverser, ReverseResult, TriggerReverser

INVERSION = "inversion"
_DEFAULTS = InversionReverser()


def method_help() -> str:
    """The --method help: every attribution method, and inversion."""
    others = ", ".join(m for m in METHODS if m != "occlusion")
    return (
        f"occlusion (default); images: {others}, or {INVERSION} (optimise a trigger over clean "
        f"validation images: for whole-image perturbation triggers); text: "
        f"{', '.join(m for m in TEXT_METHODS if m != 'occlusion')}"
    )


def add_inversion(p: argparse.ArgumentParser) -> None:
    """The options of --method inversion."""
    g = p.add_argument_group(f"trigger inversion (--method {INVERSION}, images only)")
    g.add_argument(
        "--inversion-mode",
        choices=["perturbation", "patch"],
        default=_DEFAULTS.mode,
        help="perturbation: a whole-image delta bounded by --epsilon (default); patch: a mask "
        "and a pattern (Neural Cleanse)",
    )
    g.add_argument(
        "--epsilon",
        type=positive_float,
        default=_DEFAULTS.epsilon,
        help=f"the L-inf bound of the perturbation, in (0, 1] pixel units (default: "
        f"{_DEFAULTS.epsilon:g}, the paper's latent-space trigger); give an upper guess of the "
        "attacker's",
    )
    g.add_argument(
        "--inversion-steps",
        type=positive_int,
        default=_DEFAULTS.steps,
        help=f"Adam steps of {_DEFAULTS.batch_size} clean images (default: {_DEFAULTS.steps})",
    )
    g.add_argument(
        "--l1",
        type=nonnegative_float,
        default=_DEFAULTS.l1,
        help=f"patch mode: weight of the mask's size (default: {_DEFAULTS.l1:g})",
    )


def check_method(method: str) -> None:
    """Refuse an unknown --method before any model or data is loaded."""
    if method not in (*METHODS, *TEXT_METHODS, INVERSION):
        raise UnknownNameError(
            f"Unknown reverse-engineering method {method!r}. Expected one of: images "
            f"{', '.join(METHODS)} or {INVERSION}; text {', '.join(TEXT_METHODS)}."
        )


def describe(a: argparse.Namespace) -> str:
    """The method and, for inversion, its settings, as provenance records them."""
    if a.method != INVERSION:
        return a.method
    size = f"epsilon {a.epsilon:g}" if a.inversion_mode == "perturbation" else f"l1 {a.l1:g}"
    return f"{INVERSION}: {a.inversion_mode}, {size}, {a.inversion_steps} steps"


def reverse_trigger(a: argparse.Namespace, enc: Any, bug: Any, val: Any) -> ReverseResult:
    """The trigger of ``bug`` by ``a.method``; ``val`` (clean inputs) is used by inversion."""
    if a.method != INVERSION:
        # `reverse` has --window and --occlude; `patch` takes the reverser's defaults
        kw = {k: getattr(a, k) for k in ("window", "occlude") if hasattr(a, k)}
        rev = TriggerReverser(method=a.method, **kw)
        return rev.reverse(enc, bug, seed=a.seed, device=a.device)
    if enc.modality != "image":
        raise InputError(
            f"Expected an image encoder for --method {INVERSION}, got a {enc.modality} "
            "encoder. Use occlusion or gradient for text."
        )
    inverter = InversionReverser(
        mode=a.inversion_mode, epsilon=a.epsilon, steps=a.inversion_steps, l1=a.l1
    )
    return inverter.reverse(enc, bug, data=val, seed=a.seed, device=a.device)
