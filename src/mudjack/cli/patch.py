"""`mudjack patch`: patch an encoder with a bug instance into a new encoder folder."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from mudjack.bug import load_bug
from mudjack.cli._common import (
    add_common,
    encoder,
    log,
    nonnegative_float,
    nonnegative_int,
    paper,
    positive_float,
    positive_int,
    sci,
    validation,
)
from mudjack.cli._reversing import (
    add_inversion,
    check_method,
    describe,
    method_help,
    reverse_trigger,
)
from mudjack.encoders import encoder_folder, read_config, save_encoder
from mudjack.encoders.clip import text_tower_files
from mudjack.errors import InputError, MudjackError
from mudjack.experiments import get_setting
from mudjack.patching import Mudjacking, PatchCheckpoint
from mudjack.patching.distributed import init_from_env, is_writer, world
from mudjack.patching.locality import LOCALITY
from mudjack.patching.stopping import StopRule
from mudjack.triggers import Trigger, load_trigger
from mudjack.utils import (
    ensure_new_path,
    sha256_tensors,
    write_json_atomic,
)

# The patch's loss terms every log_every steps, written into the patched folder.
LOG_NAME = "patch_log.json"


def _per_modality(key: str, fmt: Any = str) -> str:
    """``"256 images, 32 text"``: a paper value of each modality."""
    parts = []
    for m, word in (("image", "images"), ("text", "text")):
        s = paper(m)
        parts.append(f"{fmt(s.val_size if key == 'val_size' else s.patch[key])} {word}")
    return ", ".join(parts)


def _add_hyperparameters(p: argparse.ArgumentParser) -> None:
    img, txt = paper("image").patch, paper("text").patch
    g = p.add_argument_group(
        f"Mudjacking hyperparameters (paper: λ={img['lambda_l']:g}, T={img['epochs']}; "
        f"m={img['batch_size']}, α={sci(img['lr'])} for images; m={txt['batch_size']}, "
        f"α={sci(txt['lr'])} for text)"
    )
    g.add_argument(
        "--lambda-l",
        type=nonnegative_float,
        help=f"locality weight (default: {img['lambda_l']:g})",
    )
    g.add_argument(
        "--lambda-g", type=nonnegative_float, help=f"generalizability weight ({img['lambda_g']:g})"
    )
    g.add_argument(
        "--epochs", type=positive_int, help=f"epochs T over D_val (default: {img['epochs']})"
    )
    g.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"mini-batch size m (default: {_per_modality('batch_size')})",
    )
    g.add_argument(
        "--lr", type=positive_float, help=f"learning rate (default: {_per_modality('lr', sci)})"
    )
    g.add_argument(
        "--max-steps",
        type=positive_int,
        default=None,
        help="stop after this many steps (default: no cap; the demos use "
        f"{get_setting('default').patch['max_steps']} / "
        f"{get_setting('text-por').patch['max_steps']})",
    )
    g.add_argument(
        "--optimizer",
        choices=["adam", "sgd"],
        default="adam",
        help="adam (default) or sgd (momentum 0.9, the authors' code's)",
    )
    g.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning rate over the steps: constant (default, the paper's) or cosine "
        "(decayed to 0 by the last step)",
    )
    g.add_argument(
        "--warmup",
        type=nonnegative_int,
        default=0,
        help="steps over which the learning rate first rises linearly to --lr (default: 0)",
    )
    g.add_argument(
        "--anchor",
        type=nonnegative_float,
        default=0.0,
        metavar="ALPHA",
        help="weight-space anchor (L2-SP): add ALPHA/2 * ||θ' - θ||² to the loss (default: 0, "
        "none, as the paper); holds features D_val does not cover but can let the backdoor "
        "return (docs/benchmarks.md)",
    )
    g.add_argument(
        "--locality",
        choices=LOCALITY,
        default="cosine",
        help="how the locality loss compares features: cosine (default, the paper's), centred "
        "(after removing the frozen features' batch mean) or relational (the batch's pairwise "
        "cosines kept); relational held a shifted-domain client but kept the backdoor on a "
        "same-domain one, see docs/benchmarks.md",
    )
    g.add_argument(
        "--random-location",
        action="store_true",
        help="Mudjacking-RL: embed the trigger at random positions",
    )
    g.add_argument(
        "--stop",
        choices=["schedule", "auto"],
        default="schedule",
        help="schedule: run every step (default); auto: stop once effectiveness, trigger "
        "invariance and locality on 256 held-out validation inputs have converged",
    )
    g.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16: bfloat16 autocast in the patch loop (for GPUs; fp32 by default)",
    )
    g.add_argument("--compile", action="store_true", help="run the encoders via torch.compile")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patch", help="patch an encoder with a bug instance (writes a new folder)")
    p.add_argument("--encoder", required=True, help="zoo name or encoder folder")
    p.add_argument("--bug", type=Path, required=True, help="bug folder")
    img, txt = paper("image").val_data, paper("text").val_data
    p.add_argument(
        "--val",
        help=f"clean validation inputs: images {img} (default), mnist5k, sklearn_digits or a "
        f"path; text {txt} (default) or a .csv/.tsv path; 'a+b' mixes sets in equal shares",
    )
    p.add_argument(
        "--val-size",
        type=positive_int,
        help=f"validation inputs (default: {_per_modality('val_size', lambda n: f'{n:,}')})",
    )
    p.add_argument("--trigger", type=Path, help="trigger file (default: reverse-engineer one)")
    p.add_argument(
        "--method", default="occlusion", help=f"if reversing the trigger: {method_help()}"
    )
    p.add_argument("--out", type=Path, required=True, help="new encoder folder")
    _add_hyperparameters(p)
    add_inversion(p)
    g = p.add_argument_group("surviving a kill")
    g.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=100,
        metavar="N",
        help="save the patch's state every N steps into the work folder OUT.work, removed "
        "when the patch is written (default: 100)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted patch from its work folder OUT.work (same arguments)",
    )
    add_common(p)


def _patcher(a: argparse.Namespace, modality: str) -> Mudjacking:
    """Mudjacking with the paper's values for the encoder's modality and any overrides."""
    given = {
        "lambda_l": a.lambda_l,
        "lambda_g": a.lambda_g,
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "lr": a.lr,
        "max_steps": a.max_steps,
    }
    kwargs = {**paper(modality).patch, **{k: v for k, v in given.items() if v is not None}}
    stop = StopRule() if a.stop == "auto" else None
    options = {"random_location": a.random_location, "stop": stop}
    options |= {"optimizer": a.optimizer, "schedule": a.schedule, "warmup": a.warmup}
    options |= {"anchor": a.anchor, "locality": a.locality}
    options |= {"precision": a.precision, "compile": a.compile}
    return Mudjacking(**{**kwargs, **options})


def _provenance(
    a: argparse.Namespace, enc: Any, bug: Any, how: str, val: tuple[str, Any], result: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The patched folder's provenance (its parent's history appended) and the parent's
    metadata (ground truth and description), which the patched folder keeps."""
    provenance: dict[str, Any] = {
        "parent": str(a.encoder),
        "parent_state_sha256": sha256_tensors(*enc.state_dict().values()),
        "bug": str(a.bug),
        "bug_sha256": bug.sha256,
        "trigger": how,
        "patcher": result.params,
        "seed": a.seed,
        "validation": {"data": str(val[0]), "size": len(val[1])},
        "steps": result.steps,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        cfg = read_config(encoder_folder(a.encoder))
    except MudjackError:
        return provenance, {}
    provenance["history"] = [
        *cfg.get("provenance", {}).get("history", []),
        cfg.get("provenance", {}),
    ]
    return provenance, cfg.get("metadata", {})


def patch_files(trigger: Trigger, log: list[dict[str, float]], parent: Any) -> dict[str, Any]:
    """What a patched folder holds beside its weights: the trigger, the loss log, and a
    CLIP-style parent's text tower (the patch leaves it as it was)."""
    try:
        tower = text_tower_files(encoder_folder(parent))
    except (OSError, MudjackError):
        tower = {}
    return {
        "trigger.safetensors": trigger.save,
        LOG_NAME: lambda path: write_json_atomic(path, log),
        **tower,
    }


def work_folder(out: Path) -> Path:
    """Where an unfinished patch of ``out`` keeps its checkpoint and trigger."""
    return out.with_name(out.name + ".work")


def _check_work(a: argparse.Namespace, work: Path) -> None:
    """A plain rerun over an interrupted patch's work folder is refused, naming it."""
    if work.exists() and not a.resume:
        step = PatchCheckpoint.step_of(work)
        at = f"at step {step}" if step is not None else "before its first checkpoint"
        raise InputError(
            f"An interrupted patch of {str(a.out)!r} left its work folder {str(work)!r} "
            f"(stopped {at}). Rerun the same command with --resume to continue it, or "
            "delete the work folder to start over."
        )


def _trigger(
    a: argparse.Namespace, enc: Any, bug: Any, work: Path, val: Any, keep: bool = True
) -> tuple[Trigger, str]:
    """The trigger file given, the one an interrupted run saved, or a new reverse-engineered
    one (inversion runs over ``val``; saved into the work folder with ``keep``, so that a
    resumed run patches with the same)."""
    saved, record = work / "trigger.safetensors", work / "trigger.json"
    if a.trigger:
        return load_trigger(a.trigger).check(enc), f"file {a.trigger}"
    if a.resume and saved.is_file() and record.is_file():
        return load_trigger(saved).check(enc), json.loads(record.read_text())["how"]
    rev = reverse_trigger(a, enc, bug, val)
    how = f"reverse-engineered ({describe(a)})"
    if not a.quiet:
        log(f"reverse-engineered trigger {rev.trigger!r} in {rev.seconds:.1f}s")
    if not keep:
        return rev.trigger, how
    work.mkdir(parents=True, exist_ok=True)
    saved.unlink(missing_ok=True)
    rev.trigger.save(saved)
    write_json_atomic(record, {"how": how}, overwrite=True)
    return rev.trigger, how


def run(a: argparse.Namespace) -> int:
    ensure_new_path(a.out, "encoder folder")
    check_method(a.method)
    a.device = init_from_env(a.device)  # under torchrun: one process per device
    single = world()[1] == 1
    if not single and a.resume:
        raise InputError(
            "Expected no --resume under torchrun, got it: checkpoints are kept by single-process "
            "patches only. Resume without torchrun, or start over."
        )
    a.quiet = a.quiet or not is_writer()  # one process reports
    work = work_folder(Path(a.out))
    _check_work(a, work)
    enc = encoder(a)
    bug = load_bug(a.bug).check(enc)
    patcher = _patcher(a, enc.modality)  # bad hyperparameters fail before any work
    val_name = a.val or paper(enc.modality).val_data
    val = validation(val_name, a.val_size, a.seed, enc.modality)
    trigger, how = _trigger(a, enc, bug, work, val, keep=single)
    ckpt = PatchCheckpoint(work, every=a.checkpoint_every) if single else None
    if a.resume and not a.quiet:
        step = PatchCheckpoint.step_of(work)
        log(f"resuming from step {step}" if step is not None else "no checkpoint: starting")
    result = patcher.patch(
        enc, bug, val, trigger, seed=a.seed, device=a.device, progress=not a.quiet,
        checkpoint=ckpt,
    )  # fmt: skip
    if not is_writer():
        return 0  # rank 0 writes the patched encoder
    provenance, metadata = _provenance(a, enc, bug, how, (val_name, val), result)
    save_encoder(
        result.encoder.cpu(), a.out, provenance=provenance, metadata=metadata,
        extra_files=patch_files(trigger, result.history, a.encoder),
    )  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    processes = "" if single else f" on {world()[1]} processes"
    print(
        f"patched encoder written to {a.out} ({result.steps} steps{processes}, "
        f"{result.seconds:.1f}s)"
    )
    return 0
