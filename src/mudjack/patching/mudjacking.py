"""Mudjacking (Liu, Reiter, Gong, USENIX Security 2024), Algorithm 1.

Minimises ``L = L_e + λ_l·L_l + λ_g·L_g`` over mini-batches of ``D_val ∪ {x_r}``:

* effectiveness ``L_e = -cos(h'(x_b), h'(x_r))``;
* locality ``L_l = -mean cos(h(x), h'(x))``;
* generalizability ``L_g = -mean cos(h'(x ⊕ t_b), h'(x))``;

where, as in the authors' code, x_r contributes its own locality and generalizability terms at
every step (``reference_terms``; see :class:`Mudjacking`).

As in the authors' code, every image (x_b, x_r, validation inputs and their triggered copies)
is augmented independently at each step, the trigger is embedded before augmentation, and
BatchNorm layers stay frozen in eval mode. Text is not augmented: the recovered trigger words
are inserted into the validation sentences at the recovered relative position (the encoder is
in eval mode, so dropout is off, as for images). The random-location variant (Mudjacking-RL)
embeds the reverse-engineered trigger at a random position in each input (a random word
boundary for text).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mudjack.bug import BugInstance
from mudjack.data.augment import PatchAugment
from mudjack.encoders.base import Encoder
from mudjack.errors import InputError
from mudjack.patching.anchor import WeightAnchor, check_anchor
from mudjack.patching.base import Patcher, PatchResult, register_patcher
from mudjack.patching.checkpoint import LoopState, PatchCheckpoint, fingerprint
from mudjack.patching.distributed import RANK_STRIDE, ShardedOrder, world
from mudjack.patching.forward import Forward, check_speed_options, embed_batch, layout
from mudjack.patching.locality import check_locality, locality_cosine
from mudjack.patching.schedule import check_lr_schedule, learning_rate, set_lr
from mudjack.patching.stopping import StopRule
from mudjack.triggers.base import Trigger
from mudjack.utils import (
    check_schedule,
    concat_inputs,
    make_generator,
    resolve_device,
    take,
    trainable,
)


@register_patcher("mudjacking")
class Mudjacking(Patcher):
    """Mudjacking.

    Args:
        lambda_e: weight of the effectiveness loss (1; 0 removes it, as in Table 5).
        lambda_l, lambda_g: weights of the locality and generalizability losses (1 and 1;
            with ``lambda_g=0`` no trigger is needed).
        epochs: passes T over ``D_val ∪ {x_r}`` (200 in the paper).
        batch_size: mini-batch size m (256 in the paper for single-modal vision).
        lr: learning rate α (0.001 in the paper for single-modal vision).
        max_steps: stop after this many steps whatever ``epochs`` says (None: no cap).
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9, as the authors' code).
        schedule: the learning rate over the steps: ``"constant"`` (α throughout, as the
            paper) or ``"cosine"`` (α decayed to 0 along a half cosine over the patch's
            steps, ``max_steps`` included).
        warmup: steps over which the learning rate first rises linearly to α (0: none); the
            schedule runs over the steps after them.
        anchor: α of a weight-space anchor (L2-SP, :mod:`~mudjack.patching.anchor`):
            ``(α/2)·||θ' - θ||²`` joins the loss (0, the default and the paper's: none;
            measured in docs/benchmarks.md, where it can let the backdoor return).
        locality: ``"cosine"`` (the paper's), ``"centred"`` or ``"relational"``: how the
            locality loss compares D_val's features (:mod:`~mudjack.patching.locality`).
        augment: the per-step image augmentation (None disables it; text is never augmented).
        random_location: Mudjacking-RL: embed the trigger at random positions.
        reference_terms: give x_r its own locality term ``-cos(h'(x_r), h(x_r))`` and
            generalizability term ``-cos(h'(x_r ⊕ t), h'(x_r))`` at every step, each weighted
            like the mean over the D_val mini-batch, as the authors' code does (default).
            ``False`` follows Eq. 2-3 literally: x_r is one more member of D_val, which a
            mini-batch of a large D_val almost never draws, so the effectiveness loss can drag
            x_r towards x_b (measured on MiniLM + POR: x_r itself became misclassified).
        log_every: steps between two records of the loss terms in the patch history.
        stop: a :class:`~mudjack.patching.stopping.StopRule`: stop before ``max_steps`` once
            the provider-side signals on held-out validation inputs have converged (None:
            run the whole schedule).
        precision: ``"fp32"`` or ``"bf16"`` (autocast for the loss's forward passes).
        compile: run the encoders through ``torch.compile``.
    """

    def __init__(
        self,
        *,
        lambda_e: float = 1.0,
        lambda_l: float = 1.0,
        lambda_g: float = 1.0,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        max_steps: int | None = None,
        optimizer: str = "adam",
        schedule: str = "constant",
        warmup: int = 0,
        anchor: float = 0.0,
        locality: str = "cosine",
        augment: PatchAugment | None = PatchAugment(),  # noqa: B008  (stateless)
        random_location: bool = False,
        reference_terms: bool = True,
        log_every: int = 10,
        stop: StopRule | None = None,
        precision: str = "fp32",
        compile: bool = False,
    ) -> None:
        if optimizer not in {"adam", "sgd"}:
            raise InputError(f"Expected optimizer 'adam' or 'sgd', got {optimizer!r}.")
        check_lr_schedule(schedule, warmup)
        check_anchor(anchor)
        check_locality(locality)
        check_speed_options(precision, compile)
        check_schedule(epochs, batch_size, lr)
        self.lambda_e = lambda_e
        self.lambda_l = lambda_l
        self.lambda_g = lambda_g
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_steps = max_steps
        self.optimizer = optimizer
        self.schedule = schedule
        self.warmup = warmup
        self.anchor = anchor
        self.locality = locality
        self.augment = augment
        self.random_location = random_location
        self.reference_terms = reference_terms
        self.log_every = log_every
        self.stop = stop
        self.precision = precision
        self.compile = compile

    def provenance(self) -> dict[str, Any]:
        """As :meth:`Patcher.provenance`; the stopping rule and the speed options only when
        they are not their defaults (so records stay as they always were)."""
        out = super().provenance()
        for key, default in _OPTIONAL.items():
            if getattr(self, key, default) == default:
                out.pop(key, None)
        return out

    def _aug(self, x: Any, gen: torch.Generator) -> Any:
        if self.augment is None or not isinstance(x, torch.Tensor):
            return x
        return self.augment(x, gen)

    @property
    def needs_trigger(self) -> bool:  # type: ignore[override]
        return self.lambda_g != 0

    def _begin(self, patched: Encoder, bug: BugInstance, val: Any, seed: int) -> Any:
        """Hook run once before the first step (baselines record the starting weights).

        Returns this call's state, handed to every :meth:`_after_step` (patchers keep no
        per-call state on ``self``)."""
        return None

    def _after_step(self, patched: Encoder, state: Any) -> dict[str, float] | None:
        """Hook run after every optimiser step (baselines project the weights here).

        May return numbers to log with the step's loss terms in the patch history.
        """
        return None

    def _hook_state(self, state: Any) -> dict[str, Any]:
        """What of the hooks' state a checkpoint must keep (numbers; the weights they track
        are recomputed by :meth:`_begin`)."""
        return {}

    def _restore_hook_state(self, state: Any, saved: dict[str, Any]) -> None:
        """Put back what :meth:`_hook_state` returned, when a patch resumes."""

    def patch(
        self,
        encoder: Encoder,
        bug: BugInstance,
        val_data: Any,
        trigger: Trigger | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
        checkpoint: PatchCheckpoint | None = None,
        on_step: Callable[[int, Encoder], None] | None = None,
    ) -> PatchResult:
        """See :meth:`Patcher.patch`. With ``checkpoint``, the state is saved every
        ``checkpoint.every`` steps, and a checkpoint of this same patch already in its folder
        is continued from (bit-identical to an uninterrupted run on CPU). ``on_step(step,
        encoder)`` is called after every step with the encoder being patched (to watch it;
        changing it changes the patch)."""
        val = self._check(encoder, bug, val_data, trigger)
        held = None
        if self.stop is not None:
            val, held = self.stop.split(val)
        use_val = self.lambda_l != 0 or self.lambda_g != 0
        use_trigger = self.lambda_g != 0
        ident = None
        if checkpoint is not None:
            ident = fingerprint(encoder, bug.sha256, val, trigger, self.provenance(), seed)
        if use_trigger and self.random_location:
            trigger = trigger.with_random_location(True)  # type: ignore[union-attr]
        dev = resolve_device(device)
        frozen = copy.deepcopy(encoder).to(dev).eval().requires_grad_(False)
        patched = copy.deepcopy(encoder).to(dev).eval().requires_grad_(True)  # BatchNorm frozen
        opt = self._optimizer(patched)
        anchor = None  # built before a checkpoint's weights are restored: θ is the encoder's
        if self.anchor:
            anchor = WeightAnchor(trainable(patched), self.anchor)
        gen = make_generator(seed)
        pool, pair = self._inputs(bug, val, dev)
        rank, size = world()
        order, aug_gen = None, gen
        if size > 1:  # under torchrun: shard D_val, average gradients (distributed.py)
            if checkpoint is not None:
                raise InputError("Expected no checkpoint for a patch across processes, got one.")
            order = ShardedOrder(len(pool), seed, rank, size)
            aug_gen = make_generator(seed + RANK_STRIDE * rank)
        speed = {"compile": self.compile, "precision": self.precision}
        embedder = Forward(patched, dev, distributed=size > 1, **speed)
        reference = Forward(frozen, dev, **speed)
        n = len(pool) if order is None else len(order)
        m = min(self.batch_size // size or 1, n)
        per_epoch = -(-n // m)
        total = self.epochs * per_epoch  # the step count does not depend on which terms are on
        if self.max_steps is not None:
            total = min(total, self.max_steps)
        state = self._begin(patched, bug, val, seed)
        loop = LoopState(step=0, perm=torch.empty(0, dtype=torch.long), i=per_epoch, history=[])
        if checkpoint is not None:
            saved = checkpoint.load(ident)  # type: ignore[arg-type]
            if saved is not None:
                loop.restore(saved, patched, opt, gen)
                self._restore_hook_state(state, saved["hook"])
        bar = tqdm(
            total=total, initial=loop.step, desc=type(self).__name__, unit="step",
            disable=not progress,
        )  # fmt: skip
        start = time.perf_counter() - loop.seconds
        while loop.step < total:
            if loop.i >= per_epoch:
                perm = torch.randperm(n, generator=gen) if order is None else order.next()
                loop.perm, loop.i = perm, 0
            x = take(pool, loop.perm[loop.i * m : (loop.i + 1) * m])
            t = trigger if use_trigger else None
            set_lr(opt, learning_rate(self.lr, self.schedule, self.warmup, loop.step, total))
            loop.i += 1
            loop.step += 1
            log = loop.step % self.log_every == 0 or loop.step == total
            batch = (pair, x, t, use_val, aug_gen, embedder, anchor)
            rec = self._step(patched, reference, opt, state, batch, log)
            bar.update(1)
            if on_step is not None:
                on_step(loop.step, patched)
            if rec is not None:
                loop.history.append({"step": loop.step, **rec})
                bar.set_postfix({k[:1]: f"{rec[k]:.3f}" for k in _LOGGED if k in rec})
            if held is not None and self._stop_now(loop, (patched, frozen, pair, held, t), dev):
                break
            if checkpoint is not None and checkpoint.due(loop.step, total):
                loop.seconds = time.perf_counter() - start
                saved = loop.state(ident, patched, opt, gen)  # type: ignore[arg-type]
                checkpoint.save({**saved, "hook": self._hook_state(state)})
        bar.close()
        seconds = time.perf_counter() - start
        patched.eval().requires_grad_(False)
        return PatchResult(patched, loop.step, seconds, loop.history, self.provenance())

    def _stop_now(self, loop: LoopState, models: tuple[Any, ...], dev: torch.device) -> bool:
        """At a check step of the stopping rule: measure, record in the history, decide."""
        rule = self.stop
        if rule is None or loop.step % rule.every:
            return False
        patched, frozen, pair, held, t = models
        held = held.to(dev) if isinstance(held, torch.Tensor) else held
        signals = rule.signals(patched, frozen, pair, held, t)
        loop.history.append({"step": loop.step, **{f"stop_{k}": v for k, v in signals.items()}})
        checks = [
            {k[5:]: v for k, v in h.items() if k.startswith("stop_")}
            for h in loop.history
            if "stop_effectiveness" in h
        ]
        return rule.converged(checks, loop.step)

    def _optimizer(self, patched: Encoder) -> torch.optim.Optimizer:
        params = trainable(patched)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9)

    def _inputs(self, bug: BugInstance, val: Any, dev: torch.device) -> tuple[Any, Any]:
        """The pool mini-batches are drawn from, and the pair (x_b, x_r), on ``dev``.

        With reference_terms, x_r has its own locality and generalizability terms at every
        step and D_val alone is sampled; otherwise x_r is one more member of D_val."""
        if isinstance(bug.x_b, str):
            pool: Any = list(val) if self.reference_terms else [*val, bug.x_r]
            return pool, [bug.x_b, bug.x_r]
        pool = val if self.reference_terms else torch.cat([val, bug.x_r.unsqueeze(0)])  # type: ignore[union-attr]
        return pool.to(dev), torch.stack([bug.x_b, bug.x_r]).to(dev)  # type: ignore[list-item]

    def _step(
        self,
        patched: Encoder,
        frozen: Encoder,
        opt: torch.optim.Optimizer,
        state: Any,
        batch: tuple[Any, Any, Trigger | None, bool, torch.Generator, Any, WeightAnchor | None],
        log: bool,
    ) -> dict[str, float] | None:
        """One optimiser step on ``batch`` (pair, D_val mini-batch, trigger, whether D_val's
        terms are on, generator, what embeds: ``patched`` or its :class:`Replica`, the weight
        anchor or None); with ``log``, returns what to log (the loss without the anchor's
        penalty, its terms, the hook's numbers, the anchor's drift; reading the loss waits for
        the device, so only then)."""
        pair, x, t, use_val, gen, embedder, anchor = batch
        terms = self._terms(embedder, frozen, pair, x, t, use_val, gen)
        zero = torch.zeros((), device=next(patched.parameters()).device)
        loss_e, loss_l, loss_g = (terms.get(k, zero) for k in ("e", "l", "g"))
        loss = self.lambda_e * loss_e + self.lambda_l * loss_l + self.lambda_g * loss_g
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if anchor is not None:
            anchor.pull()
        opt.step()
        extra = self._after_step(patched, state)
        if not log:
            return None
        rec = {"loss": loss.item()}
        rec.update({k: v for k, v in terms.items() if isinstance(v, float)})
        rec.update(extra or {})
        if anchor is not None:
            rec["anchor_drift"] = anchor.drift()
        return rec

    def _terms(
        self,
        patched: Any,
        frozen: Encoder,
        pair: Any,
        x: Any,
        trigger: Trigger | None,
        use_val: bool,
        gen: torch.Generator,
    ) -> dict[str, Any]:
        """The losses of one step (tensors ``e``, ``l``, ``g``) and the cosines to log (floats).

        Only the terms with a non-zero weight are computed: plain fine-tuning embeds the bug
        pair alone."""
        if not use_val:
            f = patched.embed(layout(self._aug(pair, gen)))
            cos_e = F.cosine_similarity(f[0], f[1], dim=0)
            return {"e": -cos_e, "effectiveness": cos_e.item()}
        # Random draws in a fixed order: D_val views, their triggered views, the pair's views,
        # then x_r ⊕ t.
        x_aug = self._aug(x, gen)
        rest, anchors = x_aug, x_aug
        k = len(x)
        if trigger is not None:
            rest = concat_inputs(rest, self._aug(trigger.apply(x, gen), gen))
        pair_aug = self._aug(pair, gen)
        if self.reference_terms:  # x_r's view from pair_aug, and x_r ⊕ t
            anchors = concat_inputs(x_aug, pair_aug[1:2])
            if trigger is not None:
                rest = concat_inputs(rest, self._aug(trigger.apply(pair[1:2], gen), gen))
        feats = embed_batch(patched, pair_aug, rest)
        with torch.no_grad():
            f_ref = frozen.embed(layout(anchors))
        f_b, f_r, f_x = feats[0], feats[1], feats[2 : 2 + k]
        cos_e = F.cosine_similarity(f_b, f_r, dim=0)
        cos_l = locality_cosine(f_x, f_ref[:k], self.locality)
        out: dict[str, Any] = {"e": -cos_e, "effectiveness": cos_e.item()}
        out["l"] = -cos_l
        out["locality"] = cos_l.item()
        if self.reference_terms:
            ref_l = F.cosine_similarity(f_r, f_ref[k], dim=0)
            out["l"] = out["l"] - ref_l
            out["locality_x_r"] = ref_l.item()
        if trigger is not None:
            f_xt = feats[2 + k : 2 + 2 * k]
            cos_g = F.cosine_similarity(f_xt, f_x).mean()
            out["g"] = -cos_g
            out["generalizability"] = cos_g.item()
            if self.reference_terms:
                ref_g = F.cosine_similarity(feats[2 + 2 * k], f_r, dim=0)
                out["g"] = out["g"] - ref_g
                out["generalizability_x_r"] = ref_g.item()
        return out


_LOGGED = ("effectiveness", "locality", "generalizability")
# Recorded in provenance only when not these defaults.
_OPTIONAL: dict[str, Any] = {
    "stop": None,
    "precision": "fp32",
    "compile": False,
    "schedule": "constant",
    "warmup": 0,
    "anchor": 0.0,
    "locality": "cosine",
}
