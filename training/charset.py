"""The character set of a model, built from normalised training transcriptions.

Class 0 is the CTC blank; character ``charset[i]`` is class ``i + 1``. Stored in the model card
so the engine decodes with exactly the characters the network was trained on.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from engine.document import normalize_text


class Charset:
    """Maps text to class indices and back; characters outside it are skipped and counted."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: list[str] = list(chars)
        if len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise ValueError("a charset is a list of distinct single characters")
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}
        self.skipped: Counter[str] = Counter()

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> "Charset":
        counts = Counter(ch for t in texts for ch in normalize_text(t).strip())
        return cls(sorted(c for c, n in counts.items() if n >= min_count))

    @property
    def num_classes(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        """Class indices of ``text`` after normalisation; unknown characters are skipped and
        counted in ``self.skipped``."""
        out = []
        for ch in normalize_text(text).strip():
            idx = self.index.get(ch)
            if idx is None:
                self.skipped[ch] += 1
            else:
                out.append(idx)
        return out

    def decode(self, labels: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in labels if 0 < i <= len(self.chars))


def ctc_frames_needed(labels: list[int]) -> int:
    """Minimum CTC input length for ``labels``: one frame each plus a blank between repeats."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)
