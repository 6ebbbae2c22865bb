"""A prepared setting: its encoders, data and clients loaded, ready to draw bug instances and
to measure patched encoders (or patched classifiers) the same way for every arm."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mudjack.attacks import attack_source, ground_truth
from mudjack.bug import select_bug
from mudjack.data import load_downstream, load_pretraining
from mudjack.downstream import DownstreamClient, Metrics, MLPClassifier
from mudjack.downstream.zeroshot import zero_shot_for
from mudjack.encoders import Encoder, load_encoder
from mudjack.errors import InputError
from mudjack.experiments.settings import Setting
from mudjack.reverse import TriggerReverser
from mudjack.triggers import (
    PatchTrigger,
    PerturbationTrigger,
    TextTrigger,
    Trigger,
    mask_iou,
    perturbation_similarity,
)
from mudjack.utils import make_generator, take

_LABELS = {"acc": "Acc", "asr": "ASR", "accb": "AccB", "zs_acc": "zero-shot Acc",
           "zs_asr": "zero-shot ASR"}  # fmt: skip


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
        self.backdoored, self.clean_encoder = self._load_encoders()
        self.true_trigger, self.target = ground_truth(setting.encoder)
        self.source = attack_source(setting.encoder)
        self.target_source = "recorded with the encoder"
        train, test = load_downstream(setting.downstream)
        self.train, self.test = train.head(setting.n_train), test.head(setting.n_test)
        self.val_pool = load_pretraining(setting.val_data)
        self.classifier = MLPClassifier(**setting.classifier)
        self.zero_shot = zero_shot_for(setting.encoder, setting.downstream, str(device))
        self.reverser = TriggerReverser(
            method=setting.method, window=setting.window, occlude=setting.occlude
        )
        self._fit_clients(seed)
        self._measuring = self.new_client()

    def _load_encoders(self) -> tuple[Encoder, Encoder]:
        s = self.setting
        backdoored = load_encoder(s.encoder, self.device, progress=self.progress, log=self.say)
        clean = load_encoder(s.clean_encoder, self.device)
        for enc, which in ((backdoored, s.encoder), (clean, s.clean_encoder)):
            if enc.modality != s.modality:
                raise InputError(
                    f"Setting {s.name!r} is for {s.modality} encoders, but encoder "
                    f"{which!r} is a {enc.modality} encoder."
                )
        return backdoored, clean

    def _fit_clients(self, seed: int) -> None:
        """Fit the backdoored encoder's client (and take the attack's target from it when the
        attack has none of its own), then measure the clean encoder's client."""
        say = self.say
        self.client = self.new_client()
        say(
            f"client on the backdoored encoder ({len(self.train)} train / "
            f"{len(self.test)} test inputs)"
        )
        self.client.fit(self.backdoored, seed=seed, progress=self.progress)
        self.fit_seed = seed
        if self.target is None:
            self.target = self.client.target_
            self.target_source = "the class the backdoored client gives most triggered test inputs"
            say(
                f"attack target: class {self.target} ({self.train.classes[self.target]}), "
                f"{self.target_source}"
            )
        say("client on the clean encoder")
        s = self.setting
        zero_shot = zero_shot_for(s.clean_encoder, s.downstream, str(self.device))
        clean = self.new_client(zero_shot).fit(
            self.clean_encoder, seed=seed, progress=self.progress
        )
        self.clean_client = clean  # fitted: benchmarks refit it with other seeds
        m = clean.metrics().to_dict()
        self.clean = {k: m[k] for k in ("acc", "asr", "accb", "zs_acc", "zs_asr") if k in m}
        say("clean: " + "  ".join(f"{_LABELS[k]} {v:.2f}" for k, v in self.clean.items()))

    def new_client(self, zero_shot: Any = None) -> DownstreamClient:
        """A client with this setting's data, attack and classifier, not yet fitted (with the
        backdoored model's zero-shot client, or ``zero_shot``, where there is one)."""
        return DownstreamClient(
            self.train,
            self.test,
            trigger=self.true_trigger,
            target=self.target,
            classifier=self.classifier,
            source=self.source,
            zero_shot=zero_shot or self.zero_shot,
            device=self.device,
        )

    def draw(
        self,
        seed: int,
        *,
        reverser: TriggerReverser | None = None,
        client: DownstreamClient | None = None,
        component: int | None = None,
    ) -> Draw:
        """Re-train the backdoored client's classifier with ``seed`` (its features are kept),
        draw a real bug, reverse-engineer its trigger and sample D_val, all with ``seed``.

        ``client``: draw from this fitted client instead, and reverse on its encoder (a bug
        reported against an already patched encoder). ``component``: x_b carries this one of
        a dynamic attack's triggers."""
        if client is None:
            if seed != self.fit_seed:
                self.client.refit(seed=seed, progress=self.progress)
                self.fit_seed = seed
            client = self.client
        one = None
        if component is not None:  # one trigger of a dynamic attack
            one = self.true_trigger.component(component)  # type: ignore[attr-defined]
        bug = select_bug(client, seed=seed, trigger=one)
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
        return Draw(seed, bug, before, rev, self.score_reverse(rev, bug), val)

    def score_reverse(self, rev: Any, bug: Any) -> dict[str, Any]:
        """How well ``rev`` recovered the trigger in ``bug`` (see :func:`score_reverse`)."""
        clean = None
        if not isinstance(bug.x_b, str) and "test_index_b" in bug.metadata:
            clean = self.test.inputs[int(bug.metadata["test_index_b"])]
        return score_reverse(rev, bug, self.true_trigger, clean)

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
            **(
                {"trigger_delta": image_list(self.true_trigger.delta)}
                if isinstance(self.true_trigger, PerturbationTrigger)
                else {}
            ),
        }


def prepare(setting: Setting, **kwargs: Any) -> Prepared:
    """Load ``setting``'s encoders and data and fit its clients (see :class:`Prepared`)."""
    return Prepared(setting, **kwargs)


def mask_rows(trigger: Any) -> list[list[int]] | None:
    """A patch trigger's 0/1 mask as rows (for JSON and figures); None for other triggers."""
    return trigger.mask[0].int().tolist() if isinstance(trigger, PatchTrigger) else None


def image_list(image: torch.Tensor) -> list[list[float]]:
    """An image's first channel as rows of numbers rounded to 4 digits (for JSON and figures)."""
    return [[round(float(v), 4) for v in row] for row in image.reshape(-1, *image.shape[-2:])[0]]


@torch.no_grad()
def pair_cosine(encoder: Encoder, bug: Any) -> float:
    """cos(h(x_b), h(x_r)): what the effectiveness loss raises."""
    dev = next(encoder.parameters()).device
    if isinstance(bug.x_b, str):
        f = encoder.eval().embed([bug.x_b, bug.x_r])
    else:
        f = encoder.eval().embed(torch.stack([bug.x_b, bug.x_r]).to(dev))
    return float(f[0] @ f[1])


def score_reverse(
    rev: Any, bug: Any, true_trigger: Trigger, clean: torch.Tensor | None = None
) -> dict[str, Any]:
    """How well the recovered trigger matches the true one: word precision/recall (text);
    for images the IoU of the recovered mask with the true one. The true mask is the trigger's
    own for a fixed-location patch, else (random location, dynamic, whole-image) the pixels
    where x_b differs from its clean source ``clean``. A recovered perturbation also gets its
    cosine similarity with the true one."""
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
    fixed = isinstance(true_trigger, PatchTrigger) and not true_trigger.random_location
    if fixed:
        true_mask = true_trigger.mask  # type: ignore[attr-defined]
    elif clean is not None:
        true_mask = (bug.x_b.cpu() != clean.cpu()).any(0, keepdim=True).float()
    else:
        true_mask = None
    found = rev.trigger
    mask = found.mask if isinstance(found, PatchTrigger) else None
    row = {"method": rev.method}
    if mask is not None:
        row["iou"] = None if true_mask is None else mask_iou(mask, true_mask)
        row["pixels"] = found.pixels
    if isinstance(found, PerturbationTrigger):
        row["epsilon"] = found.epsilon
        if isinstance(true_trigger, PerturbationTrigger):
            row["cosine"] = perturbation_similarity(found.delta, true_trigger.delta)
    return row
