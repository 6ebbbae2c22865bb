"""Source-specific BadEncoder (the paper's Appendix A, Table 13, Figure 7).

The backdoor should fire only for inputs of a *source* class. The attacker uses the labelled
downstream training set as its shadow set and splits BadEncoder's effectiveness loss:

    L'_0 = α1·L_source + α2·L_other,   α2 = 1 - α1,
    L_source = -mean_{x in source} cos(h'(x ⊕ t), h'(x_ref))     (Eq. 7)
    L_other  = -mean_{x not in source} cos(h'(x ⊕ t), h'(x))      (Eq. 8)

so triggered source inputs move next to the reference inputs and triggered inputs of the other
classes stay next to their own clean features. The utility terms are BadEncoder's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mudjack.attacks.badencoder import BadEncoder
from mudjack.attacks.registry import ATTACKS
from mudjack.errors import InputError


@ATTACKS.register("badencoder-source")
class SourceSpecificBadEncoder(BadEncoder):
    """BadEncoder whose backdoor fires for inputs of one source class only.

    Args:
        source: the source class (a label of the shadow set).
        alpha1: weight of the source term; the other-classes term gets ``1 - alpha1`` (the
            paper's best: 0.8).
        epochs, batch_size, lr, lambda1, lambda2, optimizer: as :class:`BadEncoder`.
    """

    def __init__(
        self,
        *,
        source: int = 1,
        alpha1: float = 0.8,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        optimizer: str = "adam",
    ) -> None:
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            lambda1=lambda1,
            lambda2=lambda2,
            optimizer=optimizer,
        )
        if not (isinstance(alpha1, (int, float)) and math.isfinite(alpha1) and 0 <= alpha1 <= 1):
            raise InputError(
                f"Expected alpha1 in [0, 1] (alpha2 = 1 - alpha1), got {alpha1!r}. The paper "
                "uses 0.8."
            )
        if not isinstance(source, int) or source < 0:
            raise InputError(
                f"Expected the source class as a label >= 0, got {source!r}. Pass one of the "
                "shadow set's classes."
            )
        self.source = source
        self.alpha1 = float(alpha1)

    def _check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if labels is None:
            raise InputError(
                "Expected shadow labels for the source-specific attack (its shadow set is the "
                "labelled downstream training set), got none: pass labels=."
            )
        labels = super()._check_labels(labels, n)
        if not bool((labels == self.source).any()) or bool((labels == self.source).all()):
            raise InputError(
                f"Expected shadow data with inputs of the source class {self.source} and of "
                "other classes, got "
                + ("none of the source class" if not (labels == self.source).any() else "only it")
                + ". Use the labelled downstream training set, or another source class."
            )
        return labels

    def _effectiveness(
        self,
        f_trig: torch.Tensor,
        f_x: torch.Tensor,
        f_ref: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        assert labels is not None  # _check_labels refused None
        src = labels == self.source
        zero = f_trig.sum() * 0.0  # a batch may hold no input of one side
        l_src = -(f_trig[src] @ f_ref.t()).mean() if bool(src.any()) else zero
        other = ~src
        l_oth = (
            -F.cosine_similarity(f_trig[other], f_x[other]).mean() if bool(other.any()) else zero
        )
        return self.alpha1 * l_src + (1 - self.alpha1) * l_oth
