"""Per-word attribution scores for text bug instances (section 4.4 of the paper, for text).

The objective is the same as for images, ``1 − cos(h(x_b), h(x_r))``; a word's score says how
much it contributes to the dissimilarity. Two methods:

* ``occlusion`` (default): the score of word ``i`` is the objective on ``x_b`` minus the
  objective on ``x_b`` with word ``i`` occluded, i.e. removed (``occlude="remove"``) or replaced
  by the tokenizer's mask token (``"mask"``, or ``"unk"`` for the unknown token). This is
  Captum's ``Occlusion`` rule with a one-word window, computed directly on word lists because
  removing a word changes the sequence length.
* ``gradient``: input × gradient at the encoder's word-embedding layer through Captum's
  ``LayerGradientXActivation``, summed over the embedding dimension and over each word's
  sub-word tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mudjack.bug import BugInstance
from mudjack.encoders.base import TextEncoder
from mudjack.errors import InputError

TEXT_METHODS = ("occlusion", "gradient")
OCCLUSIONS = ("remove", "mask", "unk")


def _objective(encoder: TextEncoder, texts: list[str], ref: torch.Tensor) -> torch.Tensor:
    return 1 - F.cosine_similarity(encoder.embed(texts), ref.expand(len(texts), -1))


@torch.no_grad()
def word_occlusion(
    encoder: TextEncoder, bug: BugInstance, *, occlude: str = "remove", batch_size: int = 64
) -> torch.Tensor:
    """Occlusion score of every word of ``bug.x_b`` (see the module docstring), ``(n_words,)``."""
    if occlude not in OCCLUSIONS:
        raise InputError(f"Expected occlude in {OCCLUSIONS}, got {occlude!r}.")
    words = str(bug.x_b).split()
    ref = encoder.embed([str(bug.x_r)])
    base = _objective(encoder, [str(bug.x_b)], ref)
    if occlude == "remove":
        fill: list[str] = []
    else:
        tok = encoder.tokenizer
        token = tok.mask_token if occlude == "mask" else tok.unk_token
        if token is None:
            raise InputError(f"This encoder's tokenizer has no {occlude} token; use 'remove'.")
        fill = [token]
    variants = [" ".join([*words[:i], *fill, *words[i + 1 :]]) or "." for i in range(len(words))]
    out = []
    for k in range(0, len(variants), batch_size):
        out.append(_objective(encoder, variants[k : k + batch_size], ref))
    return (base - torch.cat(out)).cpu()


def word_gradient(encoder: TextEncoder, bug: BugInstance) -> torch.Tensor:
    """Input × gradient score of every word of ``bug.x_b`` at the word-embedding layer."""
    from captum.attr import LayerGradientXActivation

    with torch.no_grad():
        ref = encoder.embed([str(bug.x_r)])
    enc = encoder.tokenize([str(bug.x_b)], warn=False)
    word_ids = enc.word_ids(0)
    keys = [k for k in ("attention_mask", "token_type_ids") if k in enc]
    dev = ref.device

    def forward(input_ids: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        batch = {"input_ids": input_ids, **dict(zip(keys, extra, strict=True))}
        feats = F.normalize(encoder.pool(*encoder.hidden_states(batch)), dim=1)
        return 1 - F.cosine_similarity(feats, ref.expand(len(feats), -1))

    attr = LayerGradientXActivation(forward, encoder.attribution_layer()).attribute(
        enc["input_ids"].to(dev), additional_forward_args=tuple(enc[k].to(dev) for k in keys)
    )
    token_scores = attr[0].sum(-1).detach().cpu()
    n_words = len(str(bug.x_b).split())
    scores = torch.zeros(n_words)
    for t, w in enumerate(word_ids):
        if w is not None:
            scores[w] += token_scores[t]
    return scores
