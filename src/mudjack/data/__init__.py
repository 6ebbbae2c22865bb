"""Offline data loaders and batched augmentations."""

from mudjack.data.augment import PatchAugment, SimCLRAugment
from mudjack.data.images import (
    DOWNSTREAM,
    ImageDataset,
    load_downstream,
    load_fashion_mnist,
    load_image_folder,
    load_mnist5k,
    load_pretraining,
    read_idx,
)

__all__ = [
    "DOWNSTREAM",
    "ImageDataset",
    "PatchAugment",
    "SimCLRAugment",
    "load_downstream",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist5k",
    "load_pretraining",
    "read_idx",
]
