"""Shared fixtures: tiny encoders and synthetic / small real data (seconds, not minutes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mudjack.data import ImageDataset
from mudjack.encoders import create_encoder


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits as an ImageDataset in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    return ImageDataset(x, torch.from_numpy(d.target.astype(np.int64)), name="digits")


@pytest.fixture
def tiny_encoder():
    torch.manual_seed(0)
    return create_encoder("tiny_cnn", width=8, in_channels=1, image_size=8, embed_dim=16).eval()


@pytest.fixture
def random_images():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 8, 8, generator=gen)
