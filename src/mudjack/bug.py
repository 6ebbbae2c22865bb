"""Bug instances: a misclassified input ``x_b`` and a correctly classified same-class ``x_r``.

On disk a bug instance is a folder. For images::

    bug/
      x_b.png   x_r.png   (8-bit images; grey or RGB)
      bug.json  {"format": "mudjack-bug/1", "modality": "image", "label": 3, "shape": [1, 28, 28],
                 "metadata": {...}}

For text, ``bug.json`` alone holds the two strings::

    bug/
      bug.json  {"format": "mudjack-bug/1", "modality": "text", "x_b": "...", "x_r": "...",
                 "label": 1, "metadata": {...}}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mudjack.encoders.base import Encoder, InputSpec, TextEncoder, check_images, check_texts
from mudjack.errors import InputError, ModelLoadError
from mudjack.utils import atomic_dir, make_generator, sha256_tensors, write_json_atomic

BUG_FORMAT = "mudjack-bug/1"


@dataclass
class BugInstance:
    """A client's bug report.

    Attributes:
        x_b: the misclassified input: an image ``(C, H, W)`` in [0, 1], or a string.
        x_r: a correctly classified input of the same true class (same kind as ``x_b``).
        label: the true class of both (optional: a provider may not be told).
        metadata: anything else (e.g. the predicted class, the source of the inputs).
    """

    x_b: torch.Tensor | str
    x_r: torch.Tensor | str
    label: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        return "text" if isinstance(self.x_b, str) else "image"

    def __post_init__(self) -> None:
        if isinstance(self.x_b, str) or isinstance(self.x_r, str):
            self._check_text()
            return
        for name in ("x_b", "x_r"):
            v = getattr(self, name)
            if not isinstance(v, torch.Tensor):
                raise InputError(
                    f"Expected {name} as an image tensor (C, H, W), got {type(v).__name__}."
                )
            if v.dim() == 4 and v.shape[0] == 1:
                setattr(self, name, v[0])
        if self.x_b.shape != self.x_r.shape:
            raise InputError(
                f"Expected x_b and x_r of the same shape, got {tuple(self.x_b.shape)} and "
                f"{tuple(self.x_r.shape)}."
            )
        if torch.equal(self.x_b, self.x_r):
            raise InputError(
                "Expected x_b (misclassified) and x_r (correctly classified) to differ, got two "
                "identical inputs. A bug instance needs a reference input that the client's "
                "classifier gets right."
            )

    def _check_text(self) -> None:
        for name in ("x_b", "x_r"):
            v = getattr(self, name)
            if not isinstance(v, str):
                raise InputError(
                    f"Expected x_b and x_r of the same kind; {name} is a "
                    f"{type(v).__name__} where the other is a string."
                )
            if not v.strip():
                raise InputError(
                    f"Expected {name} as a non-empty text, got an empty string. A bug instance "
                    "needs the misclassified text and a correctly classified text."
                )
        if self.x_b.split() == self.x_r.split():  # type: ignore[union-attr]
            raise InputError(
                "Expected x_b (misclassified) and x_r (correctly classified) to differ, got two "
                "identical texts. A bug instance needs a reference input that the client's "
                "classifier gets right."
            )

    def check(self, encoder: Encoder | InputSpec) -> BugInstance:
        """Validate both inputs for an encoder (image shape, dtype and range; text kind and,
        given the encoder itself, length: an over-long bug text is refused, not truncated)."""
        spec = encoder if isinstance(encoder, InputSpec) else encoder.input_spec
        if spec.modality != self.modality:
            want = "two strings" if spec.modality == "text" else "two images"
            raise InputError(
                f"Expected a bug instance of {want} for this {spec.modality} encoder, got a "
                f"bug instance of {self.modality} inputs. Give this encoder a bug of its own "
                "kind, or use an encoder of the bug's kind."
            )
        if spec.modality == "text":
            pair = check_texts([self.x_b, self.x_r], spec, "x_b and x_r")  # type: ignore[list-item]
            if isinstance(encoder, TextEncoder) and spec.max_length:
                counts = encoder.token_counts(pair)
                for name, n in zip(("x_b", "x_r"), counts, strict=True):
                    if n > spec.max_length:
                        raise InputError(
                            f"Expected {name} of at most max_length={spec.max_length} tokens, "
                            f"got {n}. A truncated bug input could lose its trigger: shorten "
                            "the text or load the encoder with a larger max_length."
                        )
            return self
        check_images(self.x_b, spec, "x_b")
        check_images(self.x_r, spec, "x_r")
        return self

    @property
    def sha256(self) -> str:
        if self.modality == "text":
            h = hashlib.sha256()
            for t in (self.x_b, self.x_r):
                data = t.encode("utf-8")  # type: ignore[union-attr]
                h.update(len(data).to_bytes(8, "little") + data)
            return h.hexdigest()
        return sha256_tensors(self.x_b.float(), self.x_r.float())  # type: ignore[union-attr]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bug folder (atomically; never overwrites)."""
        from PIL import Image

        if self.modality == "text":
            with atomic_dir(path, "bug folder") as tmp:
                write_json_atomic(
                    tmp / "bug.json",
                    {
                        "format": BUG_FORMAT,
                        "modality": "text",
                        "x_b": self.x_b,
                        "x_r": self.x_r,
                        "label": self.label,
                        "sha256": self.sha256,
                        "metadata": self.metadata,
                    },
                )
            return Path(path)
        with atomic_dir(path, "bug folder") as tmp:
            for name in ("x_b", "x_r"):
                Image.fromarray(_to_uint8(getattr(self, name))).save(tmp / f"{name}.png")
            write_json_atomic(
                tmp / "bug.json",
                {
                    "format": BUG_FORMAT,
                    "modality": "image",
                    "label": self.label,
                    "shape": list(self.x_b.shape),
                    "sha256": self.sha256,
                    "metadata": self.metadata,
                },
            )
        return Path(path)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    arr = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def _from_image_file(path: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise ModelLoadError(f"Expected an image file at {str(path)!r}: {exc}.") from exc
    x = torch.from_numpy(np.array(arr, copy=True)).float() / 255.0
    return x[None] if x.dim() == 2 else x.permute(2, 0, 1)


def load_bug(path: str | os.PathLike[str]) -> BugInstance:
    """Read a bug folder written by :meth:`BugInstance.save` (or by hand: two images + bug.json)."""
    p = Path(path)
    meta_path = p / "bug.json"
    if not meta_path.is_file():
        raise ModelLoadError(
            f"Expected a bug folder with bug.json, x_b.png and x_r.png at {str(p)!r}; bug.json "
            "not found."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"Corrupt bug.json in {str(p)!r}: {exc}.") from exc
    if not isinstance(meta, dict) or meta.get("format", BUG_FORMAT) != BUG_FORMAT:
        raise ModelLoadError(f"Expected bug.json of format {BUG_FORMAT!r} in {str(p)!r}.")
    if meta.get("modality") == "text":
        if not all(isinstance(meta.get(k), str) for k in ("x_b", "x_r")):
            raise ModelLoadError(
                f"Expected a text bug.json with string fields x_b and x_r in {str(p)!r}."
            )
        return BugInstance(meta["x_b"], meta["x_r"], meta.get("label"), meta.get("metadata", {}))
    images = {}
    for name in ("x_b", "x_r"):
        f = next(
            (
                p / f"{name}{ext}"
                for ext in (".png", ".jpg", ".jpeg", ".bmp")
                if (p / f"{name}{ext}").is_file()
            ),
            None,
        )
        if f is None:
            raise ModelLoadError(f"Expected {name}.png in bug folder {str(p)!r}; not found.")
        images[name] = _from_image_file(f)
    return BugInstance(images["x_b"], images["x_r"], meta.get("label"), meta.get("metadata", {}))


def select_bug(
    client: Any,
    *,
    seed: int = 0,
    trigger: Any = None,
) -> BugInstance:
    """Draw a real bug from a fitted :class:`~mudjack.downstream.DownstreamClient`'s test set.

    ``x_b`` is a triggered non-target test input that the client classifies as the target
    class; ``x_r`` is a correctly classified clean test input of the same true class (not the
    clean source of ``x_b``). For a client with a ``source`` class (a source-specific attack)
    ``x_b`` is from the source class. Raises :class:`InputError` when there is no such input.

    Args:
        trigger: draw ``x_b`` carrying this trigger instead of the client's (one trigger of a
            dynamic attack), embedded into the non-target test inputs with ``seed``.
    """
    if client.triggered_features_ is None:
        raise InputError("Expected a client with a trigger and target to draw a backdoor bug.")
    gen = make_generator(seed)
    triggered, trig_feats = client.triggered_, client.triggered_features_
    if trigger is not None:
        from mudjack.downstream.client import triggered_non_target

        triggered = triggered_non_target(client.test, trigger, client.target_, seed)
        trig_feats = client.features(triggered.inputs, desc="triggered")
    trig_pred = client.classifier_.predict(trig_feats)
    labels = client.test.labels
    clean_pred = client.classifier_.predict(client.test_features_)
    sources = torch.nonzero(labels != client.target_).flatten()  # row k of triggered
    hit = torch.nonzero(trig_pred == client.target_).flatten()
    source_class = getattr(client, "source", None)
    if source_class is not None:
        hit = hit[triggered.labels[hit] == source_class]
    if len(hit) == 0:
        raise InputError(
            "The client classifies no triggered input"
            + ("" if source_class is None else f" of the source class {source_class}")
            + " as the target class: no bug to draw (is the encoder backdoored for this task?)."
        )
    # A bug needs an x_r: keep the hits whose class has a correctly classified clean input
    # other than the hit's own source (on a real task every class has; then all hits stay).
    y_hit = triggered.labels[hit]
    correct = torch.bincount(labels[clean_pred == labels], minlength=int(labels.max()) + 1)
    own = (clean_pred[sources[hit]] == y_hit).long()
    usable = hit[correct[y_hit] - own >= 1]
    if len(usable) == 0:
        raise InputError(
            f"None of the {len(hit)} triggered inputs the client gets wrong has a correctly "
            "classified clean test input of its class to use as x_r; train the client longer "
            "or give it more test data."
        )
    i = int(usable[torch.randint(len(usable), (1,), generator=gen)])
    y = int(triggered.labels[i])
    trig_in, test_in = triggered.inputs, client.test.inputs
    source = sources[i]
    ok = torch.nonzero((labels == y) & (clean_pred == y)).flatten()
    ok = ok[ok != source]
    j = int(ok[torch.randint(len(ok), (1,), generator=gen)])
    meta: dict[str, Any] = {
        "predicted": int(trig_pred[i]),
        "test_index_b": int(source),
        "test_index_r": j,
        "seed": seed,
    }
    spans = getattr(triggered, "spans", None)
    if spans is not None:
        meta["trigger_span"] = list(spans[i])
    x_b, x_r = trig_in[i], test_in[j]
    if isinstance(x_b, torch.Tensor):
        x_b, x_r = x_b.clone(), x_r.clone()  # type: ignore[union-attr]
    return BugInstance(x_b, x_r, y, meta)


def select_normal_bug(client: Any, *, seed: int = 0) -> BugInstance:
    """Draw a *normal* bug (Table 8 of the paper): ``x_b`` a clean test input the fitted client
    misclassifies, ``x_r`` a correctly classified clean test input of the same true class."""
    gen = make_generator(seed)
    labels = client.test.labels
    pred = client.classifier_.predict(client.test_features_)
    correct = torch.bincount(labels[pred == labels], minlength=int(labels.max()) + 1)
    wrong = torch.nonzero((pred != labels) & (correct[labels] >= 1)).flatten()
    if len(wrong) == 0:
        raise InputError(
            "The client misclassifies no clean test input of a class it also gets right: "
            "no normal bug to draw."
        )
    i = int(wrong[torch.randint(len(wrong), (1,), generator=gen)])
    y = int(labels[i])
    ok = torch.nonzero((labels == y) & (pred == y)).flatten()
    j = int(ok[torch.randint(len(ok), (1,), generator=gen)])
    x_b, x_r = client.test.inputs[i], client.test.inputs[j]
    if isinstance(x_b, torch.Tensor):
        x_b, x_r = x_b.clone(), x_r.clone()  # type: ignore[union-attr]
    meta = {"predicted": int(pred[i]), "test_index_b": i, "test_index_r": j, "seed": seed}
    return BugInstance(x_b, x_r, y, {**meta, "kind": "normal"})


def synthesize_reference(
    encoder: Any,
    x_r: torch.Tensor,
    *,
    steps: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
) -> torch.Tensor:
    """An image x'_r whose feature matches ``h(x_r)``: start from uniform noise and maximise
    ``cos(h(x'_r), h(x_r))`` with Adam (Table 9 of the paper: 100 iterations, learning rate
    0.01), keeping pixels in [0, 1]. The provider needs only the client's feature vector.

    Computed on the device the encoder is on; the encoder is not moved (it is put in eval
    mode)."""
    if not isinstance(x_r, torch.Tensor) or encoder.modality != "image":
        raise InputError("Expected an image encoder and an image x_r to synthesise from.")
    if steps < 1 or lr <= 0:
        raise InputError(f"Expected steps >= 1 and lr > 0, got {steps} and {lr}.")
    dev = next(encoder.parameters()).device
    encoder = encoder.eval()
    with torch.no_grad():
        target = encoder.embed(x_r.unsqueeze(0).to(dev))
    gen = make_generator(seed)
    x = torch.rand((1, *x_r.shape), generator=gen).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = -torch.nn.functional.cosine_similarity(encoder.embed(x), target).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()[0].cpu()
