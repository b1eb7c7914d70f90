"""CTC decoding of frame posteriors (T, C) with class 0 the blank: greedy best path and
prefix beam search, plus per-character confidences along the best alignment."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

BLANK = 0
LabelScorer = Callable[[tuple[int, ...], int], float]
"""log P(label | previous labels); one that also has LM states (``start``, ``n_states``,
``moves(states, labels)`` and ``rows_at(states)``, every label's at ``[label - 1]``:
``lm.CharLabelScorer``) is followed label by label and asked once per state, not once per
prefix and label."""


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
    beam; with an LM that has states, the prefixes in one state share one LM row.
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
    line, pos = np.nonzero(kept & (keep >= beam))  # the extensions that enter a beam
    if len(line):
        i, k = np.divmod(keep[line, pos] - beam, n_labels)
        new_ids[line, pos] = trie.children(ids[line, i], labels[line, k], grown[line, i, k])
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
    labels, summed as it was made) and, with an LM that has states (``lm.moves``), its LM
    state: prefixes in one state share one weighted LM row, fetched the first time a prefix
    in that state is stepped, and a new node's state is its parent's moved by its label."""

    def __init__(self, lm: LabelScorer | None, lm_weight: float, n_labels: int) -> None:
        self.lm, self.lm_weight = lm, lm_weight
        self._stateful = lm is not None and hasattr(lm, "moves")
        self._classes = n_labels + 1
        self._kids: dict[int, int] = {}  # parent * classes + label -> node
        self._paths: dict[int, tuple[int, ...]] = {0: ()}  # (plain scorers: asked, kept)
        self.size = 1
        self.parent = np.zeros(64, np.int64)
        self.last = np.full(64, -1, np.int64)  # each node's last label (-1: the empty prefix)
        self.fused = np.zeros(64)
        self.state = np.zeros(64, np.int64)  # each node's LM state
        # lm_weight * the LM's row of each state met (``[slot, label - 1]``), stored the first
        # time a prefix in that state is stepped; ``_slot`` says where (-1: not yet)
        self._slot = np.zeros(0, np.int64)
        self._lm_rows = np.zeros((16, n_labels if self._stateful else 0))
        self._used = 0
        if self._stateful:
            self.state[0] = lm.start  # type: ignore[union-attr]
            self._slot = np.full(lm.n_states, -1, np.int64)  # type: ignore[union-attr]

    def steps(self, ids: np.ndarray, labels: np.ndarray, live: np.ndarray) -> np.ndarray:
        """``lm_weight`` * log P_LM(label | prefix) for each line's prefixes ``ids`` (lines,
        beam; ``live`` the slots that hold one) and labels (lines, labels): (lines, beam,
        labels); finite, and of no meaning, for empty slots."""
        if self.lm is None:
            return np.zeros(ids.shape + labels.shape[1:])
        if not self._stateful:  # a plain scorer: one call per label
            out = np.zeros(ids.shape + labels.shape[1:])
            for b, i in zip(*np.nonzero(live)):
                path = self._path(int(ids[b, i]))
                out[b, i] = [self.lm_weight * self.lm(path, c) for c in labels[b].tolist()]
            return out
        states = self.state[ids]
        slots = self._slot[states]
        fresh = live & (slots < 0)
        if fresh.any():
            need = np.unique(states[fresh])
            while self._used + len(need) > len(self._lm_rows):
                self._lm_rows, = _doubled(self._lm_rows)
            at = self._used + np.arange(len(need))
            self._lm_rows[at] = self.lm_weight * self.lm.rows_at(need)  # type: ignore[union-attr]
            self._slot[need] = at
            self._used += len(need)
            slots = self._slot[states]
        return self._lm_rows[slots[:, :, None], labels[:, None, :] - 1]

    def children(self, parents: np.ndarray, labels: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """The nodes of each parent's prefix + its label; the new ones made (numbered in the
        order asked, each with its ``fused`` score and, with states, its LM state). A prefix's
        fused score does not depend on its line, so the lines asking for one node agree."""
        keys = parents * self._classes + labels
        listed = keys.tolist()
        nodes = np.fromiter((self._kids.get(key, -1) for key in listed), np.int64, len(listed))
        miss = np.flatnonzero(nodes < 0)
        if not len(miss):
            return nodes
        _, first, inverse = np.unique(keys[miss], return_index=True, return_inverse=True)
        order = np.argsort(first)  # new nodes in the order first asked for
        made = np.empty(len(first), np.int64)
        made[order] = self.size + np.arange(len(first))
        src = miss[first]
        while self.size + len(first) > len(self.last):
            self.parent, self.last, self.fused, self.state = _doubled(
                self.parent, self.last, self.fused, self.state)
        self.parent[made], self.last[made], self.fused[made] = parents[src], labels[src], fused[src]
        if self._stateful:
            self.state[made] = self.lm.moves(self.state[parents[src]], labels[src])  # type: ignore[union-attr]
        self._kids.update(zip(keys[src].tolist(), made.tolist()))
        self.size += len(first)
        nodes[miss] = made[inverse.ravel()]
        return nodes

    def _path(self, node: int) -> tuple[int, ...]:
        """The labels of ``node``'s prefix (kept: a plain scorer asks for them every frame)."""
        up = [node]
        while up[-1] not in self._paths:
            up.append(int(self.parent[up[-1]]))
        got = self._paths[up.pop()]
        for n in reversed(up):
            got = self._paths[n] = got + (int(self.last[n]),)
        return got

    def labels(self, node: int) -> list[int]:
        out = []
        while node:
            out.append(int(self.last[node]))
            node = int(self.parent[node])
        return out[::-1]


def _doubled(*arrays: np.ndarray) -> list[np.ndarray]:
    """Each array with as many zeros again along its first axis (room for more nodes)."""
    return [np.concatenate([a, np.zeros_like(a)]) for a in arrays]


def align_confidences(log_probs: np.ndarray, labels: list[int]) -> list[float]:
    """Viterbi-align ``labels`` to the frames; each label's confidence is its highest posterior
    over the frames aligned to it. One line of :func:`align_confidences_lines`."""
    return align_confidences_lines([log_probs], [labels])[0]


def align_confidences_lines(lines: list[np.ndarray], labellings: list[list[int]]
                            ) -> list[list[float]]:
    """:func:`align_confidences` of several lines, their Viterbi steps taken side by side
    (each frame's numpy calls on lines x states arrays): each line's answer is what it gets
    alone."""
    out: list[list[float]] = [[] for _ in lines]
    todo = [b for b, labels in enumerate(labellings) if labels and len(lines[b])]
    if not todo:
        return out
    exts = [[BLANK] + [x for c in labellings[b] for x in (c, BLANK)] for b in todo]
    t_lens = np.array([len(lines[b]) for b in todo])
    s_lens = np.array([len(e) for e in exts])
    n, t_max, s_max = len(todo), int(t_lens.max()), int(s_lens.max())
    codes = np.zeros((n, s_max), np.int64)
    for k, ext in enumerate(exts):
        codes[k, :len(ext)] = ext
    real = np.arange(s_max)[None, :] < s_lens[:, None]
    skip_ok = np.zeros((n, s_max), dtype=bool)  # a label may follow the previous label directly
    skip_ok[:, 2:] = (codes[:, 2:] != BLANK) & (codes[:, 2:] != codes[:, :-2]) & real[:, 2:]
    rows = [np.asarray(lines[b]) for b in todo]
    # each state's posterior at each frame (-inf: no such state), in the posteriors' own
    # precision (float32 from the network: added to float64 scores, as one line alone is)
    emit = np.full((t_max, n, s_max), -np.inf, dtype=np.result_type(*rows, np.float32))
    for k, r in enumerate(rows):
        emit[:len(r), k, :s_lens[k]] = r[:, codes[k, :s_lens[k]]]
    score = np.full((n, s_max), -np.inf)
    score[:, :2] = emit[0, :, :2]
    back = np.zeros((t_max, n, s_max), np.int8)  # how far back each state's best move came from
    moves = np.full((3, n, s_max), -np.inf)  # stay, advance one, skip a blank
    for t in range(1, t_max):
        moves[0] = score
        moves[1, :, 1:] = score[:, :-1]
        moves[2, :, 2:] = np.where(skip_ok[:, 2:], score[:, :-2], -np.inf)
        best = moves.argmax(0)  # ties keep the nearest state, as one line alone does
        stepped = np.take_along_axis(moves, best[None], 0)[0] + emit[t]
        going = (t < t_lens)[:, None]
        score = np.where(going, stepped, score)
        back[t] = np.where(going, best, 0)
    for k, b in enumerate(todo):
        ext, s_len, final = exts[k], int(s_lens[k]), score[k]
        s = s_len - 1 if s_len < 2 or final[s_len - 1] >= final[s_len - 2] else s_len - 2
        confs = [0.0] * len(labellings[b])
        lp = rows[k]
        for t in range(int(t_lens[k]) - 1, -1, -1):
            if ext[s] != BLANK:
                i = (s - 1) // 2
                confs[i] = max(confs[i], float(math.exp(lp[t, ext[s]])))
            s -= int(back[t, k, s]) if t > 0 else 0
        out[b] = confs
    return out
