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
    One line of :func:`beam_nbest_lines`."""
    return beam_nbest_lines([log_probs], beam, n, prune, lm, lm_weight, length_bonus)[0]


def beam_nbest_lines(lines: list[np.ndarray], beam: int = 8, n: int = 8, prune: float = 1e-3,
                     lm: LabelScorer | None = None, lm_weight: float = 0.0,
                     length_bonus: float = 0.0) -> list[list[tuple[list[int], float]]]:
    """:func:`beam_nbest` of several lines (frame posteriors with the same classes) searched
    side by side: each line's answer is exactly what it gets alone.

    Each frame's step scores every prefix of every line's beam and every extension at once
    (numpy arrays of lines x beam x labels, each line's labels those above ``prune`` in its
    frame, padded): the per-step cost of numpy calls, most of a line's decoding time when
    searched alone, is shared by the lines. Prefixes are nodes of one trie (a prefix's LM
    and length terms do not depend on its line), made only for the extensions that enter a
    beam; with ``lm.row(prefix)`` a prefix's LM row is fetched once, not once per label.
    Frames where only blank passes the pruning leave every line's ranks unchanged and are
    stepped over in one addition."""
    rows = [np.asarray(lp, dtype=np.float64) for lp in lines]
    if not rows:
        return []
    width, log_prune = max(1, beam), math.log(prune)
    n_lines, n_classes = len(rows), rows[0].shape[1]
    trie = _PrefixTrie(lm, lm_weight, n_classes - 1)
    ids = np.zeros((n_lines, width), np.int64)  # each line's beam: trie nodes (0 where empty),
    pb = np.full((n_lines, width), -np.inf)  # path log-probabilities ending in blank
    pnb = np.full((n_lines, width), -np.inf)  # and in their last label (-inf: no prefix)
    pb[:, 0] = 0.0
    steps, skips = _schedule(rows, log_prune)
    for t in range(len(steps)):
        for b, blanks in skips[t]:  # a run of sure blanks: every prefix only ends in blank
            pb[b] = np.logaddexp(pb[b], pnb[b]) + blanks
            pnb[b] = -np.inf
        if len(steps[t]):
            at = steps[t]
            ids[at], pb[at], pnb[at] = _step(trie, np.stack([rows[b][t] for b in at.tolist()]),
                                             ids[at], pb[at], pnb[at], width, log_prune,
                                             length_bonus)
    score = np.logaddexp(pb, pnb) + trie.fused[ids]
    return [[(trie.labels(int(ids[b, i])), float(score[b, i]))
             for i in _top(score[b], max(1, n)).tolist()] for b in range(n_lines)]


def _schedule(rows: list[np.ndarray], log_prune: float
              ) -> tuple[list[np.ndarray], list[list[tuple[int, float]]]]:
    """For each frame: the lines that take a full step there, and the lines where a run of
    sure blanks starts, each with the run's summed blank log-probability."""
    n_frames = max(len(r) for r in rows)
    stepping: list[list[int]] = [[] for _ in range(n_frames)]
    skips: list[list[tuple[int, float]]] = [[] for _ in range(n_frames)]
    for b, line in enumerate(rows):
        sure = _sure_blanks(line, log_prune)
        t = 0
        while t < len(line):
            if sure[t]:
                end = t + 1
                while end < len(line) and sure[end]:
                    end += 1
                skips[t].append((b, float(line[t:end, BLANK].sum())))
                t = end
            else:
                stepping[t].append(b)
                t += 1
    return [np.asarray(s, np.int64) for s in stepping], skips


def _step(trie: "_PrefixTrie", row: np.ndarray, ids: np.ndarray, pb: np.ndarray,
          pnb: np.ndarray, width: int, log_prune: float, length_bonus: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame of the prefix beam search for some lines: ``row`` (lines, classes) their
    frame's log-posteriors; ``ids``, ``pb``, ``pnb`` (lines, width) their beams. Returns the
    new beams, best first, empty slots at the end."""
    (n_lines, beam), ar = ids.shape, np.arange(len(row))[:, None]
    above = row > log_prune
    above[ar[:, 0], row.argmax(1)] |= ~above.any(1)  # none above it: the most probable
    blank_in = above[:, BLANK].copy()
    above[:, BLANK] = False
    n_labels = int(above.sum(1).max())
    order = np.argsort(~above, axis=1, kind="stable")[:, :n_labels]  # labels in ascending order
    real = above[ar, order]  # (lines, labels): padding is False
    labels = np.where(real, order, 1)  # (padding reads label 1, at probability 0)
    lp = np.where(real, row[ar, order], -np.inf)
    total = np.logaddexp(pb, pnb)
    live = total > -np.inf  # the slots that hold a prefix
    # the beam's own prefixes: a blank, or their last label once more (no blank between)
    stay_pb = np.where(blank_in[:, None], total + row[:, BLANK][:, None], -np.inf)
    repeat = (trie.last[ids][:, :, None] == labels[:, None, :]) & real[:, None, :]
    stay_pnb = np.where(repeat.any(2), pnb + np.where(repeat, lp[:, None, :], 0.0).sum(2), -np.inf)
    # each prefix extended by each label (a repeated label needs a blank in between)
    ext = np.where(repeat, pb[:, :, None], total[:, :, None]) + lp[:, None, :]
    # an extension that is already a prefix of the beam adds to it
    is_child = ((trie.parent[ids][:, :, None] == ids[:, None, :]) & live[:, None, :]
                & ((ids != 0) & live)[:, :, None])  # [line, j, i]: ids[j]'s parent is ids[i]
    line, j = np.nonzero(is_child.any(2) & repeat.any(2))
    if len(line):
        i, k = is_child[line, j].argmax(1), repeat[line, j].argmax(1)
        stay_pnb[line, j] = np.logaddexp(stay_pnb[line, j], ext[line, i, k])
        ext[line, i, k] = -np.inf
    fused = trie.fused[ids]
    stays = np.logaddexp(stay_pb, stay_pnb) + fused
    grown = fused[:, :, None] + trie.steps(ids, labels, live) + length_bonus  # LM + length
    score = np.concatenate([stays, (ext + grown).reshape(n_lines, beam * n_labels)], axis=1)
    keep = np.argsort(-score, axis=1, kind="stable")[:, :width]  # ties: the earlier
    kept = score[ar, keep] > -np.inf
    stay = np.minimum(keep, beam - 1)  # (the beam's slot, for the candidates that stay)
    new_ids = ids[ar, stay]
    for b, pos in zip(*np.nonzero(kept & (keep >= beam))):
        q = int(keep[b, pos]) - beam
        i, k = divmod(q, n_labels)
        new_ids[b, pos] = trie.child(int(ids[b, i]), int(labels[b, k]), float(grown[b, i, k]))
    stays_here = kept & (keep < beam)
    grew = (ext.reshape(n_lines, beam * n_labels)[ar, np.maximum(keep - beam, 0)] if n_labels
            else np.full(keep.shape, -np.inf))  # (a stepped frame has a label; kept safe)
    got = (np.where(kept, new_ids, 0), np.where(stays_here, stay_pb[ar, stay], -np.inf),
           np.where(stays_here, stay_pnb[ar, stay], np.where(kept, grew, -np.inf)))
    if keep.shape[1] == width:
        return got
    out = (np.zeros((n_lines, width), np.int64), np.full((n_lines, width), -np.inf),
           np.full((n_lines, width), -np.inf))
    for arr, part in zip(out, got):
        arr[:, :keep.shape[1]] = part
    return out


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
    labels, summed as it was made) and, once it has been in a beam, its weighted LM row."""

    def __init__(self, lm: LabelScorer | None, lm_weight: float, n_labels: int) -> None:
        self.lm, self.lm_weight = lm, lm_weight
        self._row = getattr(lm, "row", None)
        self._rows_of = getattr(lm, "rows_of", None)  # several prefixes' rows at once
        self._kids: dict[tuple[int, int], int] = {}  # (parent, label) -> node
        self._paths: list[tuple[int, ...]] = [()]
        self.parent = np.zeros(64, np.int64)
        self.last = np.full(64, -1, np.int64)  # each node's last label (-1: the empty prefix)
        self.fused = np.zeros(64)
        # lm_weight * the LM's row after each node's prefix (``[node, label - 1]``), filled
        # the first time the node is stepped; ``_has_row`` says which are
        self._lm_rows = np.zeros((64 if self._row is not None else 0, n_labels))
        self._has_row = np.zeros(64, dtype=bool)

    def steps(self, ids: np.ndarray, labels: np.ndarray, live: np.ndarray) -> np.ndarray:
        """``lm_weight`` * log P_LM(label | prefix) for each line's prefixes ``ids`` (lines,
        beam; ``live`` the slots that hold one) and labels (lines, labels): (lines, beam,
        labels); 0 for empty slots."""
        if self.lm is None:
            return np.zeros(ids.shape + labels.shape[1:])
        if self._row is None:  # a plain scorer: one call per label
            out = np.zeros(ids.shape + labels.shape[1:])
            for b, i in zip(*np.nonzero(live)):
                node = int(ids[b, i])
                out[b, i] = [self.lm_weight * self.lm(self._paths[node], c)
                             for c in labels[b].tolist()]
            return out
        nodes = np.unique(ids[live & ~self._has_row[ids]])
        if len(nodes):
            if self._rows_of is not None:  # all at once
                self._lm_rows[nodes] = self.lm_weight * self._rows_of(
                    [self._paths[node] for node in nodes.tolist()])
            else:
                for node in nodes.tolist():
                    self._lm_rows[node] = self.lm_weight * self._row(self._paths[node])
            self._has_row[nodes] = True
        return self._lm_rows[ids[:, :, None], labels[:, None, :] - 1]

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
