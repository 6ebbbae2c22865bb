"""Shipped default models: recipes, paths and recorded hashes.

Each model is a folder under this package (``mudjack.json`` + ``model.safetensors``), rebuilt
by ``mudjack zoo build NAME`` from its recipe below with its seed. ``MANIFEST.json`` records
each weights file's SHA-256; a test checks the shipped files against it.
"""

from mudjack.zoo.models import (
    ZOO,
    ZooModel,
    build_zoo_model,
    load_zoo_encoder,
    manifest,
    zoo_path,
)

__all__ = ["ZOO", "ZooModel", "build_zoo_model", "load_zoo_encoder", "manifest", "zoo_path"]
