"""Encoders: one contract, a registry and a folder format."""

from mudjack.encoders.base import Encoder, InputSpec, check_images
from mudjack.encoders.io import load_encoder, read_config, save_encoder
from mudjack.encoders.registry import create_encoder, list_encoders, register_encoder
from mudjack.encoders.resnet import ResNet18, TinyCNN

__all__ = [
    "Encoder",
    "InputSpec",
    "ResNet18",
    "TinyCNN",
    "check_images",
    "create_encoder",
    "list_encoders",
    "load_encoder",
    "read_config",
    "register_encoder",
    "save_encoder",
]
