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
    load_pretraining,
    read_idx,
)
from mudjack.data.mix import mix
from mudjack.data.text import TextDataset
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


def _npz_cases(tmp_path):
    """Bad .npz files a user may hand over, each with the message that must name it."""
    import pickle

    np.savez(tmp_path / "object.npz", x=np.array([None, 1], dtype=object), y=np.arange(2))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive")
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps({"x": 1}))
    np.savez(tmp_path / "ok.npz", x=np.zeros((5, 8, 8), np.uint8), y=np.arange(5))
    whole = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    np.savez(tmp_path / "text.npz", x=np.full((5, 8, 8), "a"), y=np.arange(5))
    np.savez(tmp_path / "nan.npz", x=np.full((5, 8, 8), np.nan), y=np.arange(5))
    np.savez(tmp_path / "fraction.npz", x=np.zeros((5, 8, 8)), y=np.array([0, 1.5, 2, 3, 4]))
    np.savez(tmp_path / "negative.npz", x=np.zeros((5, 8, 8)), y=np.array([0, -1, 2, 3, 4]))
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8)), y=np.zeros(0))
    return {
        "object": "holding pickled or object data, which mudjack does not load",
        "garbage": "holding pickled or object data",
        "pickled": "holding pickled or object data",
        "truncated": r"got a corrupt or truncated file \(File is not a zip file\)",
        "single": r"got a single array of shape \(3,\)",
        "text": "Expected images as a numeric array .* got dtype <U1",
        "nan": "Expected finite pixel values, got 320 NaN or infinite values",
        "fraction": "Expected class labels as whole numbers .* got fractional",
        "negative": "Expected class labels as whole numbers .* got values from -1 to 4",
        "empty": "Expected at least one image",
    }


def test_bad_npz_files_are_input_errors(tmp_path):
    for name, message in _npz_cases(tmp_path).items():
        with pytest.raises(InputError, match=message):
            load_image_folder(tmp_path / f"{name}.npz")
    with pytest.raises(InputError, match=r"numpy\.savez"):
        load_image_folder(tmp_path / "pickled.npz")


def test_corrupt_idx_files(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a-images.gz", arr)
    with gzip.open(tmp_path / "a-images.gz") as fh:
        data = fh.read()
    (tmp_path / "short").write_bytes(data[:-5])
    with pytest.raises(InputError, match=r"Expected 40 bytes in the IDX file .* got 35"):
        read_idx(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(InputError, match="corrupt or truncated"):
        read_idx(tmp_path / "broken.gz")
    with pytest.raises(DataNotFoundError, match="nothing is there"):
        read_idx(tmp_path / "missing")


def test_downstream_paths_and_sizes(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"missing\.npz'; nothing is there"):
        load_downstream(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "one.npz", x=np.zeros((1, 8, 8), np.uint8), y=np.zeros(1))
    with pytest.raises(InputError, match=r"at least 2 examples .* got 1"):
        load_downstream(str(tmp_path / "one.npz"))


def test_bad_text_files(tmp_path):
    from mudjack.data import load_text_file

    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9 au lait,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="Expected a UTF-8 CSV/TSV text file"):
        load_text_file(tmp_path / "latin1.csv")
    (tmp_path / "negative.csv").write_text("text,label\ngood film,1\nbad film,-1\n")
    with pytest.raises(InputError, match=r"Expected class labels 0, 1, 2, .* got -1"):
        load_text_file(tmp_path / "negative.csv")
    (tmp_path / "blank.csv").write_text("text,label\n ,1\n")
    with pytest.raises(InputError, match="Expected rows with a non-empty text"):
        load_text_file(tmp_path / "blank.csv")
    (tmp_path / "short_row.csv").write_text("text,label\ngood film,1\nbad film\n")
    with pytest.raises(InputError, match=r"a label in every row .* for the text 'bad film'"):
        load_text_file(tmp_path / "short_row.csv")


def test_a_mixture_takes_equal_shares_of_its_parts(tmp_path):
    small = np.full((3, 28, 28), 255, dtype=np.uint8)
    big = np.zeros((5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "small.npz", x=small, y=np.arange(3))
    np.savez(tmp_path / "big.npz", x=big, y=np.arange(5))
    name = f"{tmp_path / 'big.npz'}+{tmp_path / 'small.npz'}"
    d = load_pretraining(name)
    assert len(d) == 6 and d.labels.tolist() == [0, 0, 0, 1, 1, 1]  # the part each came from
    assert d.images[:3].max() == 0 and d.images[3:].min() == 1  # the first 3 of each part
    assert d.name == name and len(d.classes) == 2
    digits = load_pretraining("sklearn_digits")
    assert torch.equal(load_pretraining(f"sklearn_digits+{tmp_path / 'small.npz'}").images[:3],
                       digits.images[:3])  # fmt: skip


def test_bad_mixtures_say_what_to_mix(tmp_path):
    np.savez(tmp_path / "rgb.npz", x=np.zeros((2, 28, 28, 3), np.uint8), y=np.arange(2))
    with pytest.raises(InputError, match="empty part"):
        load_pretraining("sklearn_digits+")
    with pytest.raises(InputError, match="one shape"):
        load_pretraining(f"sklearn_digits+{tmp_path / 'rgb.npz'}")
    with pytest.raises(InputError, match="one kind of input"):
        mix([load_pretraining("sklearn_digits"), TextDataset(["a"], torch.zeros(1))], ["i", "t"])
