"""The patch's learning rate over its steps: constant (the paper's) or a half cosine, each
after an optional linear warm-up. A function of the step alone, so a resumed patch continues
the same schedule."""

from __future__ import annotations

import math

import torch

from mudjack.errors import InputError

SCHEDULES = ("constant", "cosine")


def check_lr_schedule(schedule: str, warmup: int) -> None:
    """``schedule`` one of :data:`SCHEDULES`, ``warmup`` a whole number of steps >= 0."""
    if schedule not in SCHEDULES:
        raise InputError(
            f"Expected schedule 'constant' or 'cosine', got {schedule!r}. Pass one of them."
        )
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise InputError(f"Expected warmup to be a whole number of steps >= 0, got {warmup!r}.")


def learning_rate(lr: float, schedule: str, warmup: int, step: int, total: int) -> float:
    """The learning rate of the step after ``step`` steps of ``total``."""
    if schedule == "constant" and step >= warmup:
        return lr
    if step < warmup:
        return lr * (step + 1) / warmup
    done = (step - warmup) / max(1, total - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * done))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of ``opt`` the learning rate ``lr``."""
    for group in opt.param_groups:
        group["lr"] = lr
