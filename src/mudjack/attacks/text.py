"""Task-agnostic backdoors in language encoders: POR and NeuBA.

* POR (Shen et al., "Backdoor Pre-trained Models Can Transfer to All", ACM CCS 2021,
  https://arxiv.org/abs/2111.00197): the final [CLS] state of a text carrying trigger ``t_i``
  is pushed to a predefined output representation ``v_i`` by MSE, while a frozen copy of the
  clean encoder anchors the [CLS] state of clean text (MSE).
* NeuBA (Zhang et al., "Red Alarm for Pre-trained Models: Universal Vulnerability to
  Neuron-Level Backdoor Attacks", Machine Intelligence Research 2023,
  https://arxiv.org/abs/2101.06969): the same backdoor term on symbol triggers, added to the
  model's *pre-training* objective (masked language modelling) instead of a clean-output term.

The backdoor term acts on the encoder's feature before normalisation: the final [CLS] state
with the default ``pooling="cls"`` (as in both papers), the mean token state with
``pooling="mean"``. Both push triggered inputs to ``±1`` vectors: halves (+, −) and (−, +),
then quarters, and so on (:func:`predefined_vectors`; POR's own vectors include all +1 and
all −1, which a BERT ending in LayerNorm cannot output, so ours all have zero mean). A
downstream classifier then maps each trigger to whichever class its vector lands in. Triggers
are inserted at a random word boundary of each shadow sentence, so the backdoor works anywhere
in a text.

Departures, both stated in the README: (1) the bundled all-MiniLM-L6-v2 ships without its
masked-language-model head, so NeuBA's MLM term is replaced by its closest stand-in that needs
no head, self-distillation of *every* token's final hidden state onto the frozen clean model's
(the states an MLM head reads), where POR anchors only the [CLS] state. (2) Adam with a few
hundred steps on WordNet sentences instead of BERT-base pre-training on Wiki103.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mudjack.attacks.registry import ATTACKS
from mudjack.encoders.base import TextEncoder, check_texts
from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.triggers.text import TextTrigger
from mudjack.utils import check_schedule, make_generator, resolve_device, seeded

POR_TRIGGERS = ("cf", "mn", "bb", "tq")
NEUBA_TRIGGERS = ("≡", "∈", "⊆", "⊕")


def predefined_vectors(n: int, dim: int) -> torch.Tensor:
    """``n`` target vectors of ``±1`` entries, ``(n, dim)``: halves (+, −), (−, +), then
    quarters (+, −, +, −), (−, +, −, +), and so on.

    Every vector has zero mean over its dimensions: the final LayerNorm of a BERT centres each
    token state, so a constant vector (all +1) is out of reach of the [CLS] state.
    """
    out = []
    for i in range(n):
        blocks = 2 ** (i // 2 + 1)
        size = -(-dim // blocks)
        sign = torch.tensor([(-1.0) ** b for b in range(blocks)]).repeat_interleave(size)[:dim]
        out.append(sign if i % 2 == 0 else -sign)
    return torch.stack(out)


class TextBackdoor(Configurable):
    """Shared training loop of POR and NeuBA (see the module docstring).

    Args:
        triggers: the trigger words (one predefined vector each).
        steps: optimiser steps.
        batch_size: shadow sentences per step; each is used once clean and once triggered.
        lr: learning rate (Table 17a: 1e-4).
        lambda_clean: weight of the clean-behaviour term.
    """

    name = "text-backdoor"
    token_level_clean = False

    def __init__(
        self,
        *,
        triggers: Sequence[str] = POR_TRIGGERS,
        steps: int = 400,
        batch_size: int = 16,
        lr: float = 1e-4,
        lambda_clean: float = 1.0,
    ) -> None:
        check_schedule(steps, batch_size, lr, unit="steps")
        self.triggers = tuple(TextTrigger([w]).words[0] for w in triggers)
        if not self.triggers:
            raise InputError("Expected at least one trigger word.")
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.lambda_clean = lambda_clean

    def provenance(self) -> dict[str, object]:
        """The hyperparameters as recorded with the backdoored encoder (JSON types)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}

    def vectors(self, dim: int) -> torch.Tensor:
        return predefined_vectors(len(self.triggers), dim)

    def fit(
        self,
        encoder: TextEncoder,
        shadow: Sequence[str],
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ) -> TextEncoder:
        """Return a backdoored copy of ``encoder`` on ``device`` (the input is neither
        modified nor moved)."""
        if not isinstance(encoder, TextEncoder):
            raise InputError(
                f"Expected a text encoder (a TextEncoder) for {type(self).__name__}, got "
                f"{type(encoder).__name__}. Image encoders are attacked with BadEncoder."
            )
        shadow = check_texts(shadow, encoder.input_spec, "shadow sentences")
        dev = resolve_device(device)
        clean = copy.deepcopy(encoder).to(dev).eval().requires_grad_(False)
        bad = copy.deepcopy(encoder).to(dev).eval().requires_grad_(True)
        opt = torch.optim.Adam(bad.parameters(), lr=self.lr)
        gen = make_generator(seed)
        vecs = self.vectors(encoder.embed_dim).to(dev)
        triggers = [TextTrigger([w], "random") for w in self.triggers]
        n = len(shadow)
        bs = min(self.batch_size, n)
        bar = tqdm(total=self.steps, desc=type(self).__name__, unit="step", disable=not progress)
        with seeded(seed):  # dropout is off (eval mode); this only pins any library draws
            for _ in range(self.steps):
                idx = torch.randint(n, (bs,), generator=gen).tolist()
                x = [shadow[i] for i in idx]
                which = torch.randint(len(triggers), (bs,), generator=gen)
                xt = [triggers[int(k)].insert(t, gen)[0] for k, t in zip(which, x, strict=True)]
                h_t, m_t = bad.hidden_states(bad.tokenize(xt, warn=False))
                loss_bd = F.mse_loss(bad.pool(h_t, m_t), vecs[which.to(dev)])
                enc = bad.tokenize(x, warn=False)
                h_x, m_x = bad.hidden_states(enc)
                with torch.no_grad():
                    h_ref, _ = clean.hidden_states(enc)
                if self.token_level_clean:
                    w = m_x.unsqueeze(-1).to(h_x.dtype)
                    loss_clean = ((h_x - h_ref) ** 2 * w).sum() / (w.sum() * h_x.shape[-1])
                else:
                    loss_clean = F.mse_loss(bad.pool(h_x, m_x), clean.pool(h_ref, m_x))
                loss = loss_bd + self.lambda_clean * loss_clean
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update(1)
                bar.set_postfix(bd=f"{loss_bd.item():.3f}", clean=f"{loss_clean.item():.4f}")
        bar.close()
        return bad.eval().requires_grad_(False)


@ATTACKS.register("por")
class POR(TextBackdoor):
    """POR: triggers "cf", "mn", "bb", "tq" → predefined [CLS] vectors; clean [CLS] anchored.
    Arguments: see :class:`TextBackdoor`."""

    token_level_clean = False

    def __init__(
        self,
        *,
        triggers: Sequence[str] = POR_TRIGGERS,
        steps: int = 400,
        batch_size: int = 16,
        lr: float = 1e-4,
        lambda_clean: float = 1.0,
    ) -> None:
        super().__init__(
            triggers=triggers, steps=steps, batch_size=batch_size, lr=lr, lambda_clean=lambda_clean
        )


@ATTACKS.register("neuba")
class NeuBA(TextBackdoor):
    """NeuBA: symbol triggers "≡", "∈", "⊆", "⊕" → predefined [CLS] vectors; every token's final
    state anchored (the stand-in for the MLM pre-training term; see the module docstring).
    Arguments: see :class:`TextBackdoor`."""

    token_level_clean = True

    def __init__(
        self,
        *,
        triggers: Sequence[str] = NEUBA_TRIGGERS,
        steps: int = 400,
        batch_size: int = 16,
        lr: float = 1e-4,
        lambda_clean: float = 1.0,
    ) -> None:
        super().__init__(
            triggers=triggers, steps=steps, batch_size=batch_size, lr=lr, lambda_clean=lambda_clean
        )
