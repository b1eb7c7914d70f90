"""A character n-gram language model of the training transcriptions, for CTC beam search
(shallow fusion). Interpolated absolute discounting; stored as ``lm.json`` in a model folder.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from engine.errors import ModelError

BOS = "\x02"  # start-of-line context symbol (never a charset character)
CACHE_LIMIT = 50_000
"""Memoised probabilities kept at most (then forgotten at once): beam search asks for the same
few contexts within a line, while an unbounded cache grew by about 660 entries a line (570,000
after 858 Hooker lines, about 250 MB)."""


class CharNgramLM:
    """P(c | previous n-1 characters), interpolated down to a uniform distribution."""

    def __init__(self, order: int, vocab: list[str], counts: dict[str, dict[str, int]],
                 discount: float = 0.75) -> None:
        self.order = order
        self.vocab = vocab
        self.counts = counts  # context (0..order-1 chars) -> next char -> count
        self.discount = discount
        self.totals = {ctx: sum(nxt.values()) for ctx, nxt in counts.items()}
        self._cache: dict[tuple[str, str], float] = {}

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

    def prob(self, context: str, char: str) -> float:
        """Interpolated P(char | last order-1 characters of context)."""
        ctx = (BOS * (self.order - 1) + context)[-(self.order - 1):] if self.order > 1 else ""
        key = (ctx, char)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if len(self._cache) >= CACHE_LIMIT:  # bounded: a batch of many pages must not grow it
            self._cache.clear()
        p = 1.0 / (len(self.vocab) + 1)
        for k in range(0, self.order):
            sub = ctx[len(ctx) - k:] if k else ""
            nxt = self.counts.get(sub)
            if not nxt:
                continue
            total = self.totals[sub]
            lam = self.discount * len(nxt) / total
            p = max(nxt.get(char, 0) - self.discount, 0) / total + lam * p
        self._cache[key] = p
        return p

    def log_prob(self, context: str, char: str) -> float:
        return math.log(max(self.prob(context, char), 1e-12))

    def to_json(self) -> str:
        return json.dumps({"order": self.order, "vocab": self.vocab, "discount": self.discount,
                           "counts": self.counts}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(int(data["order"]), list(data["vocab"]), data["counts"],
                       float(data["discount"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable character language model: {exc}") from exc
