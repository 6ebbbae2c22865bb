"""Built-in trigger patterns (the paper's Table 11 and Figure 6), drawn here by code, and image
triggers read from a PNG whose alpha channel is the mask.

Each pattern is a ``size``×``size`` tile (its values and its mask) placed in a corner of the
image, ``margin`` pixels from the borders, as :meth:`PatchTrigger.square` does:

* ``white-square``: every pixel 1 (BadEncoder's trigger);
* ``random-square``: seeded uniform random values;
* ``random-triangle``: seeded random values under a right triangle (right angle bottom-left);
* ``logo``: an apple-like glyph (a bitten fruit with a leaf), white;
* ``emoji``: a face (white disc, black eyes and mouth);
* ``checkerboard``: alternating 1 and 0 pixels (the second trigger of the dynamic attack);
* ``spread-out``: two random-valued squares, one at the upper-left corner and one at the
  lower-right (``corner`` is ignored).

``logo`` and ``emoji`` stand for the paper's apple logo and emoji (physical objects); they are
8×8 bitmaps below, resized to ``size`` by nearest neighbour.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mudjack.errors import InputError, ModelLoadError, UnknownNameError
from mudjack.triggers.image import PatchTrigger
from mudjack.utils import make_generator

# '#' = 1 (white), 'o' = 0 (black) inside the mask, '.' = outside the mask.
_BITMAPS = {
    "logo": (
        ".....#..",
        "....#...",
        ".##.##..",
        "######..",
        "#####...",
        "#####...",
        "######..",
        ".##.##..",
    ),
    "emoji": (
        "..####..",
        ".######.",
        "##o##o##",
        "########",
        "########",
        "#o####o#",
        "##oooo##",
        ".######.",
    ),
}
GLYPHS = tuple(_BITMAPS)
PATTERNS = (
    "white-square",
    "random-square",
    "random-triangle",
    "logo",
    "emoji",
    "checkerboard",
    "spread-out",
)


def _bitmap(rows: tuple[str, ...], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    grid = np.array([list(r) for r in rows])
    values = torch.from_numpy((grid == "#").astype(np.float32))
    mask = torch.from_numpy((grid != ".").astype(np.float32))
    both = F.interpolate(torch.stack([values, mask])[None], size=(size, size), mode="nearest")[0]
    return both[0], both[1]


def pattern_tile(name: str, size: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(size, size)`` values and mask of a built-in pattern (not ``spread-out``)."""
    if name in _BITMAPS:
        return _bitmap(_BITMAPS[name], size)
    ones = torch.ones(size, size)
    if name == "white-square":
        return ones, ones
    if name == "checkerboard":
        idx = torch.arange(size)
        return ((idx[:, None] + idx[None, :]) % 2 == 0).float(), ones
    if name in ("random-square", "random-triangle"):
        values = torch.rand(size, size, generator=make_generator(seed))
        if name == "random-square":
            return values, ones
        mask = torch.tril(ones)  # right angle at the bottom-left
        return values * mask, mask
    raise UnknownNameError(
        f"Unknown trigger pattern {name!r}. Expected one of: {', '.join(PATTERNS)}."
    )


def _place(
    canvas: tuple[torch.Tensor, torch.Tensor],
    tile: tuple[torch.Tensor, torch.Tensor],
    top: int,
    left: int,
) -> None:
    values, mask = tile
    size = values.shape[0]
    canvas[0][:, top : top + size, left : left + size] = values
    canvas[1][:, top : top + size, left : left + size] = mask


def pattern_trigger(
    name: str,
    shape: tuple[int, int, int],
    *,
    size: int = 6,
    margin: int = 1,
    corner: str = "bottom-right",
    seed: int = 0,
    random_location: bool = False,
) -> PatchTrigger:
    """A built-in pattern (see the module docstring) of side ``size`` for images of ``shape``
    ``(C, H, W)``; random values are drawn with ``seed``. Every channel gets the same values."""
    c, h, w = shape
    if not 0 < size + margin <= min(h, w) or margin < 0:
        raise InputError(
            f"Expected a pattern of side 1..{min(h, w) - max(margin, 0)} to fit {h}x{w} images "
            f"with margin {margin}, got side {size}. Choose a smaller size or margin."
        )
    canvas = (torch.zeros(1, h, w), torch.zeros(1, h, w))
    bottom, right = h - margin - size, w - margin - size
    if name == "spread-out":
        upper = pattern_tile("random-square", size, seed=seed)
        lower = pattern_tile("random-square", size, seed=seed + 1)
        _place(canvas, upper, margin, margin)
        _place(canvas, lower, bottom, right)
    else:
        top = bottom if "bottom" in corner else margin
        left = right if "right" in corner else margin
        _place(canvas, pattern_tile(name, size, seed=seed), top, left)
    values, mask = canvas
    return PatchTrigger(values.expand(c, h, w) * mask, mask, random_location=random_location)


def trigger_from_png(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    margin: int = 1,
    corner: str = "bottom-right",
    random_location: bool = False,
) -> PatchTrigger:
    """An image trigger from a PNG: its colours are the pattern, its alpha channel the mask
    (a PNG without alpha is opaque: a solid patch). A PNG of the image's size is used as it is;
    a smaller one is placed in ``corner``, ``margin`` pixels from the borders."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise ModelLoadError(
            f"Expected a readable PNG trigger at {str(p)!r}: {exc}. Pass the path of a PNG "
            "image (its alpha channel is the mask)."
        ) from exc
    c, h, w = shape
    ph, pw = rgba.shape[:2]
    full = (ph, pw) == (h, w)  # an image-sized PNG is used where it is
    room = (h, w) if full else (h - margin, w - margin)
    if ph > room[0] or pw > room[1]:
        raise InputError(
            f"Expected a PNG trigger of the image's size {h}x{w}, or at most "
            f"{room[0]}x{room[1]} to fit {margin} pixel(s) from the corner, got {ph}x{pw} "
            f"({str(p)!r}). Resize it or use a smaller --trigger-margin."
        )
    colour = torch.from_numpy(rgba[..., :3]).permute(2, 0, 1)
    values = colour.mean(0, keepdim=True) if c == 1 else colour
    alpha = torch.from_numpy(rgba[..., 3])[None]
    top = 0 if full else (h - margin - ph if "bottom" in corner else margin)
    left = 0 if full else (w - margin - pw if "right" in corner else margin)
    pattern, mask = torch.zeros(c, h, w), torch.zeros(1, h, w)
    pattern[:, top : top + ph, left : left + pw] = values * alpha
    mask[:, top : top + ph, left : left + pw] = alpha
    return PatchTrigger(pattern, mask, random_location=random_location)
