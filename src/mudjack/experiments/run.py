"""The paper's main experiments (Tables 1 and 2) at CPU scale, and at the paper's scale one
setting away, for vision and for text.

One run: load the backdoored encoder and its clean parent; as the client, train a classifier
on each; for every bug instance, draw a real bug, reverse-engineer its trigger, patch the
encoder with Mudjacking, re-train the client on the patched encoder and measure CP, Acc, ASR
and AccB before and after. Reverse-engineering is scored by the IoU of the recovered mask
(images) or the precision and recall of the recovered trigger words (text).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mudjack.attacks import ground_truth
from mudjack.bug import select_bug
from mudjack.data import load_downstream, load_pretraining
from mudjack.downstream import DownstreamClient, Metrics, MLPClassifier
from mudjack.encoders import Encoder, load_encoder

# Old names, re-exported until every caller imports them from their new homes
# (mudjack.encoders.load_encoder and encoder_folder, mudjack.attacks.ground_truth).
from mudjack.encoders import encoder_folder as encoder_folder
from mudjack.encoders import load_encoder as resolve_encoder  # noqa: F401
from mudjack.errors import InputError
from mudjack.patching import create_patcher
from mudjack.reverse import TriggerReverser
from mudjack.triggers import PatchTrigger, TextTrigger, Trigger
from mudjack.utils import make_generator, take


@dataclass
class Setting:
    """Everything one experiment depends on. ``paper()`` gives the paper's values.

    The defaults are the vision default setting; :data:`SETTINGS` holds the text ones.
    ``window`` is the image occlusion window, ``occlude`` the text occlusion rule.
    """

    name: str = "default"
    modality: str = "image"
    encoder: str = "fmnist-badencoder-r18w16"
    clean_encoder: str = "fmnist-simclr-r18w16"
    downstream: str = "fashion_mnist"
    n_train: int | None = None
    n_test: int | None = None
    val_data: str = "fashion_mnist"
    val_size: int = 2000
    method: str = "occlusion"
    window: int = 5
    occlude: str = "remove"
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

    def paper(self) -> Setting:
        """This setting with the paper's sizes (Tables 17b, 18): needs a GPU to finish in time."""
        if self.modality == "text":
            return replace(
                self,
                name=f"{self.name}-paper",
                n_train=None,
                n_test=None,
                val_size=100000,
                patch={
                    **self.patch,
                    "epochs": 200,
                    "batch_size": 32,
                    "lr": 1e-5,
                    "max_steps": None,
                },
                classifier={**self.classifier, "hidden": (), "epochs": 10, "lr": 1e-3},
            )
        return replace(
            self,
            name=f"{self.name}-paper",
            val_size=50000,
            patch={**self.patch, "epochs": 200, "batch_size": 256, "lr": 1e-3, "max_steps": None},
            classifier={**self.classifier, "epochs": 500, "lr": 1e-4, "batch_size": 64},
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text_setting(name: str, attack: str, downstream: str) -> Setting:
    return Setting(
        name=name,
        modality="text",
        encoder=f"minilm-{attack}",
        clean_encoder="minilm",
        downstream=downstream,
        n_train=4000,
        n_test=2000,
        val_data="wordnet",
        val_size=2000,
        patch={
            "lambda_l": 1.0,
            "lambda_g": 1.0,
            "epochs": 200,
            "batch_size": 16,
            "lr": 1e-5,
            "max_steps": 200,
            "random_location": False,
        },
    )


SETTINGS: dict[str, Setting] = {
    "default": Setting(),
    "mnist5k": Setting(
        name="mnist5k", encoder="fmnist-badencoder-mnist5k-r18w16", downstream="mnist5k"
    ),
    "text-por": _text_setting("text-por", "por", "rotten_tomatoes"),
    "text-neuba": _text_setting("text-neuba", "neuba", "rotten_tomatoes"),
    "text-por-convention": _text_setting("text-por-convention", "por", "convention"),
    "text-neuba-convention": _text_setting("text-neuba-convention", "neuba", "convention"),
}


def get_setting(name: str) -> Setting:
    """A named setting (a copy: changing it changes no other); ``NAME-paper`` gives its
    paper-scale version."""
    paper = name.endswith("-paper")
    base = name.removesuffix("-paper")
    if base not in SETTINGS:
        names = [*SETTINGS, *(f"{s}-paper" for s in SETTINGS)]
        raise InputError(f"Unknown setting {name!r}. Expected one of: {', '.join(names)}.")
    return copy.deepcopy(SETTINGS[base].paper() if paper else SETTINGS[base])


def mean_std(vals: list[float]) -> dict[str, float]:
    mean = sum(vals) / len(vals)
    return {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))}


def _summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) std of CP (as a 0-1 rate), Acc, ASR and AccB over bug instances."""
    return {k: mean_std([float(r[k]) for r in rows]) for k in ("cp", "acc", "asr", "accb")}


@dataclass
class Draw:
    """One bug instance of a prepared setting: the bug, the client's metrics before patching,
    the reverse-engineered trigger and its score, and the validation set for this seed."""

    seed: int
    bug: Any
    before: Metrics
    reverse: Any
    reverse_row: dict[str, Any]
    val: Any


class Prepared:
    """A setting with its encoders, data and clients loaded, ready to draw bug instances and
    to measure patched encoders (or patched classifiers) the same way for every method.

    Build with :func:`prepare`. ``client`` is the client on the backdoored encoder;
    ``clean`` the clean encoder's client metrics (the reference for ASR and AccB)."""

    def __init__(
        self,
        setting: Setting,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.setting = setting
        self.device = device
        self.progress = progress
        self.say = log or (lambda _msg: None)
        say = self.say
        self.backdoored = load_encoder(setting.encoder, device, progress=progress, log=say)
        self.clean_encoder = load_encoder(setting.clean_encoder, device)
        for enc, which in (
            (self.backdoored, setting.encoder),
            (self.clean_encoder, setting.clean_encoder),
        ):
            if enc.modality != setting.modality:
                raise InputError(
                    f"Setting {setting.name!r} is for {setting.modality} encoders, but encoder "
                    f"{which!r} is a {enc.modality} encoder."
                )
        self.true_trigger, target = ground_truth(setting.encoder)
        train, test = load_downstream(setting.downstream)
        self.train, self.test = train.head(setting.n_train), test.head(setting.n_test)
        self.val_pool = load_pretraining(setting.val_data)
        self.classifier = MLPClassifier(**setting.classifier)
        self.target_source = "recorded with the encoder"
        self.target = target
        self.client = DownstreamClient(
            self.train,
            self.test,
            trigger=self.true_trigger,
            target=target,
            classifier=self.classifier,
            device=device,
        )
        say(
            f"client on the backdoored encoder ({len(self.train)} train / "
            f"{len(self.test)} test inputs)"
        )
        self.client.fit(self.backdoored, seed=seed, progress=progress)
        self.fit_seed = seed
        if self.target is None:
            self.target = self.client.target_
            self.target_source = "the class the backdoored client gives most triggered test inputs"
            say(
                f"attack target: class {self.target} ({self.train.classes[self.target]}), "
                f"{self.target_source}"
            )
        say("client on the clean encoder")
        clean = self.new_client().fit(self.clean_encoder, seed=seed, progress=progress).metrics()
        self.clean = {"acc": clean.acc, "asr": clean.asr, "accb": clean.accb}
        say(f"clean: Acc {clean.acc:.2f}  ASR {clean.asr:.2f}  AccB {clean.accb:.2f}")
        self.reverser = TriggerReverser(
            method=setting.method, window=setting.window, occlude=setting.occlude
        )
        self._measuring = self.new_client()

    def new_client(self) -> DownstreamClient:
        """A client with this setting's data, attack and classifier, not yet fitted."""
        return DownstreamClient(
            self.train,
            self.test,
            trigger=self.true_trigger,
            target=self.target,
            classifier=self.classifier,
            device=self.device,
        )

    def draw(
        self,
        seed: int,
        *,
        reverser: TriggerReverser | None = None,
        client: DownstreamClient | None = None,
    ) -> Draw:
        """Re-train the backdoored client's classifier with ``seed`` (its features are kept),
        draw a real bug, reverse-engineer its trigger and sample D_val, all with ``seed``.

        ``client``: draw from this fitted client instead, and reverse on its encoder (a bug
        reported against an already patched encoder)."""
        if client is None:
            if seed != self.fit_seed:
                self.client.refit(seed=seed, progress=self.progress)
                self.fit_seed = seed
            client = self.client
        bug = select_bug(client, seed=seed)
        before = client.metrics(bug.x_b, bug.label)
        rev = (reverser or self.reverser).reverse(
            client.encoder_, bug, seed=seed, device=self.device
        )
        val = take(
            self.val_pool.inputs,
            torch.randperm(len(self.val_pool), generator=make_generator(seed))[
                : self.setting.val_size
            ],
        )
        return Draw(seed, bug, before, rev, score_reverse(rev, bug, self.true_trigger), val)

    def measure(
        self,
        encoder: Encoder,
        bug: Any,
        *,
        seed: int,
        classifier: dict[str, Any] | None = None,
    ) -> tuple[Metrics, dict[str, Any]]:
        """The client re-trained (with ``seed``) on ``encoder``: its metrics on ``bug`` and
        diagnostics (the pair's cosine before and after, whether x_r is still right).
        ``classifier`` overrides some of the setting's classifier hyperparameters."""
        client = self._measuring
        if classifier:
            client = self.new_client()
            client.classifier = MLPClassifier(**{**self.setting.classifier, **classifier})
        client = client.fit(encoder, seed=seed, progress=self.progress)
        self.last_client = client  # fitted on ``encoder``: a later bug can be drawn from it
        after = client.metrics(bug.x_b, bug.label)
        diagnostics = {
            "cos_b_r_before": pair_cosine(self.backdoored, bug),
            "cos_b_r_after": pair_cosine(encoder, bug),
            "x_r_correct_after": bool(client.metrics(bug.x_r, bug.label).cp),
        }
        return after, diagnostics

    def header(self) -> dict[str, Any]:
        """The results fields that describe the setting rather than one bug instance."""
        return {
            "setting": self.setting.name,
            "modality": self.setting.modality,
            "config": self.setting.to_dict(),
            "target": self.target,
            "target_source": self.target_source,
            "trigger": repr(self.true_trigger),
        }


def prepare(setting: Setting, **kwargs: Any) -> Prepared:
    """Load ``setting``'s encoders and data and fit its clients (see :class:`Prepared`)."""
    return Prepared(setting, **kwargs)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over bug instances of the before/after metrics and the reverse scores."""
    summary: dict[str, Any] = {
        "before": _summary([r["before"] for r in rows]),
        "after": _summary([r["after"] for r in rows]),
    }
    for key in ("iou", "precision", "recall"):
        if key in rows[0].get("reverse", {}):
            summary[key] = mean_std([r["reverse"][key] for r in rows])
    return summary


def run_setting(
    setting: Setting,
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
    t0 = time.perf_counter()
    prep = prepare(setting, seed=seed, device=device, progress=progress, log=log)
    say = prep.say
    patcher = create_patcher(setting.patcher, **setting.patch)
    rows = []
    for i in range(bugs):
        s = seed + i
        tb = time.perf_counter()
        d = prep.draw(s)
        bug, rev = d.bug, d.reverse
        say(
            f"bug {i + 1}/{bugs} (seed {s}): class {bug.label} -> predicted "
            f"{bug.metadata['predicted']}; before: {_fmt(d.before)}"
        )
        say(f"  reverse ({rev.method}): {_fmt_reverse(d.reverse_row)}, {rev.seconds:.1f}s")
        result = patcher.patch(
            prep.backdoored, bug, d.val, rev.trigger, seed=s, device=device, progress=progress
        )
        say(f"  patch: {result.steps} steps in {result.seconds:.1f}s")
        after, diagnostics = prep.measure(result.encoder, bug, seed=s)
        say(f"  after:  {_fmt(after)}")
        if out_dir is not None and isinstance(prep.true_trigger, PatchTrigger):
            from mudjack.report import save_bug_figures

            save_bug_figures(
                out_dir,
                bug.x_b,
                bug.x_r,
                rev.clustered,
                rev.trigger.mask,
                prep.true_trigger.mask,
                prefix=f"bug{i}_",
            )
        rows.append(
            {
                "seed": s,
                "true_label": bug.label,
                "target": prep.target,
                "reverse": d.reverse_row,
                "before": d.before.to_dict(),
                "after": after.to_dict(),
                "diagnostics": diagnostics,
                "patch_steps": result.steps,
                "seconds": {
                    "reverse": rev.seconds,
                    "patch": result.seconds,
                    "total": time.perf_counter() - tb,
                },
            }
        )
    return {
        **prep.header(),
        "bugs": rows,
        "clean": prep.clean,
        "summary": summarize(rows),
        "seconds": time.perf_counter() - t0,
    }


@torch.no_grad()
def pair_cosine(encoder: Encoder, bug: Any) -> float:
    """cos(h(x_b), h(x_r)): what the effectiveness loss raises."""
    dev = next(encoder.parameters()).device
    if isinstance(bug.x_b, str):
        f = encoder.eval().embed([bug.x_b, bug.x_r])
    else:
        f = encoder.eval().embed(torch.stack([bug.x_b, bug.x_r]).to(dev))
    return float(f[0] @ f[1])


def score_reverse(rev: Any, bug: Any, true_trigger: Trigger) -> dict[str, Any]:
    """How well the recovered trigger matches the true one (IoU, or word precision/recall)."""
    if isinstance(rev.trigger, TextTrigger):
        row: dict[str, Any] = {
            "method": rev.method,
            "words": list(rev.trigger.words),
            "position": rev.trigger.position,
        }
        span = bug.metadata.get("trigger_span")
        if span is not None:
            row["precision"], row["recall"] = rev.precision_recall(span)
        return row
    return {
        "method": rev.method,
        "iou": rev.iou(true_trigger.mask),  # type: ignore[attr-defined]
        "pixels": rev.trigger.pixels,
    }


def _fmt_reverse(row: dict[str, Any]) -> str:
    if "iou" in row:
        return f"{row['pixels']} pixels, IoU {row['iou']:.3f}"
    pr = (
        f", precision {row['precision']:.2f} recall {row['recall']:.2f}"
        if "precision" in row
        else ""
    )
    return f"words {row['words']} at {row['position']}{pr}"


def _fmt(m: Metrics) -> str:
    return f"CP {'yes' if m.cp else 'no'}  Acc {m.acc:.2f}  ASR {m.asr:.2f}  AccB {m.accb:.2f}"
