"""Character and word error rates (edit distance over the reference length), via rapidfuzz.

Texts are compared after ``normalize_text`` and with runs of spaces collapsed, so that Unicode
variants and spacing do not count as errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from rapidfuzz.distance import Levenshtein

from engine.document import normalize_text


def _clean(text: str) -> str:
    return " ".join(normalize_text(text).split())


@dataclass
class ErrorRates:
    """Summed edit counts, so corpora can be merged before dividing."""

    char_errors: int = 0
    chars: int = 0
    word_errors: int = 0
    words: int = 0
    lines: int = 0

    def add(self, reference: str, hypothesis: str) -> None:
        ref, hyp = _clean(reference), _clean(hypothesis)
        self.char_errors += Levenshtein.distance(ref, hyp)
        self.chars += len(ref)
        ref_words, hyp_words = ref.split(), hyp.split()
        self.word_errors += Levenshtein.distance(ref_words, hyp_words)
        self.words += len(ref_words)
        self.lines += 1

    @property
    def cer(self) -> float:
        """Character error rate (0..); 0 for an empty reference with an empty hypothesis."""
        return self.char_errors / self.chars if self.chars else float(self.char_errors > 0)

    @property
    def wer(self) -> float:
        return self.word_errors / self.words if self.words else float(self.word_errors > 0)


def error_rates(references: Iterable[str], hypotheses: Iterable[str]) -> ErrorRates:
    """Summed error rates over paired lines."""
    refs, hyps = list(references), list(hypotheses)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    rates = ErrorRates()
    for r, h in zip(refs, hyps):
        rates.add(r, h)
    return rates


def error_kinds(reference: str, hypothesis: str) -> dict[str, int]:
    """The character edits from reference to hypothesis by kind (``insert``: an extra
    character read, ``delete``: a character missed, ``replace``: one misread), compared as
    ``ErrorRates`` compares; they sum to its edit distance."""
    counts = {"insert": 0, "delete": 0, "replace": 0}
    for op in Levenshtein.editops(_clean(reference), _clean(hypothesis)):
        counts[op.tag] += 1
    return counts


def cer(reference: str, hypothesis: str) -> float:
    return error_rates([reference], [hypothesis]).cer


def wer(reference: str, hypothesis: str) -> float:
    return error_rates([reference], [hypothesis]).wer
