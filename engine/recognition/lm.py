"""A character n-gram language model of the training transcriptions, for CTC beam search
(shallow fusion). Interpolated absolute discounting; stored as ``lm.json`` in a model folder
(and, one per language of the training data, as gzip-compressed ``lm-<name>.json.gz``).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
from array import array
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from engine.errors import ModelError

BOS = "\x02"  # start-of-line context symbol (never a charset character)
LINES_FORMAT = "htrjand-char-lm-lines/1"  # the compressed form (``to_bytes(compress=True)``)
CACHE_LIMIT = 16_384
"""Memoised context distributions kept at most, and as many rows of a beam search's label
scorer (then forgotten at once; each is one float per character, about 1 KB: some 30 MB in
all). Beam search asks for the same few contexts within a line, while an unbounded cache of
single probabilities once grew to 570,000 entries after 858 Hooker lines (about 250 MB)."""
KEY_LIMIT = 4 * CACHE_LIMIT
"""Label contexts a label scorer remembers the row of (each a reference to one of its rows,
about 200 bytes: some 13 MB in all). Most contexts a beam search meets were never seen in
training and share the row of a shorter one, so there are about twice as many as rows."""


FEW_CONTEXTS = 6
"""Up to this many contexts, ``distributions`` works them out one by one (``_distribution``):
its numpy calls per context length cost more than the recursion for a few (a line decoded
alone asks for about 5 new ones a frame)."""


LANGUAGE_LM_FILE = re.compile(r"lm-[A-Za-z0-9_-]+\.json\.gz")
"""The names a per-language LM may have in a model folder (``language_lm_file`` makes them)."""


def language_lm_file(name: str) -> str:
    """The file name of the per-language LM called ``name`` in a model folder
    (``lm-<name>.json.gz``, the name reduced to letters, digits, ``_`` and ``-``)."""
    return f"lm-{re.sub(r'[^A-Za-z0-9_-]+', '-', name).strip('-') or 'lm'}.json.gz"


class CharNgramLM:
    """P(c | previous n-1 characters), interpolated down to a uniform distribution."""

    def __init__(self, order: int, vocab: list[str], counts: dict[str, dict[str, int]],
                 discount: float = 0.75) -> None:
        self.order = order
        self.vocab = vocab
        self.discount = discount
        self.index = {c: i for i, c in enumerate(vocab)}
        self._cache: dict[str, np.ndarray] = {}
        self._set_rows(list(counts), "".join("".join(nxt) for nxt in counts.values()),
                       array("q", map(len, counts.values())),
                       array("d", (n for nxt in counts.values() for n in nxt.values())))

    def _set_rows(self, contexts: list[str], joined: str, lengths: array, numbers: array) -> None:
        """Keep the counts flat: row i (context ``contexts[i]``) counts the next ``lengths[i]``
        characters of ``joined`` with as many ``numbers``. An LM with 50,000 lines of prose has
        330,000 contexts: 130 MB as a dict per context, a third of that like this."""
        lengths = np.frombuffer(lengths, np.int64) if len(lengths) else np.zeros(0, np.int64)
        if not len(numbers) == len(joined) == int(lengths.sum()) or len(lengths) != len(contexts):
            raise ValueError("counts must be of single characters, one number each")
        keep = lengths > 0  # (a row of no counts would divide by zero)
        idx = np.fromiter((self.index.get(c, -1) for c in joined), np.int32, len(joined))
        nums = np.frombuffer(numbers, np.float64) if len(numbers) else np.zeros(0)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        firsts = bounds[:-1][keep]
        self._totals = np.add.reduceat(nums, firsts) if len(firsts) else np.zeros(0)
        self._types = lengths[keep].astype(np.float64)
        known = idx >= 0
        # characters outside ``vocab`` (never made by train or adapted) only feed the back-off
        # weight, through the row's total and number of types
        self._outside: dict[str, dict[str, int]] = {}
        for pos in np.flatnonzero(~known).tolist():
            ctx = contexts[int(np.searchsorted(bounds, pos, "right")) - 1]
            self._outside.setdefault(ctx, {})[joined[pos]] = int(nums[pos])
        cum = np.concatenate([[0], np.cumsum(known)])
        self._starts = np.append(cum[firsts], cum[-1])
        self._chars, self._numbers = idx[known], nums[known]
        # what ``_distribution`` needs of each row, worked out once: its discounted shares and
        # the weight it leaves to the lower order
        per_row = np.repeat(self._totals, np.diff(self._starts))
        self._shares = np.maximum(self._numbers - self.discount, 0) / per_row
        self._backoff = self.discount * self._types / self._totals
        self._rows = {ctx: r for r, ctx in enumerate(c for c, k in zip(contexts, keep.tolist()) if k)}
        self._steps: bool | None = None  # ``steps_back_off``, worked out when first asked

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Context -> next character -> count (rebuilt from the flat rows: for saving,
        adapting and inspection, not for decoding)."""
        out = {}
        for ctx, r in self._rows.items():
            a, b = self._starts[r], self._starts[r + 1]
            row = {self.vocab[j]: int(n) for j, n in zip(self._chars[a:b].tolist(), self._numbers[a:b].tolist())}
            row.update(self._outside.get(ctx, {}))
            out[ctx] = row
        return out

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
        # ``min_count`` prunes only the longest contexts: pruning the shorter ones too (as
        # before session 19) read val Hooker 14.65 / Poilus 23.77 % against 14.44 / 23.00 %
        # (phase 12, weights tuned for each; val cross-entropy 3.30 -> 2.80 bits on Poilus)
        kept = {ctx: {c: n for c, n in nxt.items() if n >= min_count or len(ctx) < order - 1}
                for ctx, nxt in counts.items()}
        return cls(order, list(vocab), {c: n for c, n in kept.items() if n})

    def adapted(self, texts: Iterable[str], weight: int = 1,
                vocab: list[str] | None = None) -> "CharNgramLM":
        """A new LM whose counts are this one's plus ``weight`` times those of ``texts`` (e.g. a
        person's corrected lines: their hand's spelling and abbreviations), over ``vocab``
        (default: this one's; a fine-tuned model's larger charset adds its new characters)."""
        vocab = list(vocab) if vocab is not None else list(self.vocab)
        counts = self.counts  # (a fresh copy)
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
        return self._distribution(self._context(context))

    def _context(self, context: str) -> str:
        """The last order-1 characters of ``context``, start-of-line symbols before a short one."""
        return (BOS * (self.order - 1) + context)[-(self.order - 1):] if self.order > 1 else ""

    def seen_context(self, context: str) -> str:
        """The longest end of ``context``'s last order-1 characters that the LM has counts
        after (\"\" at least): the context whose distribution it is. An unseen context backs off
        to one character less, so all contexts with the same seen end share one distribution."""
        ctx = self._context(context)
        for k in range(len(ctx)):
            if ctx[k:] in self._rows:
                return ctx[k:]
        return ""

    def seen_after(self, seen: str, char: str) -> str:
        """``seen_context`` of a context whose seen context is ``seen``, followed by ``char``:
        when the LM ``steps_back_off``, the longest seen end of ``seen + char`` is the longest
        seen end of the whole context + ``char`` (an end of it longer than ``seen`` + one
        character would be seen without its own start being seen). What beam search needs to
        follow the LM label by label instead of reading each prefix's last characters again."""
        ctx = (seen + char)[-(self.order - 1):] if self.order > 1 else ""
        for k in range(len(ctx)):
            if ctx[k:] in self._rows:
                return ctx[k:]
        return ""

    @property
    def steps_back_off(self) -> bool:
        """Whether every seen context without its last character is seen too (true of every
        LM ``train`` and ``adapted`` make, its longest contexts pruned or not: a context seen
        before some character is the start of one seen after it), so that ``seen_after``
        gives ``seen_context``. Checked once per LM, over all its contexts."""
        if self._steps is None:
            self._steps = all(ctx[:-1] in self._rows for ctx in self._rows if ctx)
        return self._steps

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
        r = self._rows.get(ctx)
        if r is not None:  # seen context: its discounted counts plus the back-off share of the lower order
            # (counts of characters outside ``vocab`` only feed the back-off weight, through
            # the row's number of types; such characters all share the last slot)
            a, b = self._starts[r], self._starts[r + 1]
            p = self._backoff[r] * lower
            p[self._chars[a:b]] += self._shares[a:b]
            p.flags.writeable = False  # memoised and shared with longer contexts
        if len(self._cache) >= CACHE_LIMIT:  # bounded: a batch of many pages must not grow it
            self._cache.clear()
        self._cache[ctx] = p
        return p

    def distributions(self, contexts: list[str]) -> list[np.ndarray]:
        """``_distribution`` of several contexts (each at most order-1 characters) at once,
        the same arrays value for value: each context and its shorter ends not yet memoised
        are worked out a length at a time, all contexts of one length in a few numpy calls
        (beam search asks for dozens of new contexts a frame across a page's lines)."""
        if len(contexts) <= FEW_CONTEXTS:  # one at a time is cheaper
            return [self._distribution(c) for c in contexts]
        made: dict[str, np.ndarray] = {}  # memoised before (``_distribution("")`` may clear them)
        todo: dict[str, None] = {}  # (ordered, without repeats)
        by_length: dict[int, list[str]] = {}
        for ctx in contexts:
            while ctx not in todo and ctx not in made:
                held = self._cache.get(ctx)
                if held is not None:
                    made[ctx] = held
                    break
                todo[ctx] = None
                by_length.setdefault(len(ctx), []).append(ctx)
                if not ctx:
                    break
                ctx = ctx[1:]
        for length, group in sorted(by_length.items()):
            if not length:
                made[""] = self._distribution("")
                continue
            lower = [made[c[1:]] for c in group]
            rows = [self._rows.get(c) for c in group]
            seen = [k for k, r in enumerate(rows) if r is not None]
            for k, ctx in enumerate(group):
                if rows[k] is None:  # unseen: the lower order's distribution itself
                    made[ctx] = lower[k]
            if not seen:
                continue
            r = np.array([rows[k] for k in seen], np.int64)
            block = self._backoff[r][:, None] * np.stack([lower[k] for k in seen])
            a, b = self._starts[r], self._starts[r + 1]
            counts = b - a
            at = np.repeat(a - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) \
                + np.arange(int(counts.sum()))  # every count of those rows, row after row
            block[np.repeat(np.arange(len(r)), counts), self._chars[at]] += self._shares[at]
            block.flags.writeable = False
            for k, p in zip(seen, block):
                made[group[k]] = p
        out = [made[c] for c in contexts]
        for ctx in todo:  # memoised (bounded, as ``_distribution`` does)
            p = made[ctx]
            if ctx not in self._cache:
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[ctx] = p
        return out

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

    def label_scorer(self, charset: list[str]) -> "CharLabelScorer":
        """log P(label | previous labels) for CTC labels, as beam search asks for it."""
        return CharLabelScorer(self, charset)

    def to_json(self) -> str:
        return json.dumps({"order": self.order, "vocab": self.vocab, "discount": self.discount,
                           "counts": self.counts}, ensure_ascii=False, separators=(",", ":"))

    def to_bytes(self, compress: bool = False) -> bytes:
        """``to_json`` as UTF-8; with ``compress``, the compressed form ``load`` reads from a
        ``.gz`` file: gzip of a JSON header line and one JSON line per context
        (``[context, characters, counts]``), so that loading never holds more than one row
        beside the flat arrays."""
        if not compress:
            return self.to_json().encode("utf-8")
        lines = [json.dumps({"format": LINES_FORMAT, "order": self.order, "vocab": self.vocab,
                             "discount": self.discount}, ensure_ascii=False)]
        lines += [json.dumps([ctx, "".join(row), list(row.values())], ensure_ascii=False)
                  for ctx, row in self.counts.items()]
        return gzip.compress("\n".join(lines).encode("utf-8") + b"\n", mtime=0)

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        """An LM written by ``to_json`` (``lm.json``) or ``to_bytes(compress=True)`` (a name
        ending in ``.gz``)."""
        try:
            if str(path).endswith(".gz"):
                return cls._load_lines(Path(path))
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(int(data["order"]), list(data["vocab"]), data["counts"],
                       float(data["discount"]))
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # gzip: OSError/EOFError
            raise ModelError(f"{path}: unreadable character language model: {exc}") from exc

    @classmethod
    def _load_lines(cls, path: Path) -> "CharNgramLM":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            head = json.loads(fh.readline())
            if head.get("format") != LINES_FORMAT:
                raise ValueError(f"not a compressed character LM ({LINES_FORMAT})")
            lm = cls(int(head["order"]), list(head["vocab"]), {}, float(head["discount"]))
            contexts, chars, lengths, numbers = [], io.StringIO(), array("q"), array("d")
            for line in fh:
                if line.strip():
                    ctx, row, counts = json.loads(line)
                    if len(counts) != len(row):
                        raise ValueError(f"context {ctx!r}: {len(row)} characters, {len(counts)} counts")
                    contexts.append(ctx)
                    chars.write(row)
                    lengths.append(len(row))
                    numbers.extend(counts)
        lm._set_rows(contexts, chars.getvalue(), lengths, numbers)
        return lm


class CharLabelScorer:
    """A character LM on CTC labels (1 + index into ``charset``; 0 is the blank): called with
    a prefix and a label, log P(label | prefix); ``row(prefix)``, every label's at once (beam
    search extends a prefix by several labels). Rows are memoised per seen context
    (``CharNgramLM.seen_context``; 8 bytes a value, CACHE_LIMIT rows at most), and which row
    belongs to a context of the last order-1 labels (KEY_LIMIT at most); a charset character
    the LM never saw gets its "outside the vocabulary" share.

    Beam search follows the LM from label to label instead (``start``, ``after``,
    ``rows_at``): a state is the seen context itself when the LM backs off in steps
    (``CharNgramLM.steps_back_off``; every LM ``train`` makes), else the last order-1 labels.
    Either way a prefix's state gives exactly its ``row``."""

    def __init__(self, lm: CharNgramLM, charset: list[str]) -> None:
        self.lm, self.charset = lm, list(charset)
        self._columns = np.array([lm.index.get(c, len(lm.vocab)) for c in charset] or [0])
        self._keep = lm.order - 1
        self.rows: dict[tuple[int, ...], np.ndarray] = {}  # label context -> its row
        self._seen: dict[str, np.ndarray] = {}  # seen context -> its row
        self.stepwise = lm.steps_back_off
        self.start: str | tuple[int, ...] = lm.seen_context("") if self.stepwise else ()

    def after(self, state: str | tuple[int, ...], label: int) -> str | tuple[int, ...]:
        """The state of a prefix of state ``state`` followed by ``label`` (not memoised:
        beam search keeps the moves it made)."""
        if self.stepwise:
            return self.lm.seen_after(state, self.charset[label - 1])  # type: ignore[arg-type]
        return (state + (label,))[-self._keep:] if self._keep else ()  # type: ignore[operator]

    def row(self, prefix: tuple[int, ...]) -> np.ndarray:
        """log P(label | prefix) of every label, at ``[label - 1]`` (read-only, memoised)."""
        key = prefix[-self._keep:] if self._keep else ()
        got = self.rows.get(key)
        if got is None:
            got = self.rows_at([key], stepwise=False)[0]
            if len(self.rows) >= KEY_LIMIT:
                self.rows.clear()
            self.rows[key] = got
        return got

    def rows_at(self, states: list, stepwise: bool | None = None) -> np.ndarray:
        """The rows of several states at once (``row`` of prefixes in those states),
        (states, labels): the new seen contexts' distributions worked out together
        (``CharNgramLM.distributions``). ``stepwise=False``: the states are label contexts."""
        stepwise = self.stepwise if stepwise is None else stepwise
        seen = list(states) if stepwise else [
            self.lm.seen_context("".join(self.charset[c - 1] for c in key)) for key in states]
        known = {c: self._seen[c] for c in seen if c in self._seen}
        new = list(dict.fromkeys(c for c in seen if c not in known))
        if new:
            dists = np.stack(self.lm.distributions(new))[:, self._columns]
            logs = np.log(np.maximum(dists, 1e-12))
            logs.flags.writeable = False
            known.update(zip(new, logs))
            if len(self._seen) + len(new) > CACHE_LIMIT:
                self._seen.clear()
            self._seen.update(zip(new, logs))
        return np.stack([known[c] for c in seen]) if seen else np.zeros((0, len(self.charset)))

    def __call__(self, prefix: tuple[int, ...], label: int) -> float:
        return float(self.row(prefix)[label - 1])
