"""Triggers as small dicts (``{"kind": "pattern", "name": "emoji", "size": 8}``): what a
backdoored encoder records as its ground truth and what a zoo recipe attacks with."""

from __future__ import annotations

from typing import Any

from mudjack.errors import InputError
from mudjack.triggers.base import Trigger
from mudjack.triggers.dynamic import DynamicTrigger
from mudjack.triggers.image import PatchTrigger
from mudjack.triggers.patterns import GLYPHS, PATTERNS, pattern_trigger
from mudjack.triggers.perturbation import PerturbationTrigger

# The built-in triggers `--trigger NAME` takes: the patterns, the paper's latent-space
# perturbation (ℓ∞ 0.01) and the dynamic pair (white square, checkerboard).
BUILTIN_TRIGGERS = (*PATTERNS, "latent", "dynamic")
SPEC_KINDS = ("patch", "pattern", "dynamic", "perturbation")


def builtin_trigger_spec(
    name: str,
    *,
    size: int | None = None,
    margin: int = 1,
    seed: int = 0,
    random_location: bool = False,
    epsilon: float = 0.01,
) -> dict[str, Any]:
    """The spec of a built-in trigger (one of :data:`BUILTIN_TRIGGERS`). ``size``: the side
    of each square or glyph (default: 6, about 1/5 of a 28x28 image; 8 for the glyphs ``logo``
    and ``emoji``, drawn on an 8x8 grid)."""
    if name == "latent":
        return {"kind": "perturbation", "epsilon": epsilon, "seed": seed}
    if name == "dynamic":
        parts = [
            builtin_trigger_spec(p, size=size, margin=margin, seed=seed)
            for p in ("white-square", "checkerboard")
        ]
        return {"kind": "dynamic", "triggers": parts}
    if size is None:
        size = 8 if name in GLYPHS else 6
    if name not in PATTERNS:
        raise InputError(
            f"Unknown built-in trigger {name!r}. Expected one of: {', '.join(BUILTIN_TRIGGERS)}, "
            "or the path of a .png or .safetensors trigger file."
        )
    spec: dict[str, Any] = {"kind": "pattern", "name": name, "size": size, "margin": margin}
    if name.startswith("random") or name == "spread-out":
        spec["seed"] = seed
    if random_location:
        spec["random_location"] = True
    return spec


def trigger_from_spec(spec: dict[str, Any], shape: tuple[int, int, int]) -> Trigger:
    """Build the trigger a spec describes, for images of ``shape`` ``(C, H, W)``."""
    rest = dict(spec)
    kind = rest.pop("kind", None)
    try:
        if kind == "patch":
            return PatchTrigger.square(shape, **rest)
        if kind == "pattern":
            return pattern_trigger(rest.pop("name"), shape, **rest)
        if kind == "dynamic":
            parts = [trigger_from_spec(s, shape) for s in rest["triggers"]]
            return DynamicTrigger(parts)  # type: ignore[arg-type]
        if kind == "perturbation":
            return PerturbationTrigger.random_sign(shape, **rest)
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"Expected a complete {kind} trigger spec, got {spec!r} (missing or unexpected "
            f"field: {exc}). See mudjack.triggers.builtin_trigger_spec for complete ones."
        ) from exc
    raise InputError(
        f"Unknown trigger spec kind {kind!r} in {spec!r}. Expected one of: {', '.join(SPEC_KINDS)}."
    )
