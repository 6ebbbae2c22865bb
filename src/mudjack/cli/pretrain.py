"""`mudjack pretrain simclr`: pre-train a clean image encoder."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mudjack.cli._common import add_common, positive_float, positive_int
from mudjack.data import ImageDataset, load_pretraining
from mudjack.encoders import create_encoder, save_encoder
from mudjack.errors import InputError
from mudjack.pretrain import SimCLR
from mudjack.utils import ensure_new_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train a clean encoder")
    p.add_argument("algorithm", choices=["simclr"])
    p.add_argument("--data", default="fashion_mnist", help="images: fashion_mnist or a path")
    p.add_argument("--width", type=positive_int, default=64, help="ResNet-18 width (paper: 64)")
    p.add_argument("--epochs", type=positive_int, default=1000, help="epochs (default: 1000)")
    p.add_argument("--batch-size", type=_simclr_batch, default=256)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--temperature", type=positive_float, default=0.5)
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    add_common(p)


def _simclr_batch(text: str) -> int:
    """SimCLR contrasts each input with the others of its batch: at least 2."""
    n = positive_int(text)
    if n < 2:
        raise argparse.ArgumentTypeError(
            f"Expected a batch size >= 2 (SimCLR contrasts the inputs of a batch), got {text!r}. "
            "Pass e.g. 256."
        )
    return n


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "encoder folder")
    data = load_pretraining(a.data)
    if not isinstance(data, ImageDataset):
        raise InputError(
            f"Expected image data for SimCLR, got the text data {a.data!r}. Pass --data "
            "fashion_mnist or the path of image data (.npz, IDX or class folders)."
        )
    c, h, _ = data.images.shape[1:]
    torch.manual_seed(a.seed)
    enc = create_encoder("resnet18", width=a.width, in_channels=c, image_size=h)
    trainer = SimCLR(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, temperature=a.temperature)
    trainer.fit(enc, data.images, seed=a.seed, device=a.device, progress=not a.quiet)
    save_encoder(
        enc.cpu(),
        a.out,
        provenance={"pretrain": trainer.provenance(), "data": a.data, "seed": a.seed},
    )
    print(f"encoder written to {a.out}")
    return 0
