"""When to stop a patch, from what the provider has: no client data, no true trigger.

:class:`StopRule` holds back a few of the provider's validation inputs and, every ``every``
steps, measures three things on them without augmentation: the effectiveness cosine
``cos(h'(x_b), h'(x_r))``, the trigger invariance ``mean cos(h'(x ⊕ t), h'(x))`` with the
reverse-engineered trigger, and the locality ``mean cos(h'(x), h(x))`` against the encoder
before patching. The patch stops once effectiveness and invariance are high enough and none of
the three has moved by more than ``tol`` over the last ``window`` checks.
"""

from __future__ import annotations

import ast
from typing import Any

import torch
import torch.nn.functional as F

from mudjack.errors import InputError
from mudjack.registry import Configurable
from mudjack.utils import check_range

SIGNALS = ("effectiveness", "invariance", "locality")


class StopRule(Configurable):
    """Stop a patch when its provider-side signals have converged.

    Args:
        every: steps between two checks.
        window: consecutive checks whose spread must stay within ``tol``.
        tol: the largest change of a signal (in cosine) still counted as converged.
        min_effectiveness, min_invariance: the levels the two must have reached.
        held_out: validation inputs set aside (never trained on) to measure on.
        min_steps: never stop before this step.
    """

    def __init__(
        self,
        *,
        every: int = 25,
        window: int = 3,
        tol: float = 0.005,
        min_effectiveness: float = 0.9,
        min_invariance: float = 0.9,
        held_out: int = 256,
        min_steps: int = 100,
    ) -> None:
        for name, value in (("every", every), ("window", window), ("held_out", held_out)):
            if not isinstance(value, int) or value < 1:
                raise InputError(f"Expected {name} to be a positive integer, got {value!r}.")
        if not isinstance(min_steps, int) or min_steps < 0:
            raise InputError(f"Expected min_steps to be an integer >= 0, got {min_steps!r}.")
        check_range(tol, "tol", 1e-9, 1.0)
        check_range(min_effectiveness, "min_effectiveness", -1.0, 1.0)
        check_range(min_invariance, "min_invariance", -1.0, 1.0)
        self.every = every
        self.window = window
        self.tol = tol
        self.min_effectiveness = min_effectiveness
        self.min_invariance = min_invariance
        self.held_out = held_out
        self.min_steps = min_steps

    @classmethod
    def from_record(cls, text: str) -> StopRule:
        """The rule a patch record names: its ``repr``, e.g. ``"StopRule(every=25, ...)"``
        (parsed as literals, never evaluated)."""
        try:
            call = ast.parse(text, mode="eval").body
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                raise ValueError
            if call.func.id != cls.__name__ or call.args:
                raise ValueError
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError):
            raise InputError(
                f"Expected a stopping rule recorded as 'StopRule(name=value, ...)', got "
                f"{text!r}. Replay only records written by `mudjack patch`."
            ) from None
        unknown = sorted(set(kwargs) - set(cls.param_names()) - {None})
        if unknown or None in kwargs:
            raise InputError(f"Expected StopRule's parameters, got {text!r}.")
        return cls(**kwargs)

    def split(self, pool: Any) -> tuple[Any, Any]:
        """(what is trained on, what is measured on): the last ``held_out`` inputs held out."""
        if len(pool) <= self.held_out:
            raise InputError(
                f"Expected more than held_out={self.held_out} validation inputs for the stopping "
                f"rule, got {len(pool)}. Give more validation inputs or a smaller held_out."
            )
        return pool[: -self.held_out], pool[-self.held_out :]

    @torch.no_grad()
    def signals(
        self, patched: Any, frozen: Any, pair: Any, held: Any, trigger: Any
    ) -> dict[str, float]:
        """The three signals now (``invariance`` only with a trigger). The patch loop keeps
        the encoder in eval mode (BatchNorm frozen), so this measures it as it is."""
        f_pair = patched.embed(pair)
        f_x = patched.embed(held)
        out = {
            "effectiveness": F.cosine_similarity(f_pair[0], f_pair[1], dim=0).item(),
            "locality": F.cosine_similarity(f_x, frozen.embed(held)).mean().item(),
        }
        if trigger is not None:
            gen = torch.Generator().manual_seed(0)  # a random-place trigger: the same places
            f_t = patched.embed(trigger.apply(held, gen))
            out["invariance"] = F.cosine_similarity(f_t, f_x).mean().item()
        return out

    def converged(self, checks: list[dict[str, float]], step: int) -> bool:
        """Have the last ``window`` checks (each the signals and its step) converged?"""
        if step < self.min_steps or len(checks) < self.window:
            return False
        last = checks[-self.window :]
        now = last[-1]
        if now["effectiveness"] < self.min_effectiveness:
            return False
        if "invariance" in now and now["invariance"] < self.min_invariance:
            return False
        for name in SIGNALS:
            values = [c[name] for c in last if name in c]
            if values and max(values) - min(values) > self.tol:
                return False
        return True
