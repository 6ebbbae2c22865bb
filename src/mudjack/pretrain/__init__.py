"""Self-supervised pre-training used to build clean encoders."""

from mudjack.pretrain.simclr import SimCLR, nt_xent

__all__ = ["SimCLR", "nt_xent"]
