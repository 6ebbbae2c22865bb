"""How the locality loss compares h'(x) with h(x) over a mini-batch of D_val.

``"cosine"`` is the paper's Eq. 2: the mean cosine of each input's patched and frozen
features. ``"centred"`` takes the cosine after removing the frozen features' mean over the
mini-batch, so it measures each input's place *relative to the others*. ``"relational"`` keeps
the mini-batch's pairwise cosines: ``1 - RELATIONAL_SCALE · mean((G' - G)²)`` with ``G`` the
frozen features' cosine matrix and ``G'`` the patched ones'. An encoder that puts a
whole domain in one narrow cone (measured: the MNIST-5k digits of our Fashion-MNIST encoder,
different classes at cosine 0.95) can move those inputs as far as the gaps between their
classes while the plain cosine stays at 0.997; the other two see that move, if D_val samples
the cone. Measured (docs/benchmarks.md, "The shifted domain"): relational locality on a D_val
mixed with digits holds a digit client's accuracy, and on a same-domain client it keeps the
backdoor (ASR 24.7 against 3.2), so neither is a default. Under torchrun the mean and the
matrix are each process's share's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mudjack.errors import InputError

LOCALITY = ("cosine", "centred", "relational")
# The relational term's scale, chosen once on one bug and not tuned since: every pairwise cosine
# moving by 0.1 takes the locality from 1 to 0, as orthogonal features do the cosine's.
RELATIONAL_SCALE = 100.0


def check_locality(mode: str) -> None:
    """Refuse a locality mode that is not one of :data:`LOCALITY`."""
    if mode not in LOCALITY:
        raise InputError(
            f"Expected locality {', '.join(repr(m) for m in LOCALITY)}, got {mode!r}. "
            "'cosine' is the paper's."
        )


def locality_cosine(features: torch.Tensor, reference: torch.Tensor, mode: str) -> torch.Tensor:
    """The mean cosine between ``features`` (patched, ``(k, d)``) and ``reference`` (frozen);
    with ``mode="centred"`` both are first shifted by the reference's mean over the batch;
    with ``mode="relational"`` the two batches' pairwise cosines are compared instead."""
    if mode == "relational":
        ours, theirs = F.normalize(features, dim=1), F.normalize(reference, dim=1)
        change = ours @ ours.T - theirs @ theirs.T
        return 1 - RELATIONAL_SCALE * change.pow(2).mean()
    if mode == "centred":
        centre = reference.mean(0, keepdim=True)
        features, reference = features - centre, reference - centre
    return F.cosine_similarity(features, reference).mean()
