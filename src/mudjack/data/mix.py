"""Equal mixtures of pre-training sets, named ``a+b``: a more varied D_val than one set.

The provider's validation set holds the encoder's features in place only on inputs like its
own (the locality loss). A client whose data lie elsewhere loses accuracy. A mixture of the
sets a provider has covers more of the input space; ``fashion_mnist+sklearn_digits`` is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mudjack.errors import InputError

SEPARATOR = "+"


def split_mixture(name: str) -> list[str]:
    """The parts of a mixture's name (``"a+b"`` -> ``["a", "b"]``), each checked non-empty."""
    parts = [p.strip() for p in name.split(SEPARATOR)]
    if len(parts) < 2 or not all(parts):
        raise InputError(
            f"Expected a mixture of data sets as 'a+b' (two or more names or paths joined by "
            f"'+'), got {name!r}. Remove the empty part, e.g. 'fashion_mnist+sklearn_digits'."
        )
    return parts


def mix(parts: Sequence[Any], names: Sequence[str]) -> Any:
    """One data set of equal shares: the first ``n`` inputs of every part, ``n`` the smallest
    part's size (no random choice: a later draw samples the mixture with its own seed).
    Each input's label is the index of the part it came from."""
    kinds = {type(p).__name__ for p in parts}
    if len(kinds) > 1:
        raise InputError(
            f"Expected a mixture of one kind of input, got {', '.join(sorted(kinds))} from "
            f"{' + '.join(names)}. Mix image sets with image sets and text with text."
        )
    n = min(len(p) for p in parts)
    if n == 0:
        raise InputError(
            f"Expected every part of the mixture {' + '.join(names)} to hold inputs, got an "
            "empty one. Drop it from the mixture."
        )
    labels = torch.arange(len(parts)).repeat_interleave(n)
    name = SEPARATOR.join(names)
    first = parts[0]
    if hasattr(first, "images"):
        shapes = {tuple(p.images.shape[1:]) for p in parts}
        if len(shapes) > 1:
            raise InputError(
                f"Expected the images of a mixture to share one shape (C, H, W), got "
                f"{sorted(shapes)} from {' + '.join(names)}. Resize them to one size first."
            )
        images = torch.cat([p.images[:n] for p in parts])
        return type(first)(images, labels, tuple(names), name)
    texts = [t for p in parts for t in p.texts[:n]]
    return type(first)(texts, labels, tuple(names), name)
