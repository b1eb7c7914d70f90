"""A character n-gram language model of the training transcriptions, for CTC beam search
(shallow fusion). Interpolated absolute discounting; stored as ``lm.json`` in a model folder
(and, one per language of the training data, as gzip-compressed ``lm-<name>.json.gz``).
"""

from __future__ import annotations

import gzip
import json
import math
from array import array
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from engine.errors import ModelError

BOS = "\x02"  # start-of-line context symbol (never a charset character)
CACHE_LIMIT = 16_384
"""Memoised context distributions kept at most, and as many rows of a beam search's label
scorer (then forgotten at once; each is one float per character, about 1 KB: some 30 MB in
all). Beam search asks for the same few contexts within a line, while an unbounded cache of
single probabilities once grew to 570,000 entries after 858 Hooker lines (about 250 MB)."""


class CharNgramLM:
    """P(c | previous n-1 characters), interpolated down to a uniform distribution."""

    def __init__(self, order: int, vocab: list[str], counts: dict[str, dict[str, int]],
                 discount: float = 0.75) -> None:
        self.order = order
        self.vocab = vocab
        self.counts = counts  # context (0..order-1 chars) -> next char -> count
        self.discount = discount
        self.totals = {ctx: sum(nxt.values()) for ctx, nxt in counts.items()}
        self.index = {c: i for i, c in enumerate(vocab)}
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def train(cls, texts: Iterable[str], vocab: list[str], order: int = 4,
              min_count: int = 1) -> "CharNgramLM":
        allowed = set(vocab)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for text in texts:
            seq = BOS * (order - 1) + "".join(c for c in text if c in allowed)
            for i in range(order - 1, len(seq)):
                for k in range(order):
                    counts[seq[i - k:i]][seq[i]] += 1
        kept = {ctx: {c: n for c, n in nxt.items() if n >= min_count or len(ctx) == 0}
                for ctx, nxt in counts.items()}
        return cls(order, list(vocab), {c: n for c, n in kept.items() if n})

    def adapted(self, texts: Iterable[str], weight: int = 1,
                vocab: list[str] | None = None) -> "CharNgramLM":
        """A new LM whose counts are this one's plus ``weight`` times those of ``texts`` (e.g. a
        person's corrected lines: their hand's spelling and abbreviations), over ``vocab``
        (default: this one's; a fine-tuned model's larger charset adds its new characters)."""
        vocab = list(vocab) if vocab is not None else list(self.vocab)
        counts = {ctx: dict(nxt) for ctx, nxt in self.counts.items()}
        if weight > 0:  # (no rows of zero counts: they would divide by zero in prob)
            for ctx, nxt in CharNgramLM.train(texts, vocab, order=self.order).counts.items():
                row = counts.setdefault(ctx, {})
                for c, n in nxt.items():
                    row[c] = row.get(c, 0) + weight * n
        return CharNgramLM(self.order, vocab, counts, self.discount)

    def distribution(self, context: str) -> np.ndarray:
        """P(· | last order-1 characters of context) over ``vocab`` plus one last slot for any
        character outside it. Beam search asks for several characters after the same context,
        so the whole row is computed at once (and memoised, each shorter context too)."""
        ctx = (BOS * (self.order - 1) + context)[-(self.order - 1):] if self.order > 1 else ""
        return self._distribution(ctx)

    def _distribution(self, ctx: str) -> np.ndarray:
        cached = self._cache.get(ctx)
        if cached is not None:
            return cached
        if ctx:
            lower = self._distribution(ctx[1:])  # back off to one character less
        else:
            lower = np.full(len(self.vocab) + 1, 1.0 / (len(self.vocab) + 1))
            lower.flags.writeable = False
        p = lower
        nxt = self.counts.get(ctx)
        if nxt:  # seen context: its discounted counts plus the back-off share of the lower order
            total = self.totals[ctx]
            # (counts of characters outside ``vocab`` — never made by train or adapted — only
            # feed the back-off weight; such characters all share the last slot)
            known = [(self.index[c], n) for c, n in nxt.items() if c in self.index]
            p = self.discount * len(nxt) / total * lower
            p[[j for j, _ in known]] += np.maximum(
                np.array([n for _, n in known], dtype=float) - self.discount, 0) / total
            p.flags.writeable = False  # memoised and shared with longer contexts
        if len(self._cache) >= CACHE_LIMIT:  # bounded: a batch of many pages must not grow it
            self._cache.clear()
        self._cache[ctx] = p
        return p

    def prob(self, context: str, char: str) -> float:
        """Interpolated P(char | last order-1 characters of context)."""
        return float(self.distribution(context)[self.index.get(char, len(self.vocab))])

    def sample(self, rng: np.random.Generator, length: int) -> str:
        """A random line of about ``length`` characters drawn from the model (text that reads
        like the training transcriptions, e.g. for synthetic lines where those cannot be
        shipped); spaces at either end are dropped."""
        chars = []
        for _ in range(length):
            p = self.distribution("".join(chars))[:-1]  # never the "outside the vocabulary" slot
            chars.append(self.vocab[int(rng.choice(len(p), p=p / p.sum()))])
        return "".join(chars).strip()

    def log_prob(self, context: str, char: str) -> float:
        return math.log(max(self.prob(context, char), 1e-12))

    def text_log_prob(self, text: str) -> float:
        """log P(text) as one line (from the start-of-line context): how well this LM explains
        a reading, e.g. to tell which language a page is written in."""
        return sum(math.log(max(self.prob(text[:i], ch), 1e-12)) for i, ch in enumerate(text))

    def label_scorer(self, charset: list[str]) -> Callable[[tuple[int, ...], int], float]:
        """log P(label | previous labels) for CTC labels (1 + index into ``charset``; 0 is the
        blank), as beam search asks for it; rows memoised per context (8 bytes a value,
        CACHE_LIMIT rows at most)."""
        columns = np.array([self.index.get(c, len(self.vocab)) for c in charset] or [0])
        rows: dict[tuple[int, ...], array] = {}
        keep = self.order - 1

        def score(prefix: tuple[int, ...], label: int) -> float:
            key = prefix[-keep:] if keep else ()
            row = rows.get(key)
            if row is None:
                if len(rows) >= CACHE_LIMIT:
                    rows.clear()
                dist = self.distribution("".join(charset[i - 1] for i in key))
                row = rows[key] = array("d", (math.log(max(x, 1e-12))
                                             for x in dist[columns].tolist()))
            return row[label - 1]

        return score

    def to_json(self) -> str:
        return json.dumps({"order": self.order, "vocab": self.vocab, "discount": self.discount,
                           "counts": self.counts}, ensure_ascii=False, separators=(",", ":"))

    def to_bytes(self, compress: bool = False) -> bytes:
        """The JSON as UTF-8, gzip-compressed when ``compress`` (a quarter of the size)."""
        data = self.to_json().encode("utf-8")
        return gzip.compress(data, mtime=0) if compress else data

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        """An LM written by ``to_json`` / ``to_bytes`` (gzip when the name ends in ``.gz``)."""
        try:
            raw = Path(path).read_bytes()
            if str(path).endswith(".gz"):
                raw = gzip.decompress(raw)
            data = json.loads(raw.decode("utf-8"))
            return cls(int(data["order"]), list(data["vocab"]), data["counts"],
                       float(data["discount"]))
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # gzip: OSError/EOFError
            raise ModelError(f"{path}: unreadable character language model: {exc}") from exc
