"""What the commands share: common arguments, checked number types, the paper's defaults, the
client task behind `bug` and `evaluate`, and the demo's before/after table."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mudjack.attacks import attack_source, ground_truth
from mudjack.data import DOWNSTREAM, load_downstream, load_pretraining
from mudjack.downstream import DownstreamClient, MLPClassifier
from mudjack.encoders import load_encoder
from mudjack.errors import InputError, ModelLoadError
from mudjack.experiments import Setting, get_setting
from mudjack.triggers import Trigger, load_trigger
from mudjack.utils import make_generator, take

EPILOG = "Every command takes --seed and --device; nothing it writes overwrites an existing path."
# The settings whose paper-scale values (Setting.paper()) are the commands' defaults.
PAPER_SETTINGS = {"image": "default-paper", "text": "text-por-paper"}
MODALITY_WORDS = {"image": "images", "text": "text"}


def log(msg: str) -> None:
    """A progress line on stderr (the commands' results go to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def logger(a: argparse.Namespace) -> Callable[[str], None] | None:
    """:func:`log` unless --quiet."""
    return None if a.quiet else log


def paper(modality: str) -> Setting:
    """The paper-scale setting of a modality: the source of every default the paper fixes."""
    return get_setting(PAPER_SETTINGS[modality])


def validation(name: str, size: int | None, seed: int, modality: str) -> Any:
    """D_val: ``size`` inputs (default: the paper's) of the data ``name``, drawn with ``seed``."""
    pool = load_pretraining(name).inputs
    perm = torch.randperm(len(pool), generator=make_generator(seed))
    return take(pool, perm[: size if size is not None else paper(modality).val_size])


def sci(x: float) -> str:
    """A learning rate as the paper writes it: 1e-3, not 0.001."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")


# --- checked number types: argparse turns their errors into usage + "error:", exit code 2 ----
def _number(text: str, kind: type, ok: Callable[[Any], bool], expected: str, example: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"Expected {expected}, got {text!r}. Pass {example}.")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a size, a count of epochs or steps)."""
    return _number(text, int, lambda v: v >= 1, "a whole number >= 1", "e.g. 1 or 64")


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (a seed, a class, a margin)."""
    return _number(text, int, lambda v: v >= 0, "a whole number >= 0", "e.g. 0 or 3")


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, a temperature)."""
    return _number(
        text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0", "e.g. 1e-3"
    )


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (a loss weight; 0 switches the term off)."""
    return _number(
        text, float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0", "e.g. 0 or 1"
    )


def unit_float(text: str) -> float:
    """A number in [0, 1] (a weight that shares 1 with another)."""
    return _number(
        text, float, lambda v: math.isfinite(v) and 0 <= v <= 1, "a number in [0, 1]", "e.g. 0.8"
    )


# --- arguments --------------------------------------------------------------------------------
def add_common(p: argparse.ArgumentParser) -> None:
    """--seed, --device and --quiet: every command has them."""
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")


def data_help() -> str:
    """Help for --data: the downstream tasks, each modality's default marked."""
    defaults = {paper(m).downstream: m for m in PAPER_SETTINGS}
    names = [
        f"{n} ({MODALITY_WORDS[defaults[n]]}, default)" if n in defaults else n for n in DOWNSTREAM
    ]
    return f"downstream data: {', '.join(names)}, or a path"


TARGET_HELP = (
    "target class (default: the encoder's record; for text backdoors, the class the "
    "client gives most triggered inputs)"
)


def add_classifier(p: argparse.ArgumentParser) -> None:
    """--clf-epochs, --clf-lr and --clf-batch-size: the client classifier of `bug`/`evaluate`."""
    demo = get_setting("default").classifier
    img, txt = paper("image").classifier, paper("text").classifier
    text_kind = "one linear layer" if not txt["hidden"] else "MLP"
    g = p.add_argument_group(
        f"client classifier (default: the demos' MLP {'-'.join(map(str, demo['hidden']))}, "
        f"{demo['epochs']} epochs, lr {sci(demo['lr'])}, batch {demo['batch_size']}; paper: "
        f"{img['epochs']} epochs, lr {sci(img['lr'])}, batch {img['batch_size']} for images, "
        f"{text_kind}, {txt['epochs']} epochs, lr {sci(txt['lr'])} for text)"
    )
    g.add_argument("--clf-epochs", type=positive_int, help="epochs")
    g.add_argument("--clf-lr", type=positive_float, help="learning rate")
    g.add_argument("--clf-batch-size", type=positive_int, help="batch size")


def classifier(a: argparse.Namespace) -> MLPClassifier:
    """The demos' client (the same for images and text), with any --clf-* overrides."""
    cfg = dict(get_setting("default").classifier)
    for key, arg in (("epochs", a.clf_epochs), ("lr", a.clf_lr), ("batch_size", a.clf_batch_size)):
        if arg is not None:
            cfg[key] = arg
    return MLPClassifier(**cfg)


# --- the client task --------------------------------------------------------------------------
def encoder(a: argparse.Namespace) -> Any:
    """The encoder named by --encoder (a zoo name or a folder), on --device."""
    return load_encoder(a.encoder, a.device, progress=not a.quiet, log=logger(a))


def truth(
    enc: Any, name: str, trigger: Path | None, target: int | None
) -> tuple[Trigger, int | None]:
    """The trigger (--trigger, else the encoder's record) checked against ``enc``, and the
    target class (--target, else the record's; None for a task-agnostic text backdoor)."""
    if trigger is not None and target is not None:
        return load_trigger(trigger).check(enc), target
    try:
        rec_trigger, rec_target = ground_truth(name)
    except InputError as exc:
        raise InputError(f"{exc} Use --trigger FILE and --target N.") from exc
    chosen = load_trigger(trigger) if trigger else rec_trigger
    return chosen.check(enc), target if target is not None else rec_target


def recorded_source(name: str) -> int | None:
    """The source class a source-specific backdoored encoder records (None for the others, and
    for an encoder that records no ground truth)."""
    try:
        return attack_source(name)
    except (InputError, ModelLoadError):
        return None


def check_target(target: int | None, labels: Any, data: str, what: str = "target") -> None:
    """Refuse a ``what`` class (the target, or a source) that the task's labels do not have."""
    n = int(labels.max()) + 1
    if target is not None and target >= n:
        raise InputError(
            f"Expected a {what} class from 0 to {n - 1} (the classes of {data!r}), got "
            f"{target}. Pass --{what} with one of the task's classes."
        )


def fitted_client(a: argparse.Namespace) -> DownstreamClient:
    """The client task named by --encoder/--data/--trigger/--target, trained on the encoder."""
    enc = encoder(a)
    trigger, target = truth(enc, a.encoder, a.trigger, a.target)
    data = a.data or paper(enc.modality).downstream
    train, test = load_downstream(data)
    for part in (train, test):  # data of another size or kind fails here, named as data
        enc.check_inputs(part.inputs, f"downstream data {data!r}")
    check_target(target, train.labels, data)
    source = recorded_source(a.encoder) if a.trigger is None else None
    from mudjack.downstream.zeroshot import zero_shot_for

    zero_shot = zero_shot_for(a.encoder, data, a.device)  # a CLIP-style model of this task
    client = DownstreamClient(
        train, test, trigger=trigger, target=target, classifier=classifier(a), device=a.device,
        source=source if source != target else None, zero_shot=zero_shot,
    )  # fmt: skip
    client.fit(enc, seed=a.seed, progress=not a.quiet)
    if target is None and not a.quiet:
        log(f"attack target: class {client.target_} (the class most triggered inputs get)")
    return client
