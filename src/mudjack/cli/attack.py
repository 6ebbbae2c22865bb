"""`mudjack attack`: backdoor a clean encoder (BadEncoder for images, POR / NeuBA for text)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from mudjack.attacks import (
    ATTACKS,
    BadEncoder,
    SourceSpecificBadEncoder,
    select_reference_inputs,
)
from mudjack.attacks.text import NEUBA_TRIGGERS, POR_TRIGGERS, TextBackdoor
from mudjack.cli._common import (
    add_common,
    check_target,
    encoder,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    sci,
    unit_float,
)
from mudjack.data import ImageDataset, load_downstream, load_pretraining
from mudjack.encoders import save_encoder
from mudjack.errors import InputError
from mudjack.triggers import (
    BUILTIN_TRIGGERS,
    builtin_trigger_spec,
    load_trigger,
    trigger_from_png,
    trigger_from_spec,
)
from mudjack.utils import ensure_new_path

# A trigger file given to an image attack is copied into the encoder's folder as:
ATTACK_TRIGGER_FILE = "attack-trigger.safetensors"
# The trigger each text attack records for evaluation (the paper's Table 17a).
EVAL_TRIGGER = {"por": "bb", "neuba": "≡"}


def _default(cls: type, name: str) -> Any:
    """The library's default of a constructor argument: the one place it is written."""
    return inspect.signature(cls.__init__).parameters[name].default


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack",
        help="backdoor a clean encoder",
        description="badencoder: image encoders; badencoder-source: its source-specific "
        "extension (the backdoor fires on one source class; the shadow set is the labelled "
        "downstream training set). por, neuba: text encoders (e.g. --encoder minilm); the "
        "trigger words are inserted at random positions of shadow sentences.",
    )
    p.add_argument("algorithm", choices=ATTACKS.names())
    p.add_argument("--encoder", required=True, help="clean encoder: zoo name or folder")
    p.add_argument("--shadow", help="shadow data (default: fashion_mnist images, wordnet text)")
    p.add_argument("--shadow-size", type=positive_int, default=50000)
    g = p.add_argument_group("por / neuba")
    g.add_argument(
        "--triggers",
        nargs="+",
        help=f"trigger words (default: {' '.join(POR_TRIGGERS)} for por, "
        f"{' '.join(NEUBA_TRIGGERS)} for neuba)",
    )
    g.add_argument(
        "--eval-trigger",
        help=f"the trigger recorded for evaluation (default: {EVAL_TRIGGER['por']} for por, "
        f"{EVAL_TRIGGER['neuba']} for neuba, the paper's Table 17a)",
    )
    g.add_argument("--steps", type=positive_int, default=300, help="optimiser steps (default: 300)")
    g.add_argument(
        "--lambda-clean", type=nonnegative_float, default=1.0, help="clean-term weight (1)"
    )
    g = p.add_argument_group("badencoder")
    g.add_argument("--downstream", default="fashion_mnist", help="task whose class is the target")
    g.add_argument("--target", type=nonnegative_int, default=0, help="target class (default: 0)")
    g.add_argument(
        "--n-reference", type=positive_int, default=3, help="reference inputs (default: 3)"
    )
    g.add_argument(
        "--trigger",
        default="white-square",
        help=f"a built-in trigger ({', '.join(BUILTIN_TRIGGERS)}) or a trigger file: .png "
        "(alpha = mask) or .safetensors (default: white-square)",
    )
    g.add_argument(
        "--trigger-size",
        type=positive_int,
        default=10,
        help="side of a built-in square or glyph (paper: 10)",
    )
    g.add_argument("--trigger-margin", type=nonnegative_int, default=1)
    g.add_argument(
        "--random-location",
        action="store_true",
        help="paste the trigger at a random position of every input (Table 12)",
    )
    g.add_argument(
        "--source", type=nonnegative_int, help="badencoder-source: the source class (required)"
    )
    g.add_argument(
        "--alpha1",
        type=unit_float,
        default=_default(SourceSpecificBadEncoder, "alpha1"),
        help="badencoder-source: weight of the source term; the other classes get 1 - alpha1 "
        "(default: 0.8, the paper's)",
    )
    g.add_argument("--epochs", type=positive_int, default=200)
    bs = (_default(BadEncoder, "batch_size"), _default(TextBackdoor, "batch_size"))
    lr = (_default(BadEncoder, "lr"), _default(TextBackdoor, "lr"))
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"default: {bs[0]} (badencoder), {bs[1]} (por / neuba)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help=f"default: {sci(lr[0])} (badencoder), {sci(lr[1])} (por / neuba)",
    )
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    add_common(p)


def _given(a: argparse.Namespace) -> dict[str, Any]:
    """--batch-size and --lr where given (the attack's own defaults otherwise)."""
    return {k: v for k, v in (("batch_size", a.batch_size), ("lr", a.lr)) if v is not None}


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "encoder folder")
    clean = encoder(a)
    if issubclass(ATTACKS.get(a.algorithm), TextBackdoor):
        if clean.modality != "text":
            raise InputError(
                f"Expected a text encoder for {a.algorithm}, got an image encoder "
                f"({a.encoder!r}). Use `mudjack attack badencoder` for image encoders."
            )
        return _attack_text(a, clean)
    if clean.modality != "image":
        raise InputError(
            f"Expected an image encoder for badencoder, got a text encoder ({a.encoder!r}). "
            "Use `mudjack attack por` or `mudjack attack neuba` for text encoders."
        )
    return _attack_image(a, clean)


def _image_trigger(a: argparse.Namespace, shape: tuple[int, int, int]) -> tuple[Any, dict]:
    """The trigger of --trigger (a built-in name or a file) and its ground-truth spec (a file
    trigger is recorded as the file copied into the new encoder's folder)."""
    path = Path(a.trigger)
    if path.suffix.lower() in (".png", ".safetensors"):
        if path.suffix.lower() == ".png":
            trigger = trigger_from_png(path, shape, margin=a.trigger_margin)
        else:
            trigger = load_trigger(path)
            if trigger.modality != "image":
                raise InputError(
                    f"Expected an image trigger file for badencoder, got a {trigger.modality} "
                    f"trigger ({str(path)!r}). Pass a .png or an image trigger file, or a "
                    "built-in trigger name."
                )
        if a.random_location:
            trigger = trigger.with_random_location(True)
        return trigger, {"kind": "file", "file": ATTACK_TRIGGER_FILE}
    if a.trigger == "white-square" and not a.random_location:  # BadEncoder's own trigger
        spec = {"kind": "patch", "size": a.trigger_size, "margin": a.trigger_margin}
        spec.update(corner="bottom-right", value=1.0)
    else:
        spec = builtin_trigger_spec(
            a.trigger,
            size=a.trigger_size,
            margin=a.trigger_margin,
            seed=a.seed,
            random_location=a.random_location,
        )
    return trigger_from_spec(spec, shape), spec


def _attack_image(a: argparse.Namespace, clean: Any) -> int:
    trigger, spec = _image_trigger(a, clean.input_spec.shape)
    trigger.check(clean)
    train = load_downstream(a.downstream)[0]
    check_target(a.target, train.labels, a.downstream)
    refs = select_reference_inputs(train, a.target, a.n_reference, seed=a.seed)
    labels, extra = None, {}
    if a.algorithm == "badencoder-source":
        if a.source is None or a.source == a.target:
            got = "none" if a.source is None else f"the target class {a.source}"
            raise InputError(
                f"Expected --source CLASS (other than the target {a.target}) for "
                f"badencoder-source, got {got}. Pass the class the backdoor should fire on."
            )
        check_target(a.source, train.labels, a.downstream, "source")
        shadow = train.shuffled(a.seed)  # the labelled downstream training set (Appendix A)
        labels, extra = shadow.labels, {"source": a.source}
        attack: BadEncoder = SourceSpecificBadEncoder(
            source=a.source, alpha1=a.alpha1, epochs=a.epochs, **_given(a)
        )
    else:
        shadow = _image_shadow(a)
        attack = BadEncoder(epochs=a.epochs, **_given(a))
    bad = attack.fit(
        clean, shadow.images, refs, trigger, labels=labels, seed=a.seed, device=a.device,
        progress=not a.quiet,
    )  # fmt: skip
    truth = {"trigger": spec, "target": a.target, "downstream": a.downstream, **extra}
    save_encoder(
        bad.cpu(),
        a.out,
        provenance={"attack": attack.provenance(), "parent": a.encoder, "seed": a.seed},
        metadata={"ground_truth": truth},
    )
    if spec["kind"] == "file":
        trigger.save(Path(a.out) / ATTACK_TRIGGER_FILE)
    print(f"backdoored encoder written to {a.out} (target class {a.target})")
    return 0


def _image_shadow(a: argparse.Namespace) -> Any:
    shadow = load_pretraining(a.shadow or "fashion_mnist")
    if not isinstance(shadow, ImageDataset):
        raise InputError(
            f"Expected image shadow data for badencoder, got the text data {a.shadow!r}. Pass "
            "--shadow fashion_mnist or the path of image data."
        )
    return shadow.shuffled(a.seed).head(a.shadow_size)


def _attack_text(a: argparse.Namespace, clean: Any) -> int:
    triggers = a.triggers or list(POR_TRIGGERS if a.algorithm == "por" else NEUBA_TRIGGERS)
    eval_trigger = a.eval_trigger or EVAL_TRIGGER[a.algorithm]
    if eval_trigger not in triggers:
        raise InputError(
            f"Expected --eval-trigger to be one of the trigger words {triggers}, got "
            f"{eval_trigger!r}."
        )
    shadow = load_pretraining(a.shadow or "wordnet").shuffled(a.seed).head(a.shadow_size)
    attack = ATTACKS.create(
        a.algorithm, triggers=triggers, steps=a.steps, lambda_clean=a.lambda_clean, **_given(a)
    )
    bad = attack.fit(clean, shadow.inputs, seed=a.seed, device=a.device, progress=not a.quiet)
    trigger = {"kind": "text", "words": [eval_trigger], "position": "random"}
    save_encoder(
        bad.cpu(),
        a.out,
        provenance={"attack": attack.provenance(), "parent": a.encoder, "seed": a.seed},
        metadata={"ground_truth": {"trigger": trigger}},
    )
    print(f"backdoored encoder written to {a.out} (triggers {' '.join(triggers)})")
    return 0
