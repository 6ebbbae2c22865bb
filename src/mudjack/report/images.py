"""PNG figures of a bug instance and its reverse-engineered trigger (Pillow only)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mudjack.utils import ensure_new_path


def heat(scores: np.ndarray) -> np.ndarray:
    """Map scores to RGB with a black-red-yellow-white ramp."""
    lo, hi = float(scores.min()), float(scores.max())
    t = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
    r = np.clip(3 * t, 0, 1)
    g = np.clip(3 * t - 1, 0, 1)
    b = np.clip(3 * t - 2, 0, 1)
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)


def image_array(x: torch.Tensor) -> np.ndarray:
    arr = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, 0)
    return arr.transpose(1, 2, 0)


def scaled(arr: np.ndarray, scale: int) -> Image.Image:
    """An RGB array as a Pillow image, each pixel a ``scale`` x ``scale`` block."""
    im = Image.fromarray(arr)
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def _save(arr: np.ndarray, path: Path, scale: int) -> None:
    ensure_new_path(path, "figure")
    scaled(arr, scale).save(path)


def mask_overlay(recovered: torch.Tensor, true: torch.Tensor | None, shape: tuple) -> np.ndarray:
    """The recovered mask (white = also true, red = recovered only, blue = true only), with
    the true mask beside it when known."""
    rec = recovered.reshape(shape).numpy() > 0.5
    tru = true.reshape(shape).numpy() > 0.5 if true is not None else rec
    overlay = np.zeros((*rec.shape, 3), np.uint8)
    overlay[rec & tru] = (255, 255, 255)
    overlay[rec & ~tru] = (230, 40, 40)
    overlay[~rec & tru] = (40, 90, 230)
    panels = [overlay]
    if true is not None:
        sep = np.full((rec.shape[0], 1, 3), 128, np.uint8)
        panels += [sep, np.repeat((tru * 255).astype(np.uint8)[..., None], 3, -1)]
    return np.concatenate(panels, 1)


def save_bug_figures(
    out_dir: str | os.PathLike[str],
    x_b: torch.Tensor,
    x_r: torch.Tensor,
    scores: torch.Tensor,
    recovered_mask: torch.Tensor,
    true_mask: torch.Tensor | None = None,
    *,
    prefix: str = "",
    scale: int = 8,
) -> list[Path]:
    """Write x_b, x_r, the heatmap of the clustered attribution values and the recovered mask.

    The mask figure is recovered | true side by side; in the recovered panel, white = both,
    red = recovered only, blue = true only.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / f"{prefix}x_b.png",
        out / f"{prefix}x_r.png",
        out / f"{prefix}heatmap.png",
        out / f"{prefix}mask.png",
    ]
    _save(image_array(x_b), paths[0], scale)
    _save(image_array(x_r), paths[1], scale)
    _save(heat(scores.numpy()), paths[2], scale)
    _save(mask_overlay(recovered_mask, true_mask, tuple(scores.shape)), paths[3], scale)
    return paths
