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
from itertools import islice
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from engine.errors import ModelError

BOS = "\x02"  # start-of-line context symbol (never a charset character)
COLUMNS_FORMAT = "htrjand-char-lm-columns/1"  # the compressed form (``to_bytes(compress=True)``)
LINES_FORMAT = "htrjand-char-lm-lines/1"  # the earlier one, a JSON line per context (still read)
CACHE_LIMIT = 16_384
"""Memoised context distributions kept at most, and as many rows of a label scorer's ``row``
(then forgotten at once; each is one float per character, about 1 KB: some 30 MB in all): an
unbounded cache of single probabilities once grew to 570,000 entries after 858 Hooker lines
(about 250 MB). Beam search keeps its own rows, one per LM state a search meets."""
KEY_LIMIT = 4 * CACHE_LIMIT
"""Label contexts a label scorer remembers the row of (each a reference to one of its rows,
about 200 bytes: some 13 MB in all). Most contexts a beam search meets were never seen in
training and share the row of a shorter one, so there are about twice as many as rows."""

LOAD_CHUNK = 4096
"""Lines of the earlier compressed form (``LINES_FORMAT``) parsed by one ``json.loads``: fewer
calls than one a line (Hooker's 485,467 contexts loaded in about 1.35 instead of 1.47 CPU
seconds), few enough that loading holds little beside the flat arrays."""

FEW_ROWS = 6
"""Up to this many rows, ``row_distributions`` works them out one by one (``_distribution``,
whose memo keeps the shorter contexts it meets): cheaper than its numpy calls per context
length for a few (a line decoded alone asks for a few new ones a frame)."""


def _code_points(text: str) -> np.ndarray:
    """The code point of each character of ``text`` (int32, a view of its UTF-32)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.int32)


def _lookup(points: np.ndarray, table: dict[str, int]) -> np.ndarray:
    """The number ``table`` gives each code point's character (-1 where it has none)."""
    singles = {ord(c): i for c, i in table.items() if len(c) == 1}
    size = max(int(points.max(initial=0)), max(singles, default=0)) + 1
    out = np.full(size, -1, np.int32)
    out[list(singles)] = list(singles.values())
    return out[points]


def _text(value: object) -> str:
    """A column of joined characters (ValueError if it is not a string)."""
    if not isinstance(value, str):
        raise ValueError("expected a string of characters")
    return value


def _numbers(values: object, kinds: str = "iuf") -> np.ndarray:
    """A JSON list of numbers of numpy ``kinds`` (\"iu\": whole numbers) as int64 or float64
    (ValueError for anything else: not a list, nested, strings, booleans)."""
    out = np.array(values if isinstance(values, list) else None)
    if out.ndim != 1 or (len(out) and out.dtype.kind not in kinds):
        raise ValueError(f"expected a list of {'whole ' if 'f' not in kinds else ''}numbers")
    return out.astype(np.float64 if "f" in kinds else np.int64)


def _whole_numbers(values: object) -> np.ndarray:
    """A JSON list of whole numbers as int64 (``_numbers``)."""
    return _numbers(values, "iu")


class _Trie(NamedTuple):
    """The seen contexts as a trie, each a row: every row's parent (the context without its
    last character; -1 for \"\"), that last character's code (``codes``) and the row's length
    (``depth``); the rows continued by one character, sorted by ``keys`` = parent row *
    ``classes`` + the character's code, with ``kids`` their rows; and each row's longest seen
    proper end (``fail``: the row's context without its first character, or that context's
    own seen end). What ``moves`` follows, and what finds a context's row without a dict of
    the contexts' strings: Hooker's LM (485,467 rows) holds 45 MB loaded, 111 MB with that
    dict and the automaton made from it (``tracemalloc``)."""

    keys: np.ndarray
    kids: np.ndarray
    fail: np.ndarray
    depth: np.ndarray
    parent: np.ndarray
    last: np.ndarray
    classes: int
    codes: dict[str, int]
    root: int


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
        self._settings(order, vocab, discount)
        self._set_rows("".join(counts), np.fromiter(map(len, counts), np.int64, len(counts)),
                       "".join("".join(nxt) for nxt in counts.values()),
                       np.fromiter(map(len, counts.values()), np.int64, len(counts)),
                       np.fromiter((n for nxt in counts.values() for n in nxt.values()), np.float64))

    def _settings(self, order: int, vocab: list[str], discount: float) -> None:
        """What an LM holds beside its rows (``__init__`` and ``_from_columns``)."""
        self.order = order
        self.vocab = vocab
        self.discount = discount
        self.index = {c: i for i, c in enumerate(vocab)}
        self._cache: dict[int, np.ndarray] = {}

    def _set_rows(self, contexts: str, context_lengths: np.ndarray, joined: str,
                  lengths: np.ndarray, numbers: np.ndarray) -> None:
        """Keep the counts flat: row i (the next ``context_lengths[i]`` characters of
        ``contexts``) counts the next ``lengths[i]`` characters of ``joined`` with as many
        ``numbers``. An LM with 50,000 lines of prose has 330,000 contexts: 130 MB as a dict
        per context, a third of that like this; worked out on the characters' code points
        in numpy, not context by context (Hooker's LM: 0.4 instead of 1.1-1.3 CPU seconds)."""
        context_lengths = np.asarray(context_lengths, np.int64)
        lengths, nums = np.asarray(lengths, np.int64), np.asarray(numbers, np.float64)
        if not len(nums) == len(joined) == int(lengths.sum()) or len(lengths) != len(context_lengths):
            raise ValueError("counts must be of single characters, one number each")
        if int(context_lengths.sum()) != len(contexts) or (context_lengths < 0).any():
            raise ValueError("the contexts' lengths do not add up to their characters")
        keep = lengths > 0  # (a row of no counts would divide by zero)
        # the trie first, while little else is held (its making needs the most memory)
        self._trie = self._make_trie(_code_points(contexts)[np.repeat(keep, context_lengths)],
                                     context_lengths[keep])
        idx = _lookup(_code_points(joined), self.index)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        firsts = bounds[:-1][keep]
        totals = np.add.reduceat(nums, firsts) if len(firsts) else np.zeros(0)
        known = idx >= 0
        # characters outside ``vocab`` (never made by train or adapted) only feed the back-off
        # weight, through the row's total and number of types
        self._outside: dict[str, dict[str, int]] = {}
        ctx_bounds = np.concatenate([[0], np.cumsum(context_lengths)])
        for pos in np.flatnonzero(~known).tolist():
            row = int(np.searchsorted(bounds, pos, "right")) - 1
            ctx = contexts[ctx_bounds[row]:ctx_bounds[row + 1]]
            self._outside.setdefault(ctx, {})[joined[pos]] = int(nums[pos])
        cum = np.concatenate([[0], np.cumsum(known)])
        starts = np.append(cum[firsts], cum[-1])
        self._chars, self._numbers = idx[known], nums[known]
        # what ``_row_distribution`` needs of each row, worked out once: its discounted shares
        # and the weight it leaves to the lower order
        self._shares = np.maximum(self._numbers - self.discount, 0) / np.repeat(totals, np.diff(starts))
        backoff = self.discount * lengths[keep] / totals
        self._counted = len(backoff)  # rows 0.. of counts; after them the added starts
        grow = self.n_rows - len(backoff)  # (the starts ``_make_trie`` added: no counts)
        self._backoff = np.append(backoff, np.ones(grow))
        self._starts = np.append(starts, np.full(grow, starts[-1]))

    def _make_trie(self, points: np.ndarray, lengths: np.ndarray) -> _Trie:
        """The ``_Trie`` of the contexts whose characters' code points are ``points``, the
        next ``lengths[i]`` of them row i's: rows, parents and codes a length at a time (a
        context's row is found among the rows of its length by its parent's row and last
        character), then each row's ``fail`` likewise from the shorter rows' (the automaton
        of Aho and Corasick: a row's seen end is where its parent's goes with the row's last
        character).

        Every context's start (the context without its last character; and \"\") that is
        not among the contexts becomes a row after them, one that backs off entirely, so that
        the LM can be followed character by character (``moves``). Such a row's
        distribution is exactly its lower order's, as an unseen context's is: ``train`` and
        ``adapted`` never need one (a context seen before some character is the start of one
        seen after it); hand-made counts or an LM pruned at every order may."""
        extra = [chr(p) for p in np.unique(points).tolist() if chr(p) not in self.index]
        codes = {c: i for i, c in enumerate(dict.fromkeys([*self.vocab, *extra]))}
        classes = max(1, len(codes))
        char = _lookup(points, codes)
        n = len(lengths)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        parent, last = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
        added_parent, added_last, added_depth = [], [], []  # the starts not among them
        empty = np.flatnonzero(lengths == 0)
        if len(empty) > 1:
            raise ValueError("a context is given twice")
        root = int(empty[0]) if len(empty) else n
        if not len(empty):
            added_parent, added_last, added_depth = [np.array([-1])], [np.array([-1])], [np.array([0])]
        size = n + (not len(empty))
        cur = np.full(n, root, np.int64)  # each context's row of its first d - 1 characters
        for d in range(1, int(lengths.max(initial=0)) + 1):
            at = np.flatnonzero(lengths >= d)
            key = cur[at] * classes + char[first[at] + d - 1]
            ends = lengths[at] == d
            own, mine = key[ends], at[ends]
            order = np.argsort(own, kind="stable")
            own, mine = own[order], mine[order]
            if (own[1:] == own[:-1]).any():
                raise ValueError("a context is given twice")
            parent[mine], last[mine] = own // classes, own % classes
            more, longer = key[~ends], at[~ends]
            pos = np.minimum(np.searchsorted(own, more), max(len(own) - 1, 0))
            hit = own[pos] == more if len(own) else np.zeros(len(more), bool)
            cur[longer[hit]] = mine[pos[hit]]
            starts, which = np.unique(more[~hit], return_inverse=True)
            cur[longer[~hit]] = size + which.ravel()
            added_parent.append(starts // classes)
            added_last.append(starts % classes)
            added_depth.append(np.full(len(starts), d))
            size += len(starts)
        parent = np.concatenate([parent, *added_parent]).astype(np.int32)
        last = np.concatenate([last, *added_last]).astype(np.int32)
        depth = np.concatenate([lengths, *added_depth]).astype(np.int16)
        longer = np.flatnonzero(depth > 0)
        keys = parent[longer].astype(np.int64) * classes + last[longer]
        order = np.argsort(keys, kind="stable")
        trie = _Trie(keys[order], longer[order].astype(np.int64), np.full(size, root, np.int64),
                     depth, parent, last, classes, codes, root)
        for length in range(2, int(depth.max(initial=0)) + 1):
            at = np.flatnonzero(depth == length)
            trie.fail[at] = self._follow(trie, trie.fail[parent[at]], last[at].astype(np.int64))
        return trie

    @staticmethod
    def _follow(trie: _Trie, cur: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The longest seen end of each row ``cur``'s context followed by the character of
        ``codes`` (-1: none of the LM's): ``cur``'s seen ends tried from the longest down
        (each the ``fail`` of the one before) for one that a seen context continues with the
        character; the root when none does. (``cur``, when of int64, is changed in place.)"""
        keys, kids, fail = trie.keys, trie.kids, trie.fail
        cur = np.asarray(cur, np.int64)
        out = np.full(len(cur), trie.root, np.int64)
        todo = np.flatnonzero(codes >= 0)
        while len(todo) and len(keys):
            key = cur[todo] * trie.classes + codes[todo]
            pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            hit = keys[pos] == key
            out[todo[hit]] = kids[pos[hit]]
            todo = todo[~hit]
            todo = todo[cur[todo] != trie.root]  # (not continued even after \"\": \"\")
            cur[todo] = fail[cur[todo]]
        return out

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Context -> next character -> count (rebuilt from the flat rows: for inspection and
        the uncompressed ``lm.json``; ``adapted`` and the compressed form use ``_columns``)."""
        contexts, context_lengths, joined, lengths, numbers = self._columns()
        ends, starts = np.cumsum(context_lengths).tolist(), np.cumsum(lengths).tolist()
        out, a, b, nums = {}, 0, 0, numbers.tolist()
        for end, stop in zip(ends, starts):
            out[contexts[a:end]] = {c: int(n) for c, n in zip(joined[b:stop], nums[b:stop])}
            a, b = end, stop
        return out

    def _columns(self) -> tuple[str, np.ndarray, str, np.ndarray, np.ndarray]:
        """The counts as ``_set_rows`` takes them: every row of counts (not the starts added
        for the trie), its context, and its next characters with their counts, characters
        outside ``vocab`` included. Worked out on the arrays (Hooker's LM: a dict per context
        would hold 137 MB)."""
        counted = self._counted
        contexts = self._context_strings()[:counted]
        spans = np.diff(self._starts[:counted + 1])
        rows = np.repeat(np.arange(counted), spans)
        vocab_points = np.array([ord(c) if len(c) == 1 else -1 for c in self.vocab] or [0], np.int64)
        end = int(self._starts[counted]) if counted else 0
        points, numbers = vocab_points[self._chars[:end]], self._numbers[:end]
        if self._outside:  # (hand-made counts only: ``train`` never counts such characters)
            found = self._rows_of(list(self._outside)).tolist()
            extra = [(r, ord(c), n) for (ctx, row), r in zip(self._outside.items(), found)
                     for c, n in row.items()]
            rows = np.concatenate([rows, [r for r, _, _ in extra]])
            points = np.concatenate([points, [p for _, p, _ in extra]])
            numbers = np.concatenate([numbers, [n for _, _, n in extra]])
            order = np.argsort(rows, kind="stable")
            rows, points, numbers = rows[order], points[order], numbers[order]
        return ("".join(contexts), np.fromiter(map(len, contexts), np.int64, counted),
                points.astype("<u4").tobytes().decode("utf-32-le"),
                np.bincount(rows, minlength=counted).astype(np.int64), numbers.astype(np.float64))

    @classmethod
    def _from_columns(cls, order: int, vocab: list[str], discount: float,
                      columns: tuple[str, np.ndarray, str, np.ndarray, np.ndarray]) -> "CharNgramLM":
        """An LM of counts given as ``_set_rows`` takes them (its rows made once)."""
        lm = cls.__new__(cls)
        lm._settings(order, vocab, discount)
        lm._set_rows(*columns)
        return lm

    def _context_strings(self) -> list[str]:
        """Every row's context, by row (from the trie, shortest first: for ``counts``)."""
        trie = self._trie
        chars = list(trie.codes)
        out = [""] * len(trie.depth)
        parent, last = trie.parent.tolist(), trie.last.tolist()
        for r in np.argsort(trie.depth, kind="stable").tolist():
            if parent[r] >= 0:
                out[r] = out[parent[r]] + chars[last[r]]
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
        (default: this one's; a fine-tuned model's larger charset adds its new characters).
        Merged as columns of (row, character, count), not as a dict per context."""
        vocab = list(vocab) if vocab is not None else list(self.vocab)
        contexts, context_lengths, joined, lengths, numbers = self._columns()
        added = CharNgramLM.train(texts, vocab, order=self.order).counts if weight > 0 else {}
        if added:  # (no rows of zero counts: they would divide by zero in prob)
            rows = np.repeat(np.arange(len(lengths)), lengths)
            points = _code_points(joined).astype(np.int64)
            fresh: dict[str, int] = {}  # contexts this LM has no counts after, their new rows
            new_rows, new_points, new_numbers = [], [], []
            for (ctx, row), r in zip(added.items(), self._rows_of(list(added)).tolist()):
                if not 0 <= r < self._counted:  # (unseen, or only a start the trie added)
                    r = fresh.setdefault(ctx, len(lengths) + len(fresh))
                new_rows += [r] * len(row)
                new_points += map(ord, row)
                new_numbers += [weight * n for n in row.values()]
            rows = np.concatenate([rows, new_rows]).astype(np.int64)
            points = np.concatenate([points, new_points]).astype(np.int64)
            span = int(points.max()) + 1  # (a pair's key: row * span + code point)
            every, which = np.unique(rows * span + points, return_inverse=True)
            numbers = np.bincount(which.ravel(), np.concatenate([numbers, new_numbers]))
            rows, points = np.divmod(every, span)
            contexts += "".join(fresh)
            context_lengths = np.concatenate([context_lengths, [len(c) for c in fresh]]).astype(np.int64)
            lengths = np.bincount(rows, minlength=len(context_lengths)).astype(np.int64)
            joined = points.astype("<u4").tobytes().decode("utf-32-le")
        return CharNgramLM._from_columns(self.order, vocab, self.discount,
                                         (contexts, context_lengths, joined, lengths, numbers))

    def distribution(self, context: str) -> np.ndarray:
        """P(· | last order-1 characters of context) over ``vocab`` plus one last slot for any
        character outside it. Beam search asks for several characters after the same context,
        so the whole row is computed at once (and memoised, each shorter context too)."""
        return self._row_distribution(self.state(context))

    def _context(self, context: str) -> str:
        """The last order-1 characters of ``context``, start-of-line symbols before a short one."""
        return (BOS * (self.order - 1) + context)[-(self.order - 1):] if self.order > 1 else ""

    def state(self, context: str) -> int:
        """The row of ``seen_context(context)``: ``moves``'s state after ``context``."""
        trie, row = self._trie, self._trie.root
        for c in self._context(context):  # (order-1 at most: never more than a row can hold)
            code = trie.codes.get(c, -1)
            kid = self._child(row, code)
            while kid < 0 and row != trie.root:  # ``_follow`` for one row, without numpy calls
                row = int(trie.fail[row])
                kid = self._child(row, code)
            row = kid if kid >= 0 else trie.root
        return row

    def _child(self, row: int, code: int) -> int:
        """The row of ``row``'s context followed by the character of ``code``; -1 if unseen."""
        trie = self._trie
        key = row * trie.classes + code
        pos = int(trie.keys.searchsorted(key))
        return int(trie.kids[pos]) if code >= 0 and pos < len(trie.keys) and trie.keys[pos] == key else -1

    def seen_context(self, context: str) -> str:
        """The longest end of ``context``'s last order-1 characters that the LM has a row of
        (counts after it, or the start of one that has; \"\" at least): the context whose
        distribution it is. An unseen context backs off to one character less, so all contexts
        with the same seen end share one distribution."""
        return self.context_of(self.state(context))

    def context_of(self, row: int) -> str:
        """The seen context of a row (``state``'s, ``moves``'s)."""
        trie, chars = self._trie, list(self._trie.codes)
        out = []
        while row != trie.root:
            out.append(chars[int(trie.last[row])])
            row = int(trie.parent[row])
        return "".join(reversed(out))

    def moves(self, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The seen context (as its row) after each context of seen context ``rows`` followed
        by the character of each ``codes`` (``char_code``; -1: a character no context holds):
        ``seen_context`` of the longer context, worked out for many at once from the seen
        ends alone. Every seen context's start is seen (``_make_trie``), so the seen
        contexts form a trie, and the longest seen end of ``seen + char`` is found by trying
        ``seen``'s seen ends from the longest down (``_follow``). What beam search follows a
        prefix's LM state with; a context of order-1 characters first loses its first."""
        trie = self._trie
        rows = np.asarray(rows, np.int64)
        cur = np.where(trie.depth[rows] >= self.order - 1, trie.fail[rows], rows)  # room for one more
        return self._follow(trie, cur, np.asarray(codes, np.int64))

    def char_code(self, char: str) -> int:
        """``char``'s number in ``moves`` (-1 when no seen context holds it)."""
        return self._trie.codes.get(char, -1)

    def row_of(self, seen: str) -> int:
        """The row of a seen context (``seen_context``'s answer): ``moves``'s state for it.
        KeyError when ``seen`` is not a seen context."""
        row = int(self._rows_of([seen])[0])
        if row < 0:
            raise KeyError(seen)
        return row

    def _rows_of(self, contexts: list[str]) -> np.ndarray:
        """``row_of`` of many contexts at once (-1 for one that is not a row), the trie
        walked a character at a time for all of them together."""
        trie = self._trie
        lengths = np.fromiter(map(len, contexts), np.int64, len(contexts))
        points = _code_points("".join(contexts))
        codes = _lookup(points, trie.codes).astype(np.int64) if len(points) else np.zeros(0, np.int64)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        rows = np.full(len(contexts), trie.root, np.int64)
        for d in range(int(lengths.max(initial=0))):
            at = np.flatnonzero((lengths > d) & (rows >= 0))
            code = codes[first[at] + d]
            key = rows[at] * trie.classes + code
            pos = np.minimum(np.searchsorted(trie.keys, key), max(len(trie.keys) - 1, 0))
            hit = (code >= 0) & (trie.keys[pos] == key) if len(trie.keys) else np.zeros(len(at), bool)
            rows[at] = np.where(hit, trie.kids[pos] if len(trie.keys) else -1, -1)
        return rows

    @property
    def n_rows(self) -> int:
        """How many rows (seen contexts) the LM has: ``moves``'s states are ``range(n_rows)``."""
        return len(self._trie.depth)

    def clear_memo(self) -> None:
        """Forget the memoised distributions (e.g. to time decoding from a cold start)."""
        self._cache.clear()

    def _row_distribution(self, row: int) -> np.ndarray:
        """The distribution of a row's seen context (read-only, memoised with its seen
        ends'): its discounted counts plus the back-off share of its seen end's."""
        cached = self._cache.get(row)
        if cached is not None:
            return cached
        if self._trie.depth[row]:
            lower = self._row_distribution(int(self._trie.fail[row]))
        else:
            lower = np.full(len(self.vocab) + 1, 1.0 / (len(self.vocab) + 1))
        # (counts of characters outside ``vocab`` only feed the back-off weight, through the
        # row's number of types; such characters all share the last slot)
        a, b = self._starts[row], self._starts[row + 1]
        p = self._backoff[row] * lower
        p[self._chars[a:b]] += self._shares[a:b]
        p.flags.writeable = False  # memoised and shared with longer contexts
        if len(self._cache) >= CACHE_LIMIT:  # bounded: a batch of many pages must not grow it
            self._cache.clear()
        self._cache[row] = p
        return p

    def row_distributions(self, rows: np.ndarray) -> np.ndarray:
        """``_row_distribution`` of several rows at once, (rows, vocab + 1), the same values:
        a row's lower order is the distribution of its context less the first character,
        which is that of its seen end (``fail``, one character shorter at least). The rows
        and their seen ends are worked out once each, shortest first, all of one length in a
        few numpy calls (beam search asks for dozens of new contexts a frame across a page's
        lines)."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return np.zeros((0, len(self.vocab) + 1))
        if len(rows) <= FEW_ROWS:  # one at a time is cheaper (and memoised)
            return np.stack([self._row_distribution(r) for r in rows.tolist()])
        fail, depth = self._trie.fail, self._trie.depth
        every, ends = [rows], rows
        for _ in range(self.order - 1):  # each row's seen ends
            ends = fail[ends]
            every.append(ends)
        every_row = np.unique(np.concatenate(every))  # (sorted: found by searchsorted)
        out = np.empty((len(every_row), len(self.vocab) + 1))
        lengths = depth[every_row]
        for length in np.unique(lengths).tolist():
            at = np.flatnonzero(lengths == length)
            r = every_row[at]
            if length:
                lower = out[np.searchsorted(every_row, fail[r])]
            else:
                lower = np.full((len(r), out.shape[1]), 1.0 / out.shape[1])
            out[at] = self._backoff[r][:, None] * lower
            a, b = self._starts[r], self._starts[r + 1]
            counts = b - a
            flat = np.repeat(a - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) \
                + np.arange(int(counts.sum()))  # every count of those rows, row after row
            out[np.repeat(at, counts), self._chars[flat]] += self._shares[flat]
        return out[np.searchsorted(every_row, rows)]

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
        return float(self.text_log_probs([text])[0])

    def text_log_probs(self, texts: list[str]) -> np.ndarray:
        """``text_log_prob`` of several texts (a page's readings) at once: their contexts
        followed a character at a time together (``moves``), each seen context's
        distribution worked out once (``row_distributions``)."""
        lengths = np.array([len(t) for t in texts], np.int64)
        states = np.full(len(texts), self.state(""), np.int64)
        asked, columns, owners = [], [], []  # each character's context, itself, its text
        for i in range(int(lengths.max(initial=0))):
            at = np.flatnonzero(lengths > i)
            chars = [texts[k][i] for k in at.tolist()]
            asked.append(states[at])
            columns.append([self.index.get(c, len(self.vocab)) for c in chars])
            owners.append(at)
            states[at] = self.moves(states[at], np.array([self.char_code(c) for c in chars],
                                                         np.int64))
        out = np.zeros(len(texts))
        if asked:
            rows, where = np.unique(np.concatenate(asked), return_inverse=True)
            probs = self.row_distributions(rows)[where.ravel(), np.concatenate(columns)]
            np.add.at(out, np.concatenate(owners), np.log(np.maximum(probs, 1e-12)))
        return out

    def label_scorer(self, charset: list[str]) -> "CharLabelScorer":
        """log P(label | previous labels) for CTC labels, as beam search asks for it."""
        return CharLabelScorer(self, charset)

    def to_json(self) -> str:
        return json.dumps({"order": self.order, "vocab": self.vocab, "discount": self.discount,
                           "counts": self.counts}, ensure_ascii=False, separators=(",", ":"))

    def to_bytes(self, compress: bool = False) -> bytes:
        """``to_json`` as UTF-8; with ``compress``, the compressed form ``load`` reads from a
        ``.gz`` file: gzip of a JSON header line and five JSON lines of columns, the contexts
        joined in one string, their lengths, their next characters joined, how many each has,
        and the counts (``COLUMNS_FORMAT``): six ``json.loads`` calls load it, where the
        earlier form of a line per context (``LINES_FORMAT``, still read) takes one Python
        step per context (Hooker's LM loads in 0.6-0.7 CPU seconds, 1.0-1.4 in the earlier
        form). Compression level 6: 2 % larger than 9, compressed in 0.5 instead of 4 seconds."""
        if not compress:
            return self.to_json().encode("utf-8")
        contexts, context_lengths, joined, lengths, numbers = self._columns()
        columns = [{"format": COLUMNS_FORMAT, "order": self.order, "vocab": self.vocab,
                    "discount": self.discount}, contexts, context_lengths.tolist(), joined,
                   lengths.tolist(), [int(n) if n.is_integer() else n for n in numbers.tolist()]]
        text = "\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in columns)
        return gzip.compress(text.encode("utf-8") + b"\n", compresslevel=6, mtime=0)

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        """An LM written by ``to_json`` (``lm.json``) or ``to_bytes(compress=True)`` (a name
        ending in ``.gz``; either compressed form)."""
        try:
            if str(path).endswith(".gz"):
                return cls._load_compressed(Path(path))
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(int(data["order"]), list(data["vocab"]), data["counts"],
                       float(data["discount"]))
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # gzip: OSError/EOFError
            raise ModelError(f"{path}: unreadable character language model: {exc}") from exc

    @classmethod
    def _load_compressed(cls, path: Path) -> "CharNgramLM":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            head = json.loads(fh.readline())
            if not isinstance(head, dict) or head.get("format") not in (COLUMNS_FORMAT, LINES_FORMAT):
                raise ValueError(f"not a compressed character LM ({COLUMNS_FORMAT})")
            order, vocab, discount = int(head["order"]), list(head["vocab"]), float(head["discount"])
            if head["format"] == LINES_FORMAT:
                return cls._from_columns(order, vocab, discount, cls._read_lines(fh))
            columns = []  # each list made an array at once: loading holds one list at a time
            for make in (_text, _whole_numbers, _text, _whole_numbers, _numbers):
                columns.append(make(json.loads(fh.readline() or "null")))
            if fh.read().strip():
                raise ValueError("more than the five columns after the header")
        return cls._from_columns(order, vocab, discount, tuple(columns))

    @staticmethod
    def _read_lines(fh: Iterable[str]) -> tuple[str, np.ndarray, str, np.ndarray, np.ndarray]:
        """The columns of the earlier compressed form, a JSON line per context
        (``[context, characters, counts]``; fine-tuned versions written before session 27)."""
        contexts, chars, numbers = io.StringIO(), io.StringIO(), array("d")
        context_lengths, lengths = array("q"), array("q")
        while chunk := [line for line in islice(fh, LOAD_CHUNK) if line.strip()]:
            for ctx, row, counts in json.loads(f"[{','.join(chunk)}]"):
                if len(counts) != len(row):
                    raise ValueError(f"context {ctx!r}: {len(row)} characters, {len(counts)} counts")
                contexts.write(ctx)
                context_lengths.append(len(ctx))
                chars.write(row)
                lengths.append(len(row))
                numbers.extend(counts)
        as_numbers = (lambda a, kind: np.frombuffer(a, kind) if len(a) else np.zeros(0, kind))
        return (contexts.getvalue(), as_numbers(context_lengths, np.int64), chars.getvalue(),
                as_numbers(lengths, np.int64), as_numbers(numbers, np.float64))


class CharLabelScorer:
    """A character LM on CTC labels (1 + index into ``charset``; 0 is the blank): called with
    a prefix and a label, log P(label | prefix); ``row(prefix)``, every label's at once (beam
    search extends a prefix by several labels). Rows are memoised per seen context
    (``CharNgramLM.state``; 8 bytes a value, CACHE_LIMIT rows at most), and which row
    belongs to a context of the last order-1 labels (KEY_LIMIT at most); a charset character
    the LM never saw gets its "outside the vocabulary" share.

    Beam search follows the LM label by label instead: a prefix's state is its seen context
    (a row number of the LM, ``start`` for the empty prefix), ``moves`` gives the states of
    prefixes one label longer and ``rows_at`` their rows, exactly the prefixes' ``row``."""

    def __init__(self, lm: CharNgramLM, charset: list[str]) -> None:
        self.lm, self.charset = lm, list(charset)
        self._columns = np.array([lm.index.get(c, len(lm.vocab)) for c in charset] or [0])
        self._keep = lm.order - 1
        self.rows: dict[tuple[int, ...], np.ndarray] = {}  # label context -> its row
        self._seen: dict[int, np.ndarray] = {}  # seen context (its LM row) -> its row
        self.start = lm.state("")
        self.n_states = lm.n_rows
        self._codes = np.array([lm.char_code(c) for c in charset] + [-1])

    def moves(self, states: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The state of a prefix in each state followed by each label (``CharNgramLM.moves``)."""
        return self.lm.moves(states, self._codes[labels - 1])

    def rows_at(self, states: np.ndarray) -> np.ndarray:
        """The rows of several states at once, (states, labels), worked out together
        (``CharNgramLM.row_distributions``; beam search asks once per state and search)."""
        dists = self.lm.row_distributions(np.asarray(states, np.int64))[:, self._columns]
        return np.log(np.maximum(dists, 1e-12))

    def row(self, prefix: tuple[int, ...]) -> np.ndarray:
        """log P(label | prefix) of every label, at ``[label - 1]`` (read-only, memoised)."""
        key = prefix[-self._keep:] if self._keep else ()
        got = self.rows.get(key)
        if got is None:
            state = self.lm.state("".join(self.charset[c - 1] for c in key))
            got = self._seen.get(state)
            if got is None:
                if len(self._seen) >= CACHE_LIMIT:
                    self._seen.clear()
                got = self._seen[state] = self.rows_at(np.array([state]))[0]
                got.flags.writeable = False
            if len(self.rows) >= KEY_LIMIT:
                self.rows.clear()
            self.rows[key] = got
        return got

    def __call__(self, prefix: tuple[int, ...], label: int) -> float:
        return float(self.row(prefix)[label - 1])
