"""CTC decoding of frame posteriors (T, C) with class 0 the blank: greedy best path and
prefix beam search, plus per-character confidences along the best alignment."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

BLANK = 0
LabelScorer = Callable[[tuple[int, ...], int], float]
"""log P(label | previous labels); one that also has ``row(prefix)`` (every label's, at
``[label - 1]``) is asked once per prefix (``lm.CharLabelScorer``)."""


def greedy_decode(log_probs: np.ndarray) -> tuple[list[int], list[float]]:
    """Best path: argmax per frame, collapse repeats, drop blanks. Each character's confidence
    is the highest posterior of its label over the frames of its run."""
    best = log_probs.argmax(-1)
    labels, confs = [], []
    prev = BLANK
    for t, c in enumerate(best.tolist()):
        p = float(math.exp(log_probs[t, c]))
        if c != BLANK and c == prev:
            confs[-1] = max(confs[-1], p)
        elif c != BLANK:
            labels.append(c)
            confs.append(p)
        prev = c
    return labels, confs


def beam_decode(log_probs: np.ndarray, beam: int = 8, prune: float = 1e-3,
                lm: LabelScorer | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0
                ) -> tuple[list[int], list[float]]:
    """CTC prefix beam search; returns the best labelling and its characters' confidences
    (posterior of each label along the Viterbi alignment of that labelling).

    With ``lm`` (log P(next label | previous labels)), prefixes are ranked by
    CTC + ``lm_weight`` * LM + ``length_bonus`` * length (shallow fusion)."""
    if beam <= 1 and lm is None:
        return greedy_decode(log_probs)
    labels = beam_nbest(log_probs, beam, 1, prune, lm, lm_weight, length_bonus)[0][0]
    return labels, align_confidences(log_probs, labels)


def beam_nbest(log_probs: np.ndarray, beam: int = 8, n: int = 8, prune: float = 1e-3,
               lm: LabelScorer | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0
               ) -> list[tuple[list[int], float]]:
    """The ``n`` best labellings of the prefix beam search (see :func:`beam_decode`), best
    first, each with its fused score (CTC log-probability + LM and length terms): the
    alternatives a rescorer may choose from. Labellings of probability 0 are never listed.

    Each frame's step scores every prefix of the beam and every extension at once (numpy
    arrays); prefixes are nodes of a trie, made only for the extensions that enter the beam.
    With ``lm.row(prefix)`` (the LM's log-probabilities of every label, ``[label - 1]``) a
    prefix's LM row is fetched once, not once per label."""
    rows = np.asarray(log_probs, dtype=np.float64)
    width, log_prune = max(1, beam), math.log(prune)
    trie = _PrefixTrie(lm, lm_weight, rows.shape[1] - 1)
    ids = np.zeros(1, np.int64)  # the beam's trie nodes, and their path log-probabilities
    pb, pnb = np.zeros(1), np.full(1, -np.inf)  # ending in blank / in their last label
    sure = _sure_blanks(rows, log_prune)
    t = 0
    while t < len(rows):
        if sure[t]:  # sure blanks: every prefix only ends in blank, ranks unchanged
            end = t + 1
            while end < len(rows) and sure[end]:
                end += 1
            pb, pnb = np.logaddexp(pb, pnb) + rows[t:end, BLANK].sum(), np.full(len(ids), -np.inf)
            t = end
            continue
        row = rows[t]
        t += 1
        cands = np.flatnonzero(row > log_prune)
        if not len(cands):
            cands = row.argmax(keepdims=True)
        labels = cands[cands != BLANK]
        lp = row[labels]
        total = np.logaddexp(pb, pnb)
        # the beam's own prefixes: a blank, or their last label once more (no blank between)
        stay_pb = total + row[BLANK] if cands[0] == BLANK else np.full(len(ids), -np.inf)
        repeat = trie.last[ids][:, None] == labels[None, :]  # (beam, labels)
        stay_pnb = np.where(repeat.any(1), pnb + (repeat * lp).sum(1), -np.inf)
        # each prefix extended by each label (a repeated label needs a blank in between)
        ext = np.where(repeat, pb[:, None], total[:, None]) + lp[None, :]
        js, at, slot = trie.extensions_in(ids, labels)  # adds to the prefix it already is
        if len(js):
            stay_pnb[js] = np.logaddexp(stay_pnb[js], ext[at, slot])
            ext[at, slot] = -np.inf
        fused = trie.fused[ids]
        grown = fused[:, None] + trie.steps(ids, labels) + length_bonus  # extensions' LM + length
        keep = _top(np.concatenate([np.logaddexp(stay_pb, stay_pnb) + fused,
                                    (ext + grown).ravel()]), width)
        ids = trie.kept(ids, labels, keep, grown)
        pb = np.concatenate([stay_pb, np.full(ext.size, -np.inf)])[keep]
        pnb = np.concatenate([stay_pnb, ext.ravel()])[keep]
    score = np.logaddexp(pb, pnb) + trie.fused[ids]
    return [(trie.labels(int(ids[i])), float(score[i])) for i in _top(score, max(1, n)).tolist()]


def _sure_blanks(rows: np.ndarray, log_prune: float) -> np.ndarray:
    """Frames where blank is the only label above the pruning threshold (or, with none above
    it, the most probable)."""
    if not rows.size:
        return np.zeros(len(rows), dtype=bool)
    above = rows > log_prune
    return np.where(above.any(1), above[:, BLANK] & (above.sum(1) == 1),
                    rows.argmax(1) == BLANK)


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, highest first (ties: the earlier)."""
    finite = np.flatnonzero(score > -np.inf)
    return finite[np.argsort(-score[finite], kind="stable")][:k]


class _PrefixTrie:
    """The prefixes beam search has kept: node 0 is the empty prefix, each other node its
    parent's prefix and one more label, with its fused score (the LM and length terms of its
    labels, summed as it was made) and, once it has been in the beam, its weighted LM row."""

    def __init__(self, lm: LabelScorer | None, lm_weight: float, n_labels: int) -> None:
        self.lm, self.lm_weight = lm, lm_weight
        self._row = getattr(lm, "row", None)
        self._kids: dict[tuple[int, int], int] = {}  # (parent, label) -> node
        self._paths: list[tuple[int, ...]] = [()]
        self.parent = np.zeros(64, np.int64)
        self.last = np.full(64, -1, np.int64)  # each node's last label (-1: the empty prefix)
        self.fused = np.zeros(64)
        # lm_weight * the LM's row after each node's prefix (``[node, label - 1]``), filled
        # the first time the node is stepped; ``_has_row`` says which are
        self._lm_rows = np.zeros((64 if self._row is not None else 0, n_labels))
        self._has_row = np.zeros(64, dtype=bool)

    def extensions_in(self, ids: np.ndarray, labels: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(j, i, k) arrays: each prefix ``ids[j]`` of the beam that is ``ids[i]`` + ``labels[k]``."""
        at = (self.parent[ids][:, None] == ids[None, :]) & (ids != 0)[:, None]
        slot = self.last[ids][:, None] == labels[None, :]
        js = np.flatnonzero(at.any(1) & slot.any(1))
        return js, at[js].argmax(1), slot[js].argmax(1)

    def steps(self, ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``lm_weight`` * log P_LM(label | prefix) for each prefix (rows) and label (columns)."""
        if self.lm is None:
            return np.zeros((len(ids), len(labels)))
        if self._row is None:  # a plain scorer: one call per label
            return self.lm_weight * np.array([[self.lm(self._paths[node], c)
                                               for c in labels.tolist()] for node in ids.tolist()])
        for node in ids[~self._has_row[ids]].tolist():
            self._lm_rows[node] = self.lm_weight * self._row(self._paths[node])
            self._has_row[node] = True
        return self._lm_rows[ids[:, None], labels[None, :] - 1]

    def kept(self, ids: np.ndarray, labels: np.ndarray, keep: np.ndarray,
             grown: np.ndarray) -> np.ndarray:
        """The nodes of the candidates ``keep`` indexes: the beam's ``ids`` (indices below
        ``len(ids)``), then each prefix × label extension, made with its ``grown`` score."""
        out = ids[np.minimum(keep, len(ids) - 1)]
        for pos in np.flatnonzero(keep >= len(ids)).tolist():
            q = int(keep[pos]) - len(ids)
            out[pos] = self.child(int(ids[q // len(labels)]), int(labels[q % len(labels)]),
                                  float(grown.flat[q]))
        return out

    def child(self, parent: int, label: int, fused: float) -> int:
        """The node of ``parent``'s prefix + ``label`` (made, with ``fused``, if new)."""
        node = self._kids.get((parent, label))
        if node is not None:
            return node
        node = self._kids[(parent, label)] = len(self._paths)
        if node == len(self.last):
            self.parent, self.last, self.fused, self._has_row, self._lm_rows = (
                np.concatenate([a, np.zeros_like(a)]) for a in
                (self.parent, self.last, self.fused, self._has_row, self._lm_rows))
        self.parent[node], self.last[node], self.fused[node] = parent, label, fused
        self._paths.append(self._paths[parent] + (label,))
        return node

    def labels(self, node: int) -> list[int]:
        return list(self._paths[node])


def align_confidences(log_probs: np.ndarray, labels: list[int]) -> list[float]:
    """Viterbi-align ``labels`` to the frames; each label's confidence is its highest posterior
    over the frames aligned to it."""
    if not labels:
        return []
    t_len = log_probs.shape[0]
    ext = [BLANK]
    for c in labels:
        ext += [c, BLANK]
    s_len = len(ext)
    emit = log_probs[:, ext]  # (T, S): each state's posterior per frame
    codes = np.asarray(ext)
    skip_ok = np.zeros(s_len, dtype=bool)  # a label may follow the previous label directly
    skip_ok[2:] = (codes[2:] != BLANK) & (codes[2:] != codes[:-2])
    score = np.full((t_len, s_len), -np.inf)
    back = np.zeros((t_len, s_len), dtype=np.int64)
    score[0, :min(2, s_len)] = emit[0, :min(2, s_len)]
    states = np.arange(s_len)
    for t in range(1, t_len):
        prev = score[t - 1]
        moves = np.full((3, s_len), -np.inf)  # stay, advance one, skip a blank
        moves[0] = prev
        moves[1, 1:] = prev[:-1]
        moves[2, 2:] = np.where(skip_ok[2:], prev[:-2], -np.inf)
        best = moves.argmax(0)  # ties keep the nearest state, as the earlier loop did
        score[t] = moves[best, states] + emit[t]
        back[t] = states - best
    s = s_len - 1 if s_len < 2 or score[-1, s_len - 1] >= score[-1, s_len - 2] else s_len - 2
    confs = [0.0] * len(labels)
    for t in range(t_len - 1, -1, -1):
        if ext[s] != BLANK:
            k = (s - 1) // 2
            confs[k] = max(confs[k], float(math.exp(log_probs[t, ext[s]])))
        s = int(back[t, s]) if t > 0 else s
    return confs
