"""The paper's default vision experiment at CPU scale (and at the paper's scale, one setting away).

One run: load the backdoored encoder and its clean parent; as the client, train a classifier
on each; for every bug instance, draw a real bug, reverse-engineer its trigger, patch the
encoder with Mudjacking, re-train the client on the patched encoder and measure CP, Acc, ASR
and AccB before and after.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mudjack.bug import select_bug
from mudjack.data import load_downstream, load_pretraining
from mudjack.downstream import DownstreamClient, Metrics, MLPClassifier
from mudjack.encoders import Encoder, load_encoder, read_config
from mudjack.errors import InputError
from mudjack.patching import create_patcher
from mudjack.reverse import TriggerReverser
from mudjack.triggers import PatchTrigger, load_trigger
from mudjack.utils import make_generator
from mudjack.zoo import ZOO, load_zoo_encoder, zoo_path


@dataclass
class VisionSetting:
    """Everything one vision experiment depends on. ``paper()`` gives the paper's values."""

    name: str = "default"
    encoder: str = "fmnist-badencoder-r18w16"
    clean_encoder: str = "fmnist-simclr-r18w16"
    downstream: str = "fashion_mnist"
    n_train: int | None = None
    n_test: int | None = None
    val_data: str = "fashion_mnist"
    val_size: int = 2000
    method: str = "occlusion"
    window: int = 5
    patcher: str = "mudjacking"
    patch: dict[str, Any] = field(
        default_factory=lambda: {
            "lambda_l": 1.0,
            "lambda_g": 1.0,
            "epochs": 200,
            "batch_size": 64,
            "lr": 1e-3,
            "max_steps": 600,
            "random_location": False,
        }
    )
    classifier: dict[str, Any] = field(
        default_factory=lambda: {
            "hidden": (512, 256),
            "dropout": 0.5,
            "epochs": 100,
            "lr": 1e-3,
            "batch_size": 256,
        }
    )

    def paper(self) -> VisionSetting:
        """This setting with the paper's sizes (Tables 17b, 18): needs a GPU to finish in time."""
        return replace(
            self,
            name=f"{self.name}-paper",
            val_size=50000,
            patch={**self.patch, "epochs": 200, "batch_size": 256, "lr": 1e-3, "max_steps": None},
            classifier={**self.classifier, "epochs": 500, "lr": 1e-4, "batch_size": 64},
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SETTINGS: dict[str, VisionSetting] = {
    "default": VisionSetting(),
    "mnist5k": VisionSetting(
        name="mnist5k", encoder="fmnist-badencoder-mnist5k-r18w16", downstream="mnist5k"
    ),
}


def get_setting(name: str) -> VisionSetting:
    """A named setting; ``NAME-paper`` gives its paper-scale version."""
    paper = name.endswith("-paper")
    base = name.removesuffix("-paper")
    if base not in SETTINGS:
        names = [*SETTINGS, *(f"{s}-paper" for s in SETTINGS)]
        raise InputError(f"Unknown setting {name!r}. Expected one of: {', '.join(names)}.")
    return SETTINGS[base].paper() if paper else SETTINGS[base]


def encoder_folder(name_or_path: str) -> Path:
    """The folder of a zoo model by name, or the given encoder folder path."""
    return zoo_path(name_or_path) if name_or_path in ZOO else Path(name_or_path)


def resolve_encoder(name_or_path: str, device: str | torch.device = "cpu") -> Encoder:
    """A zoo model by name, or an encoder folder by path."""
    return (
        load_zoo_encoder(name_or_path, device)
        if name_or_path in ZOO
        else load_encoder(name_or_path, device=device)
    )


def ground_truth(name_or_path: str) -> tuple[PatchTrigger, int]:
    """The true trigger and target class recorded with a backdoored encoder.

    The target comes from ``metadata.ground_truth`` in ``config.json``; the trigger from a
    ``trigger.safetensors`` beside it, or else from the recorded square-trigger spec.
    """
    folder = encoder_folder(name_or_path)
    cfg = read_config(folder)
    truth = cfg.get("metadata", {}).get("ground_truth", {})
    spec = dict(truth.get("trigger", {}))
    if "target" in truth and (folder / "trigger.safetensors").is_file():
        trigger = load_trigger(folder / "trigger.safetensors")
        if isinstance(trigger, PatchTrigger):
            return trigger, int(truth["target"])
    if "target" not in truth or spec.pop("kind", None) != "patch":
        raise InputError(
            f"Encoder {name_or_path!r} records no ground-truth patch trigger and "
            "target; pass them explicitly."
        )
    spec_in = cfg["input_spec"]
    shape = (spec_in["channels"], spec_in["height"], spec_in["width"])
    return PatchTrigger.square(shape, **spec), int(truth["target"])


def _mean_std(vals: list[float]) -> dict[str, float]:
    mean = sum(vals) / len(vals)
    return {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))}


def _summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) std of CP (as a 0-1 rate), Acc, ASR and AccB over bug instances."""
    return {k: _mean_std([float(r[k]) for r in rows]) for k in ("cp", "acc", "asr", "accb")}


def run_vision(
    setting: VisionSetting,
    *,
    bugs: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``bugs`` bug instances of ``setting``; return the results dict (see README)."""
    if bugs < 1:
        raise InputError(f"Expected at least one bug instance, got bugs={bugs}.")
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    backdoored = resolve_encoder(setting.encoder, device)
    clean_encoder = resolve_encoder(setting.clean_encoder, device)
    true_trigger, target = ground_truth(setting.encoder)
    train, test = load_downstream(setting.downstream)
    train, test = train.head(setting.n_train), test.head(setting.n_test)
    val_pool = load_pretraining(setting.val_data)
    classifier = MLPClassifier(**setting.classifier)

    def new_client() -> DownstreamClient:
        return DownstreamClient(
            train, test, trigger=true_trigger, target=target, classifier=classifier, device=device
        )

    say(f"client on the clean encoder ({len(train)} train / {len(test)} test inputs)")
    clean = new_client().fit(clean_encoder, seed=seed, progress=progress).metrics()
    client, patched_client = new_client(), new_client()
    say(f"clean: Acc {clean.acc:.2f}  ASR {clean.asr:.2f}  AccB {clean.accb:.2f}")
    reverser = TriggerReverser(method=setting.method, window=setting.window)
    patcher = create_patcher(setting.patcher, **setting.patch)
    rows = []
    for i in range(bugs):
        s = seed + i
        tb = time.perf_counter()
        if i == 0:
            client.fit(backdoored, seed=s, progress=progress)
        else:  # the backdoored features are kept: only the classifier is re-trained
            client.refit(seed=s, progress=progress)
        bug = select_bug(client, seed=s)
        before = client.metrics(bug.x_b, bug.label)
        say(
            f"bug {i + 1}/{bugs} (seed {s}): class {bug.label} -> predicted "
            f"{bug.metadata['predicted']}; before: {_fmt(before)}"
        )
        rev = reverser.reverse(backdoored, bug, seed=s, device=device)
        iou = rev.iou(true_trigger.mask)
        say(
            f"  reverse ({rev.method}): {rev.trigger.pixels} pixels, IoU {iou:.3f}, "
            f"{rev.seconds:.1f}s"
        )
        val = val_pool.images[
            torch.randperm(len(val_pool), generator=make_generator(s))[: setting.val_size]
        ]
        result = patcher.patch(
            backdoored, bug, val, rev.trigger, seed=s, device=device, progress=progress
        )
        say(f"  patch: {result.steps} steps in {result.seconds:.1f}s")
        patched_client.fit(result.encoder, seed=s, progress=progress)
        after = patched_client.metrics(bug.x_b, bug.label)
        say(f"  after:  {_fmt(after)}")
        if out_dir is not None:
            from mudjack.report import save_bug_figures

            save_bug_figures(
                out_dir,
                bug.x_b,
                bug.x_r,
                rev.clustered,
                rev.trigger.mask,
                true_trigger.mask,
                prefix=f"bug{i}_",
            )
        rows.append(
            {
                "seed": s,
                "true_label": bug.label,
                "target": target,
                "reverse": {"method": rev.method, "iou": iou, "pixels": rev.trigger.pixels},
                "before": before.to_dict(),
                "after": after.to_dict(),
                "patch_steps": result.steps,
                "seconds": {
                    "reverse": rev.seconds,
                    "patch": result.seconds,
                    "total": time.perf_counter() - tb,
                },
            }
        )
    return {
        "setting": setting.name,
        "config": setting.to_dict(),
        "bugs": rows,
        "clean": {"acc": clean.acc, "asr": clean.asr, "accb": clean.accb},
        "summary": {
            "before": _summary([r["before"] for r in rows]),
            "after": _summary([r["after"] for r in rows]),
            "iou": _mean_std([r["reverse"]["iou"] for r in rows]),
        },
        "seconds": time.perf_counter() - t0,
    }


def _fmt(m: Metrics) -> str:
    return f"CP {'yes' if m.cp else 'no'}  Acc {m.acc:.2f}  ASR {m.asr:.2f}  AccB {m.accb:.2f}"
