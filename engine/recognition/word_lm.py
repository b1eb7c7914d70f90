"""A word bigram language model of the training transcriptions, to rerank beam search's best
readings of a line after the character LM has done its part.

The character 7-gram that beam search fuses sees two or three words back at most, and only as
letters; this model scores whole words and the word before them. It reranks the n best
readings (``Recognizer``): ``fused score + weight * log P_words(reading) + bonus * words``.
Words are runs of letters (apostrophes inside kept), lower-cased; digits and punctuation are
left to the character LM. Interpolated absolute discounting, backing off to add-k unigrams
over an open vocabulary, so an unknown word costs much but not everything (names, abbreviations).
Stored gzip-compressed as ``lm-<name>-words.json.gz`` beside the character LM of its language.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.errors import ModelError

FORMAT = "htrjand-word-bigram/1"
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
START = "<s>"


def words(text: str) -> list[str]:
    """The words of ``text`` as this model counts them (letters only, lower-cased)."""
    return [w.lower() for w in WORD.findall(text)]


class WordBigramLM:
    """log P(words of a line), each word given the one before it (or the line start)."""

    def __init__(self, unigrams: dict[str, int], bigrams: dict[tuple[str, str], int],
                 discount: float = 0.75, k: float = 0.1, vocab: int = 200_000) -> None:
        self.unigrams = Counter(unigrams)
        self.bigrams = Counter(bigrams)
        self.discount, self.k, self.vocab = float(discount), float(k), int(vocab)
        self.history: Counter = Counter()  # bigram tokens after each word
        self.followers: Counter = Counter()  # distinct words after each word
        for (a, _b), n in self.bigrams.items():
            self.history[a] += n
            self.followers[a] += 1
        self.total = sum(self.unigrams.values())

    @classmethod
    def train(cls, texts: Iterable[str], **kw) -> "WordBigramLM":
        return cls({}, {}, **kw).adapted(texts, 1)

    def adapted(self, texts: Iterable[str], weight: int = 1) -> "WordBigramLM":
        """A copy that has also seen ``texts``, each counted ``weight`` times (e.g. a
        person's corrected lines in a fine-tuned version)."""
        unigrams, bigrams = Counter(self.unigrams), Counter(self.bigrams)
        for text in texts:
            seq = [START] + words(text)
            for w in seq[1:]:
                unigrams[w] += weight
            for pair in zip(seq, seq[1:]):
                bigrams[pair] += weight
        return WordBigramLM(unigrams, bigrams, self.discount, self.k, self.vocab)

    def pruned(self, min_count: int) -> "WordBigramLM":
        """A copy without the word pairs seen fewer than ``min_count`` times (the words all
        kept): a large text's rare pairs cost memory and, measured, buy nothing
        (``training.lm_tune.WORD_MIN_COUNT``). Still a distribution: a word's back-off mass
        follows the pairs kept after it."""
        return WordBigramLM(self.unigrams, {pair: n for pair, n in self.bigrams.items()
                                            if n >= min_count},
                            self.discount, self.k, self.vocab)

    def unigram(self, word: str) -> float:
        return (self.unigrams[word] + self.k) / (self.total + self.k * self.vocab)

    def log_prob(self, text: str) -> float:
        """log P of the words of ``text`` as one line (0 for a line without words)."""
        seq = [START] + words(text)
        out = 0.0
        for a, b in zip(seq, seq[1:]):
            seen = self.history[a]
            p = self.unigram(b)
            if seen:
                p = (max(self.bigrams[a, b] - self.discount, 0.0) / seen
                     + self.discount * self.followers[a] / seen * p)
            out += math.log(p)
        return out

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, "discount": self.discount, "k": self.k, "vocab": self.vocab,
                "unigrams": dict(self.unigrams),
                "bigrams": [[a, b, n] for (a, b), n in self.bigrams.items()]}
        return gzip.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":"))
                             .encode("utf-8"), compresslevel=6, mtime=0)  # (as the char LM's)

    @classmethod
    def load(cls, path: str | Path) -> "WordBigramLM":
        """A model written by ``to_bytes``; ModelError when the file is not one. The pairs
        hold the unigrams' own strings, not the JSON's copies (Hooker's 159k pairs: 38 -> 21 MB)."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("format") != FORMAT:
                raise ValueError(f"not a word LM ({FORMAT})")
            unigrams = {str(w): int(n) for w, n in data["unigrams"].items()}
            same = {w: w for w in (START, *unigrams)}  # one string a word, pairs sharing it
            bigrams = {(same.get(a) or str(a), same.get(b) or str(b)): int(n)
                       for a, b, n in data["bigrams"]}
            return cls(unigrams, bigrams, float(data["discount"]), float(data["k"]),
                       int(data["vocab"]))
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{path}: unreadable word language model: {exc}") from exc


def rerank(readings: Sequence[tuple[str, float]], lm: WordBigramLM, weight: float,
           bonus: float) -> list[tuple[int, float]]:
    """The readings' indices, best first, each with its score plus ``weight * log P_words +
    bonus * words`` (ties keep the readings' order): the one rule by which a word LM chooses
    among beam search's best readings."""
    scored = [(i, score + weight * lm.log_prob(text) + bonus * len(words(text)))
              for i, (text, score) in enumerate(readings)]
    return sorted(scored, key=lambda r: -r[1])

