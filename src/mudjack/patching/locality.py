"""How the locality loss compares h'(x) with h(x) over a mini-batch of D_val.

``"cosine"`` is the paper's Eq. 2: the mean cosine of each input's patched and frozen
features. ``"centred"`` takes the cosine after removing the frozen features' mean over the
mini-batch, so it measures each input's place *relative to the others*. An encoder that puts a
whole domain in one narrow cone (measured: the MNIST-5k digits of our Fashion-MNIST encoder,
different classes at cosine 0.95) can move those inputs as far as the gaps between their
classes while the plain cosine stays at 0.997; the centred cosine sees that move
(docs/benchmarks.md, "The shifted domain"). Under torchrun the mean is each process's share's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mudjack.errors import InputError

LOCALITY = ("cosine", "centred")


def check_locality(mode: str) -> None:
    """Refuse a locality mode that is not one of :data:`LOCALITY`."""
    if mode not in LOCALITY:
        raise InputError(
            f"Expected locality {' or '.join(repr(m) for m in LOCALITY)}, got {mode!r}. "
            "'cosine' is the paper's."
        )


def locality_cosine(features: torch.Tensor, reference: torch.Tensor, mode: str) -> torch.Tensor:
    """The mean cosine between ``features`` (patched, ``(k, d)``) and ``reference`` (frozen);
    with ``mode="centred"`` both are first shifted by the reference's mean over the batch."""
    if mode == "centred":
        centre = reference.mean(0, keepdim=True)
        features, reference = features - centre, reference - centre
    return F.cosine_similarity(features, reference).mean()
