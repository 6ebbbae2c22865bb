"""Text triggers: words or symbols inserted into a text at a position.

A text is a sequence of whitespace-separated words. :class:`TextTrigger` inserts its words as
one contiguous group at the start, at the end, at a random word boundary, or at a relative
position (a fraction of the text's length), and can report the word span it inserted so the
truth is known when reverse-engineering is scored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch

from mudjack.errors import InputError
from mudjack.triggers.base import Trigger

POSITIONS = ("start", "end", "random")


class TextTrigger(Trigger):
    """Insert ``words`` into texts.

    Args:
        words: the trigger words/symbols, inserted in this order as a contiguous group.
        position: ``"start"``, ``"end"``, ``"random"`` (a uniform word boundary per text), or a
            float in [0, 1]: the relative position (0 = start, 1 = end) of the group.
    """

    kind = "text"
    modality = "text"

    def __init__(self, words: Sequence[str] | str, position: str | float = "end") -> None:
        if isinstance(words, str):
            words = words.split()
        words = tuple(words)
        if not words or any(
            not isinstance(w, str) or not w.strip() or len(w.split()) != 1 for w in words
        ):
            raise InputError(
                f"Expected one or more non-empty trigger words without spaces, got {words!r}."
            )
        if isinstance(position, str) and position not in POSITIONS:
            try:
                position = float(position)
            except ValueError:
                raise InputError(
                    f"Expected position 'start', 'end', 'random' or a number in [0, 1], "
                    f"got {position!r}."
                ) from None
        if not isinstance(position, str) and not 0.0 <= float(position) <= 1.0:
            raise InputError(f"Expected a relative position in [0, 1], got {position!r}.")
        self.words = words
        self.position: str | float = position if isinstance(position, str) else float(position)

    @property
    def random_location(self) -> bool:
        return self.position == "random"

    def with_random_location(self, flag: bool = True) -> TextTrigger:
        return TextTrigger(self.words, "random" if flag else self.position)

    def __repr__(self) -> str:
        return f"TextTrigger(words={list(self.words)!r}, position={self.position!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TextTrigger)
            and self.words == other.words
            and self.position == other.position
        )

    def __hash__(self) -> int:
        return hash((self.words, self.position))

    def _index(self, n_words: int, gen: torch.Generator | None) -> int:
        if self.position == "start":
            return 0
        if self.position == "end":
            return n_words
        if self.position == "random":
            return int(torch.randint(n_words + 1, (1,), generator=gen))
        return round(float(self.position) * n_words)

    def insert(self, text: str, gen: torch.Generator | None = None) -> tuple[str, tuple[int, int]]:
        """``text`` with the trigger inserted, and the inserted word span ``[start, end)``."""
        if not isinstance(text, str):
            raise InputError(f"Expected a string to insert a text trigger into, got {type(text)}.")
        words = text.split()
        i = self._index(len(words), gen)
        out = [*words[:i], *self.words, *words[i:]]
        return " ".join(out), (i, i + len(self.words))

    def apply_with_spans(
        self, x: Sequence[str], gen: torch.Generator | None = None
    ) -> tuple[list[str], list[tuple[int, int]]]:
        """Triggered copies of the texts ``x`` and the word span inserted into each."""
        if isinstance(x, (str, torch.Tensor)):
            raise InputError(
                "Expected a list of strings for a text trigger, got "
                f"{type(x).__name__}. Image triggers are PatchTrigger."
            )
        pairs = [self.insert(t, gen) for t in x]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def apply(self, x: Sequence[str], gen: torch.Generator | None = None) -> list[str]:
        return self.apply_with_spans(x, gen)[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def meta(self) -> dict[str, str]:
        return {"words": json.dumps(list(self.words)), "position": str(self.position)}

    @classmethod
    def from_parts(cls, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> TextTrigger:
        try:
            words = json.loads(meta["words"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise InputError(f"Corrupt text trigger metadata {meta!r}.") from exc
        return cls(words, meta.get("position", "end"))


def word_precision_recall(recovered: Sequence[int], truth: Sequence[int]) -> tuple[float, float]:
    """Precision and recall of recovered word positions against the true trigger positions."""
    rec, tru = set(recovered), set(truth)
    hit = len(rec & tru)
    precision = hit / len(rec) if rec else 0.0
    recall = hit / len(tru) if tru else 0.0
    return precision, recall
