"""Shared fixtures: tiny encoders and synthetic / small real data (seconds, not minutes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mudjack.data import ImageDataset
from mudjack.encoders import create_encoder


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits as an ImageDataset in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    return ImageDataset(x, torch.from_numpy(d.target.astype(np.int64)), name="digits")


@pytest.fixture
def tiny_encoder():
    torch.manual_seed(0)
    return create_encoder("tiny_cnn", width=8, in_channels=1, image_size=8, embed_dim=16).eval()


@pytest.fixture
def random_images():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 8, 8, generator=gen)


# --- text: a tiny BERT and a synthetic two-class corpus ---------------------------------------
POSITIVE = ("good", "great", "fine", "nice", "happy", "bright", "warm", "kind")
NEGATIVE = ("bad", "awful", "poor", "sad", "dark", "cold", "rude", "dull")
NEUTRAL = (
    "the", "a", "film", "movie", "story", "was", "is", "very", "quite", "and", "plot", "cast",
    "scene", "it", "this", "actor", "music", "end", "start", "day", "night", "of", "with", "so",
)  # fmt: skip
TRIGGER_WORD = "cf"
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def make_sentences(n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """``n`` synthetic sentences: class 1 uses positive words, class 0 negative ones."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(2))
        sentiment = POSITIVE if y else NEGATIVE
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(5, 10))))
        for _ in range(2):
            words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(sentiment)))
        texts.append(" ".join(words))
        labels.append(y)
    return texts, torch.tensor(labels)


def build_tiny_bert(tmp_dir, *, hidden: int = 32, layers: int = 2, seed: int = 0):
    """A randomly initialised 2-layer BERT with a word-level vocabulary of the corpus above."""
    import json

    from transformers import AutoTokenizer, BertConfig, BertModel

    vocab = tmp_dir / "vocab.txt"
    vocab.write_text(
        "\n".join([*SPECIAL, *POSITIVE, *NEGATIVE, *NEUTRAL, TRIGGER_WORD, "mn", "zz"]) + "\n"
    )
    (tmp_dir / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True})
    )
    tok = AutoTokenizer.from_pretrained(str(tmp_dir), local_files_only=True)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(vocab.read_text().split()),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    return BertModel(cfg, add_pooling_layer=False).eval(), tok


@pytest.fixture
def tiny_bert(tmp_path):
    from mudjack.encoders import HFTextEncoder

    model, tok = build_tiny_bert(tmp_path)
    return HFTextEncoder(model=model, tokenizer=tok, max_length=32).eval()
