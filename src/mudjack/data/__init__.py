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
from mudjack.data.registry import DATASETS
from mudjack.data.text import (
    TextDataset,
    load_convention,
    load_rotten_tomatoes,
    load_text_file,
    load_wordnet,
)

__all__ = [
    "DATASETS",
    "DOWNSTREAM",
    "ImageDataset",
    "PatchAugment",
    "SimCLRAugment",
    "TextDataset",
    "load_convention",
    "load_downstream",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist5k",
    "load_pretraining",
    "load_rotten_tomatoes",
    "load_text_file",
    "load_wordnet",
    "read_idx",
]
