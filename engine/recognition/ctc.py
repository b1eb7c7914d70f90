"""CTC decoding of frame posteriors (T, C) with class 0 the blank: greedy best path and
prefix beam search, plus per-character confidences along the best alignment."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Callable

import numpy as np

BLANK = 0
LabelScorer = Callable[[tuple[int, ...], int], float]  # log P(label | previous labels)


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


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


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
    alternatives a rescorer may choose from."""
    log_prune = math.log(prune)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # (blank, label)
    # LM score + length bonus of each prefix met, built from its parent's when first extended
    fused: dict[tuple[int, ...], float] = {(): 0.0}

    def ranked_key(kv: tuple[tuple[int, ...], Sequence[float]]) -> float:
        return _logsumexp(kv[1][0], kv[1][1]) + fused[kv[0]]

    for t in range(log_probs.shape[0]):
        row = log_probs[t]
        cands = [int(c) for c in np.nonzero(row > log_prune)[0]] or [int(row.argmax())]
        if cands == [BLANK]:  # a sure blank: every prefix only ends in blank, ranks unchanged
            lp = float(row[BLANK])
            beams = {k: (_logsumexp(pb, pnb) + lp, -math.inf) for k, (pb, pnb) in beams.items()}
            continue
        probs = row.tolist()
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            base = fused[prefix]
            for c in cands:
                lp = probs[c]
                if c == BLANK:
                    e = nxt.setdefault(prefix, [-math.inf, -math.inf])
                    e[0] = _logsumexp(e[0], total + lp)
                    continue
                ext = prefix + (c,)
                if ext not in fused:
                    step = lm_weight * lm(prefix, c) if lm is not None else 0.0
                    fused[ext] = base + step + length_bonus
                e = nxt.setdefault(ext, [-math.inf, -math.inf])
                if prefix and prefix[-1] == c:
                    e[1] = _logsumexp(e[1], pb + lp)  # a repeat needs a blank in between
                    same = nxt.setdefault(prefix, [-math.inf, -math.inf])
                    same[1] = _logsumexp(same[1], pnb + lp)
                else:
                    e[1] = _logsumexp(e[1], total + lp)
        top = heapq.nlargest(max(1, beam), nxt.items(), key=ranked_key)
        beams = {k: (v[0], v[1]) for k, v in top}
    ranked = heapq.nlargest(max(1, n), beams.items(), key=ranked_key)
    return [(list(k), ranked_key((k, v))) for k, v in ranked]


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
