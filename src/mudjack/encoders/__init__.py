"""Encoders: one contract, a registry and a folder format."""

from mudjack.encoders.base import Encoder, InputSpec, check_images, check_texts
from mudjack.encoders.io import load_encoder, read_config, save_encoder
from mudjack.encoders.registry import create_encoder, list_encoders, register_encoder
from mudjack.encoders.resnet import ResNet18, TinyCNN
from mudjack.encoders.text import HFTextEncoder, TruncationWarning, load_text_encoder

__all__ = [
    "Encoder",
    "HFTextEncoder",
    "InputSpec",
    "ResNet18",
    "TinyCNN",
    "TruncationWarning",
    "check_images",
    "check_texts",
    "create_encoder",
    "list_encoders",
    "load_encoder",
    "load_text_encoder",
    "read_config",
    "register_encoder",
    "save_encoder",
]
