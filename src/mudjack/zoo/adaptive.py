"""The backdoored encoders of the paper's adaptive attacks (section 5.4, section 6, Appendix A):
BadEncoder copies of ``fmnist-simclr-r18w16`` with other triggers, and the source-specific
extension. All are built on first use into the cache (a few minutes each on 2 cores).

Each entry: name -> (description, trigger spec, recipe changes, ground-truth extras). The
trigger spec is part of the recipe, so a changed trigger gets a new cache folder.
"""

from __future__ import annotations

from typing import Any

from mudjack.triggers.spec import builtin_trigger_spec

# Table 11 (the white square is the shipped fmnist-badencoder-r18w16).
_PATTERN_NAMES = {
    "random-square": "a 6x6 square of random values (seed 0) at the bottom-right",
    "random-triangle": "a right triangle of side 6 with random values (seed 0) at the bottom-right",
    "logo": "an 8x8 apple-like glyph (white) at the bottom-right",
    "emoji": "an 8x8 face (white disc, black eyes and mouth) at the bottom-right",
    "spread-out": "two 6x6 random-valued squares, at the upper-left and the bottom-right",
}
# Figure 6: the white square at other sides (6 is the shipped model).
TRIGGER_SIZES = (3, 6, 9, 12)
# Figure 7: the source-specific attack's α1 (0.8, the paper's choice, is Table 13's model).
SOURCE_ALPHAS = (0.2, 0.5, 0.8, 1.0)
SOURCE_CLASS = 7  # Sneaker: far from the target (T-shirt/top), so a hit is the backdoor's

# The source-specific attack's shadow set is the labelled downstream training set (Appendix
# A): 5,000 images, so 6 epochs give about the steps of the 3 epochs over 10,000 of the others.
_SOURCE_RECIPE = {"method": "badencoder-source", "shadow": "downstream", "epochs": 6}


def _white(size: int, **kw: Any) -> dict[str, Any]:
    return builtin_trigger_spec("white-square", size=size, **kw)


def adaptive_models() -> dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """The adaptive attacks' encoders, by zoo name."""
    out: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
    for pattern, what in _PATTERN_NAMES.items():
        out[f"fmnist-badencoder-{pattern}-r18w16"] = (
            f"BadEncoder copy of fmnist-simclr-r18w16 whose trigger is {what} (Table 11).",
            builtin_trigger_spec(pattern),
            {},
            {},
        )
    for size in TRIGGER_SIZES:
        if size != 6:
            out[f"fmnist-badencoder-size{size}-r18w16"] = (
                f"BadEncoder copy of fmnist-simclr-r18w16 with a white {size}x{size} square at "
                "the bottom-right (Figure 6).",
                _white(size),
                {},
                {},
            )
    out["fmnist-badencoder-rl-r18w16"] = (
        "BadEncoder copy of fmnist-simclr-r18w16 whose white 6x6 square is pasted at a random "
        "location of every input, at attack and at test time (Table 12).",
        _white(6, random_location=True),
        {},
        {},
    )
    out["fmnist-badencoder-dynamic-r18w16"] = (
        "Dynamic BadEncoder copy of fmnist-simclr-r18w16: every input gets one of two 6x6 "
        "triggers (a white square, t1, or a checkerboard, t2) at a random location (Table 14).",
        builtin_trigger_spec("dynamic"),
        {},
        {},
    )
    out["fmnist-badencoder-latent-r18w16"] = (
        "Latent-space BadEncoder copy of fmnist-simclr-r18w16: the trigger is a whole-image "
        "random-sign perturbation of l-inf norm 0.01 (Table 15).",
        builtin_trigger_spec("latent"),
        {},
        {},
    )
    for alpha in SOURCE_ALPHAS:
        tag = "" if alpha == 0.8 else f"-a{round(alpha * 100)}"
        out[f"fmnist-badencoder-source{tag}-r18w16"] = (
            "Source-specific BadEncoder copy of fmnist-simclr-r18w16: the white 6x6 square "
            f"sends Sneakers (class {SOURCE_CLASS}) to class 0 and should leave other classes "
            f"alone; alpha1 = {alpha} (Table 13, Figure 7).",
            _white(6),
            {**_SOURCE_RECIPE, "source": SOURCE_CLASS, "alpha1": alpha},
            {"source": SOURCE_CLASS},
        )
    return out
