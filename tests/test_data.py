import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from mudjack.data import (
    PatchAugment,
    SimCLRAugment,
    load_downstream,
    load_fashion_mnist,
    load_image_folder,
    read_idx,
)
from mudjack.errors import DataNotFoundError, InputError


def _write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x-images.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "x-images.gz"), arr)


def test_fashion_mnist_from_a_given_root(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    data = load_fashion_mnist("test", root=tmp_path)
    assert data.images.shape == (5, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.labels.tolist() == [0, 1, 2, 3, 4]


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(DataNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)


def test_npz_and_class_folders(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6))
    d = load_image_folder(tmp_path / "d.npz")
    assert d.images.shape == (6, 1, 8, 8) and torch.equal(d.labels, torch.arange(6))
    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(x[i]).save(tmp_path / "imgs" / label / f"{i}.png")
    d = load_image_folder(tmp_path / "imgs")
    assert d.classes == ("a", "b") and d.labels.tolist() == [0, 0, 1, 1]
    assert torch.allclose(d.images[0, 0], torch.from_numpy(x[0]).float() / 255)


def test_bad_data_paths(tmp_path):
    with pytest.raises(DataNotFoundError, match="nothing is there"):
        load_image_folder(tmp_path / "nothing")
    np.savez(tmp_path / "d.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="Expected arrays 'x'"):
        load_image_folder(tmp_path / "d.npz")
    with pytest.raises(InputError, match="Unknown downstream data set 'cifar99'"):
        load_downstream("cifar99")


@pytest.mark.parametrize("aug", [PatchAugment(), SimCLRAugment()])
@pytest.mark.parametrize("channels", [1, 3])
def test_augmentations_stay_in_range_and_are_seeded(aug, channels):
    x = torch.rand(16, channels, 12, 12)
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
