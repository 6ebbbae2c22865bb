"""`mudjack check`: the provider's acceptance gate (intake, release) and the persistence check."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from mudjack.bug import load_bug
from mudjack.cli._common import (
    TARGET_HELP,
    add_classifier,
    add_common,
    data_help,
    encoder,
    fitted_client,
    log,
    nonnegative_int,
    paper,
    positive_float,
    positive_int,
    validation,
)
from mudjack.data import load_downstream, load_pretraining
from mudjack.encoders import load_encoder
from mudjack.errors import InputError
from mudjack.gate import Intake, KnnProbe, ProbeData, Release
from mudjack.gate.persistence import CleanFineTune
from mudjack.reverse import TriggerReverser
from mudjack.triggers import load_trigger
from mudjack.utils import ensure_new_path, write_json_atomic

GATES = {"intake": Intake, "release": Release}


def _defaults(cls: type) -> dict[str, Any]:
    return {
        k: p.default
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="the acceptance gate: a bug report (intake), a patch (release), persistence",
        description="intake: is a bug report plausible, before patching (x_r's class under "
        "the provider's k-NN probe, the reverse-engineered trigger's size, the rise of "
        "cos(h(x_b), h(x_r)) when it is occluded)? release: is a patched encoder safe to "
        "serve (feature drift, probe accuracy overall and on x_r's class, trigger invariance, "
        "the bug fixed)? persistence: ASR after a brief clean fine-tune of the patched encoder, "
        "beside the same fine-tune of the unpatched one. intake and release exit 0 when "
        "accepted, 1 when refused (docs/gate.md).",
    )
    p.add_argument("stage", choices=["intake", "release", "persistence"])
    p.add_argument(
        "--encoder", required=True, help="the encoder reported against (zoo name, folder)"
    )
    p.add_argument("--bug", type=Path, help="bug folder (intake, release)")
    p.add_argument("--patched", type=Path, help="patched encoder folder (release, persistence)")
    p.add_argument(
        "--trigger",
        type=Path,
        help="release: the patch's trigger (default: PATCHED/trigger.safetensors); persistence: "
        "the attack's (default: the encoder's record); intake reverse-engineers its own",
    )
    p.add_argument(
        "--probe-data",
        help="the provider's labelled data, its training split (default: the labelled "
        "pre-training images; for text the downstream data)",
    )
    p.add_argument("--probe-size", type=positive_int, default=2000,
                   help="probe inputs, and as many held out (default: 2000)")  # fmt: skip
    p.add_argument("--json", type=Path, help="write the verdict as JSON (new file; e.g. "
                   "PATCHED/gate.json, which `mudjack history` shows)")  # fmt: skip
    g = p.add_argument_group("thresholds (defaults calibrated on genuine reports, docs/gate.md)")
    for cls in GATES.values():
        for name, default in _defaults(cls).items():
            kind = positive_int if isinstance(default, int) else float
            g.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default,
                           help=f"{cls.__name__} (default: {default:g})")  # fmt: skip
    g = p.add_argument_group("persistence")
    ft = _defaults(CleanFineTune)
    g.add_argument("--ft-steps", type=positive_int, default=ft["steps"],
                   help=f"clean fine-tune steps (default: {ft['steps']})")  # fmt: skip
    g.add_argument("--ft-lr", type=positive_float, default=ft["lr"],
                   help=f"its learning rate (default: {ft['lr']:g})")  # fmt: skip
    g.add_argument("--ft-batch-size", type=positive_int, default=ft["batch_size"],
                   help=f"its batch size (default: {ft['batch_size']})")  # fmt: skip
    g.add_argument("--ft-data", help="its clean images (default: the modality's D_val data)")
    g.add_argument("--ft-size", type=positive_int, default=5000,
                   help="its images, drawn with --seed (default: 5000)")  # fmt: skip
    g.add_argument("--data", help=data_help())
    g.add_argument("--target", type=nonnegative_int, help=TARGET_HELP)
    add_classifier(p)
    add_common(p)


def _need(a: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n}" for n in names if getattr(a, n) is None]
    if missing:
        raise InputError(
            f"Expected {' and '.join(missing)} for `mudjack check {a.stage}`, got none. "
            f"Pass {' '.join(m + ' PATH' for m in missing)}."
        )


def _gate(a: argparse.Namespace) -> Any:
    cls = GATES[a.stage]
    return cls(**{k: getattr(a, k) for k in _defaults(cls)})


def _probe_data(a: argparse.Namespace, modality: str) -> ProbeData:
    """The provider's labelled data: --probe-data's training split, or by default the labelled
    pre-training images (images; never a client's) or the downstream training split (text)."""
    if a.probe_data is None and modality == "image":
        labelled: Any = load_pretraining(paper(modality).val_data)
    else:
        labelled = load_downstream(a.probe_data or paper(modality).downstream)[0]
    n = a.probe_size
    if len(labelled) < 2 * n:
        raise InputError(
            f"Expected at least {2 * n} labelled probe inputs (--probe-size {n}, as many held "
            f"out), got {len(labelled)}. Pass a smaller --probe-size."
        )
    shuffled = labelled.shuffled(a.seed)
    fit, held = shuffled.subset(slice(0, n)), shuffled.subset(slice(n, 2 * n))
    return ProbeData(fit.inputs, fit.labels, held.inputs, held.labels)


def _intake(a: argparse.Namespace, gate: Intake) -> Any:
    enc = encoder(a)
    bug = load_bug(a.bug)
    data = _probe_data(a, enc.modality)
    probe = KnnProbe(k=a.k).fit(enc, data.fit_inputs, data.fit_labels, device=a.device)
    rev = None
    if a.trigger is None and bug.modality == enc.modality:
        rev = TriggerReverser().reverse(enc, bug, seed=a.seed, device=a.device)
    elif a.trigger is not None:
        raise InputError(
            "Expected no --trigger for intake: it reverse-engineers the trigger from the bug "
            "itself (what the patch would use). Leave --trigger out."
        )
    return gate.check(enc, bug, probe, rev, seed=a.seed, device=a.device)


def _release(a: argparse.Namespace, gate: Release) -> Any:
    enc, bug = encoder(a), load_bug(a.bug)
    patched = load_encoder(a.patched, a.device)
    trigger = load_trigger(a.trigger or a.patched / "trigger.safetensors").check(enc)
    data = _probe_data(a, enc.modality)
    return gate.check(enc, patched, bug.check(enc), trigger, data, seed=a.seed, device=a.device)


def _persistence(a: argparse.Namespace) -> int:
    _need(a, "patched")
    tune = CleanFineTune(steps=a.ft_steps, lr=a.ft_lr, batch_size=a.ft_batch_size)
    client = fitted_client(a)  # on the backdoored encoder
    enc = client.encoder_
    images = validation(a.ft_data or paper(enc.modality).val_data, a.ft_size, a.seed, enc.modality)
    record: dict[str, Any] = {"fine_tune": tune.get_params(), "ft_images": len(images)}
    for name, e in (("backdoored", enc), ("patched", load_encoder(a.patched, a.device))):
        if not a.quiet:
            log(f"{name}: measuring, fine-tuning ({a.ft_steps} steps), measuring again")
        before = client.fit(e, seed=a.seed).metrics()
        tuned = tune.apply(e, images, seed=a.seed, device=a.device, progress=not a.quiet)
        after = client.fit(tuned, seed=a.seed).metrics()
        record[name] = {"before": before.to_dict(), "after_fine_tune": after.to_dict()}
    print(
        f"{'':12}{'ASR':>8}{'Acc':>8}   after clean fine-tune ({a.ft_steps} steps):   ASR     Acc"
    )
    for name in ("backdoored", "patched"):
        b, f = record[name]["before"], record[name]["after_fine_tune"]
        print(f"{name:12}{b['asr']:8.2f}{b['acc']:8.2f}{'':36}{f['asr']:8.2f}{f['acc']:8.2f}")
    if a.json:
        write_json_atomic(a.json, record)
    return 0


def run(a: argparse.Namespace) -> int:
    if a.json:
        ensure_new_path(a.json, "check file")
    if a.stage == "persistence":
        return _persistence(a)
    _need(a, "bug", *(["patched"] if a.stage == "release" else []))
    gate = _gate(a)  # bad thresholds fail before any work
    verdict = _intake(a, gate) if a.stage == "intake" else _release(a, gate)
    print(verdict.summary())
    if a.json:
        write_json_atomic(a.json, verdict.to_dict())
    return 0 if verdict.accepted else 1
