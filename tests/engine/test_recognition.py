"""Recognition with ONNX Runtime: CTC decoding, confidences, batching, pages, bad input, and
the bundled model reading a real Poilus line."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.document import Origin
from engine.errors import ModelError
from engine.models import bundled_models_dir
from engine.recognition import Recognizer, beam_decode, greedy_decode
from engine.recognition.ctc import align_confidences, beam_nbest

BUNDLED = bundled_models_dir() / "htrjand-student"


def _log(rows: list[list[float]]) -> np.ndarray:
    return np.log(np.asarray(rows, dtype=np.float64))


def test_greedy_collapses_repeats_and_blanks() -> None:
    # classes: 0 blank, 1 'a', 2 'b'; path a a - a b b  ->  a a b
    lp = _log([[.1, .8, .1], [.1, .7, .2], [.9, .05, .05], [.2, .6, .2], [.1, .1, .8],
               [.3, .1, .6]])
    labels, confs = greedy_decode(lp)
    assert labels == [1, 1, 2]
    assert confs == pytest.approx([0.8, 0.6, 0.8])


def test_beam_finds_the_more_probable_labelling() -> None:
    # greedy reads blank blank = "", but P("a") = 0.64 > P("") = 0.36
    lp = _log([[.6, .4], [.6, .4]])
    assert greedy_decode(lp)[0] == []
    labels, confs = beam_decode(lp, beam=4)
    assert labels == [1] and confs == pytest.approx([0.4])


def test_beam_nbest_ranks_every_labelling_by_its_probability() -> None:
    """Exact on a tiny case: a sure-blank middle frame (only blank passes the pruning) keeps
    every prefix and separates a repeat: P("a") = .48, P("") = .36, P("aa") = .16."""
    sure = 1 - 1e-5
    lp = _log([[.6, .4], [sure, 1 - sure], [.6, .4]])
    ranked = beam_nbest(lp, beam=4, n=5)
    assert [labels for labels, _ in ranked] == [[1], [], [1, 1]]
    assert [math.exp(s) for _, s in ranked] == pytest.approx([.48 * sure, .36 * sure, .16 * sure])
    assert beam_nbest(lp, beam=4, n=1) == ranked[:1]
    assert beam_decode(lp, beam=4)[0] == [1]


def test_beam_agrees_with_greedy_on_peaked_posteriors() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (30, 6))
    logits[np.arange(30), rng.integers(0, 6, 30)] += 8
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert beam_decode(lp, beam=8)[0] == greedy_decode(lp)[0]


def _ctc_log_prob(lp: np.ndarray, labels: tuple[int, ...]) -> float:
    """log P(labels | frames) by the CTC forward recursion (the reference for the search)."""
    ext = [0]
    for c in labels:
        ext += [c, 0]
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = lp[0, ext[:2]]
    for t in range(1, len(lp)):
        prev = alpha.copy()
        for s in range(len(ext)):
            terms = [prev[s]] + ([prev[s - 1]] if s else [])
            if s > 1 and ext[s] != 0 and ext[s] != ext[s - 2]:
                terms.append(prev[s - 2])
            alpha[s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if labels else alpha[-1])


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_search_is_exact_with_lm_and_length_bonus(seed: int) -> None:
    """With no pruning and a beam wider than every prefix, the n best are the n most probable
    labellings of all (CTC forward probability + weighted LM + length bonus), each with its
    exact score; an LM with ``row`` (the bundled kind) and the same LM as a plain function
    give the same answer."""
    from engine.recognition.lm import CharNgramLM

    rng = np.random.default_rng(seed)
    t_len, classes = 5, 4
    logits = rng.normal(0, 1.5, (t_len, classes))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    charset = list("ab ")
    scorer = CharNgramLM.train(["ab ba abba", "a b"], charset, order=3).label_scorer(charset)
    weight, bonus = 0.7, 0.4
    exact = {}
    for length in range(t_len + 1):
        for labels in itertools.product(range(1, classes), repeat=length):
            ctc = _ctc_log_prob(lp, labels)
            if ctc > -np.inf:
                fused = sum(weight * scorer(labels[:i], c) + bonus for i, c in enumerate(labels))
                exact[labels] = ctc + fused
    best = sorted(exact.items(), key=lambda kv: -kv[1])[:6]
    for lm in (scorer, lambda prefix, c: scorer(prefix, c)):
        got = beam_nbest(lp, beam=10_000, n=6, prune=1e-300, lm=lm, lm_weight=weight,
                         length_bonus=bonus)
        assert [tuple(labels) for labels, _ in got] == [labels for labels, _ in best]
        assert [score for _, score in got] == pytest.approx([score for _, score in best])


def _align_alone(lp: np.ndarray, labels: list[int]) -> list[float]:
    """The Viterbi alignment of one line written out frame by frame (the reference)."""
    ext = [0] + [x for c in labels for x in (c, 0)]
    score = np.full((len(lp), len(ext)), -np.inf)
    back = np.zeros((len(lp), len(ext)), np.int64)
    score[0, :2] = lp[0, ext[:2]]
    for t in range(1, len(lp)):
        for s, c in enumerate(ext):
            came = [(score[t - 1, s], 0)]
            if s >= 1:
                came.append((score[t - 1, s - 1], 1))
            if s >= 2 and c != 0 and c != ext[s - 2]:
                came.append((score[t - 1, s - 2], 2))
            best, step = max(came, key=lambda v: v[0])  # (ties: the nearest state)
            score[t, s], back[t, s] = best + lp[t, c], step
    s = len(ext) - 1 if score[-1, -1] >= score[-1, -2] else len(ext) - 2
    confs = [0.0] * len(labels)
    for t in range(len(lp) - 1, -1, -1):
        if ext[s]:
            confs[(s - 1) // 2] = max(confs[(s - 1) // 2], float(np.exp(lp[t, ext[s]])))
        s -= back[t, s] if t > 0 else 0
    return confs


@pytest.mark.parametrize("seed", range(3))
def test_lines_aligned_together_align_as_alone(seed: int) -> None:
    """``align_confidences_lines`` (a batch's Viterbi steps side by side) gives each line the
    confidences of its own alignment: lines of different lengths and labellings, repeated
    labels, an empty labelling and an empty line."""
    from engine.recognition.ctc import align_confidences_lines

    rng = np.random.default_rng(seed)
    lines = _peaked_lines(rng, 5, [int(n) for n in rng.integers(2, 30, 6)])
    labellings = [[int(c) for c in rng.integers(1, 5, max(1, len(lp) // 4))] for lp in lines]
    labellings[1] = [2, 2, 3][: len(lines[1]) // 2 or 1]
    lines.append(np.zeros((0, 5)))
    labellings.append([1])
    labellings[2] = []
    got = align_confidences_lines(lines, labellings)
    assert got[2] == [] and got[-1] == []
    for lp, labels, confs in zip(lines[:-1], labellings, got):
        if labels:
            assert confs == _align_alone(lp, labels)
            assert align_confidences(lp, labels) == confs


def test_align_confidences_follow_best_path() -> None:
    lp = _log([[.1, .8, .1], [.9, .05, .05], [.1, .3, .6]])
    assert align_confidences(lp, [1, 2]) == pytest.approx([0.8, 0.6])
    assert align_confidences(lp, []) == []


def _brute_force_confidences(lp: np.ndarray, labels: list[int]) -> list[float]:
    """Every CTC alignment of ``labels`` enumerated; the best one's per-label maxima."""
    best, best_path = -np.inf, None
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        collapsed = [c for i, c in enumerate(path) if c and (i == 0 or path[i - 1] != c)]
        score = sum(lp[t, c] for t, c in enumerate(path))
        if collapsed == labels and score > best:
            best, best_path = score, path
    confs: list[float] = []
    for i, c in enumerate(best_path):
        if c and (i == 0 or best_path[i - 1] != c):
            confs.append(0.0)
        if c:
            confs[-1] = max(confs[-1], float(np.exp(lp[i, c])))
    return confs


@pytest.mark.parametrize("seed", range(4))
def test_align_confidences_match_every_alignment_enumerated(seed: int) -> None:
    """The Viterbi alignment is the best of all alignments, repeats (a blank between) included."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (6, 3))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    for labels in ([1], [2, 1], [1, 1], [1, 2, 1]):
        assert align_confidences(lp, labels) == pytest.approx(
            _brute_force_confidences(lp, labels))


def _reference_prob(lm, context: str, char: str) -> float:
    """Interpolated absolute discounting written out per character (the formula the LM's
    vectorised distributions must reproduce)."""
    from engine.recognition.lm import BOS

    ctx = (BOS * (lm.order - 1) + context)[-(lm.order - 1):] if lm.order > 1 else ""
    p = 1.0 / (len(lm.vocab) + 1)
    for k in range(lm.order):
        sub = ctx[len(ctx) - k:] if k else ""
        nxt = lm.counts.get(sub)
        if nxt:
            total = sum(nxt.values())
            p = max(nxt.get(char, 0) - lm.discount, 0) / total + lm.discount * len(nxt) / total * p
    return p


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_char_lm_distributions_follow_the_formula(order: int, monkeypatch) -> None:
    """Every probability equals the per-character formula, also while the memo is cleared
    mid-way, and the memoised rows cannot be changed from outside."""
    from engine.recognition import lm as lm_module

    monkeypatch.setattr(lm_module, "CACHE_LIMIT", 3)
    lm = lm_module.CharNgramLM.train(["abab abba baab", "bbaa ab", "a b"], list("ab "),
                                     order=order, min_count=1)
    for ctx in ["", "a", "ab", "ba ", "bbab", "abba ab"]:
        for char in "ab z":
            assert lm.prob(ctx, char) == pytest.approx(_reference_prob(lm, ctx, char), abs=1e-15)
        with pytest.raises(ValueError):
            lm.distribution(ctx)[0] = 0.0


def test_label_scorer_rows_stay_bounded(monkeypatch) -> None:
    from engine.recognition import lm as lm_module

    monkeypatch.setattr(lm_module, "CACHE_LIMIT", 3)
    monkeypatch.setattr(lm_module, "KEY_LIMIT", 4)
    lm = lm_module.CharNgramLM.train(["abab abba"], list("ab "), order=3)
    score = lm.label_scorer(list("ab "))
    first = [score(p, 1) for p in itertools.product((1, 2, 3), repeat=2)]
    assert 0 < len(score.rows) <= 4 and 0 < len(score._seen) <= 3
    assert [score(p, 1) for p in itertools.product((1, 2, 3), repeat=2)] == first


def test_contexts_share_the_row_of_their_seen_end() -> None:
    """An unseen context's distribution is exactly that of its longest seen end (so the
    label scorer may keep one row for both), and the scorer's rows are the LM's."""
    from engine.recognition import lm as lm_module

    lm = lm_module.CharNgramLM.train(["abab abba baab", "bbaa ab"], list("ab "), order=4)
    score = lm.label_scorer(list("ab "))
    seen = _seen_contexts(lm.counts)
    ends = set()
    for n in range(5):
        for ctx in map("".join, itertools.product("ab ", repeat=n)):
            end = lm.seen_context(ctx)
            ends.add(end)
            padded = (lm_module.BOS * 3 + ctx)[-3:]
            assert padded.endswith(end) and end in seen
            assert all(padded[k:] not in seen for k in range(len(padded) - len(end)))
            assert lm.context_of(lm.row_of(end)) == end and lm.state(ctx) == lm.row_of(end)
            assert np.array_equal(lm.distribution(ctx), lm.row_distributions([lm.row_of(end)])[0])
            labels = tuple("ab ".index(c) + 1 for c in ctx)
            assert np.array_equal(score.row(labels), np.log(lm.distribution(ctx)[[0, 1, 2]]))
    assert len(ends) < len(score.rows) and len(score._seen) == len(ends)


def test_lm_rows_at_once_are_the_rows_one_by_one(monkeypatch) -> None:
    """``row_distributions`` and ``rows_at`` (what beam search asks a page's lines at once)
    give the very values of ``_distribution`` and ``row``, memoised or not, with tiny caches
    that are cleared while they work."""
    from engine.recognition import lm as lm_module

    monkeypatch.setattr(lm_module, "CACHE_LIMIT", 5)
    monkeypatch.setattr(lm_module, "KEY_LIMIT", 7)
    texts, vocab = ["abab abba baab", "bbaa ab", "a b a"], list("ab ")
    alone = lm_module.CharNgramLM.train(texts, vocab, order=4)
    together = lm_module.CharNgramLM.train(texts, vocab, order=4)
    rows = np.arange(together.n_rows)
    for size in (9, 2, 1):
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            for r, got in zip(part.tolist(), together.row_distributions(part)):
                want = alone._row_distribution(alone.row_of(together.context_of(r)))
                assert np.array_equal(got, want)
    one, many = alone.label_scorer(vocab), together.label_scorer(vocab)
    prefixes = [p for n in range(5) for p in itertools.product((1, 2, 3), repeat=n)]
    for start in range(0, len(prefixes), 11):
        part = prefixes[start:start + 11]
        states = np.array([_state_after(many, p) for p in part])
        assert np.array_equal(many.rows_at(states), np.stack([one.row(p) for p in part]))


def _state_after(scorer, prefix: tuple[int, ...]) -> int:
    """The label scorer's state after ``prefix``, followed label by label from its start."""
    state = np.array([scorer.start])
    for label in prefix:
        state = scorer.moves(state, np.array([label]))
    return int(state[0])


def _seen_contexts(counts: dict) -> set[str]:
    """The contexts an LM of ``counts`` has rows of: those counted, their starts, and \"\"
    (written out from the counts, apart from the LM's trie)."""
    return {ctx[:k] for ctx in [*counts, ""] for k in range(len(ctx) + 1)}


def _reference_distribution(counts: dict, vocab: list[str], discount: float, ctx: str) -> list:
    """Interpolated absolute discounting from the raw counts, as written in the books (a
    character outside ``vocab`` only adds to the back-off weight: the last slot, for all
    such characters, gets none of its counts)."""
    if ctx == "":
        lower = [1.0 / (len(vocab) + 1)] * (len(vocab) + 1)
    else:
        lower = _reference_distribution(counts, vocab, discount, ctx[1:])
    row = counts.get(ctx)
    if not row:
        return lower
    total = sum(row.values())
    out = [discount * len(row) / total * p for p in lower]
    for c, n in row.items():
        if c in vocab:
            out[vocab.index(c)] += max(n - discount, 0) / total
    return out


def test_lm_followed_label_by_label_reaches_the_seen_context() -> None:
    """Following the LM label by label (``start``, ``moves``) reaches each prefix's seen
    context, pruned longest contexts, adapted counts and characters the LM never saw
    included, and a state's row is the prefix's row. Counts whose contexts lack their starts
    (hand-made, or pruned at every order) get those starts as rows that back off entirely:
    the distributions stay those of the counts, which are saved as they were; beam search
    reads with such an LM as with the same LM asked label by label."""
    from engine.recognition.ctc import beam_nbest_lines
    from engine.recognition.lm import BOS, CharNgramLM

    charset = list("ab z")  # 'z' unknown to the LM
    texts = ["abab abba baab", "bbaa ab", "a b a", "aaab bbba"]
    pruned = CharNgramLM.train(texts, list("ab "), order=5, min_count=2)
    gappy_counts = {"": {"a": 3, "b": 2, " ": 1}, "ab": {"a": 2, " ": 1, "q": 1}, "b": {"b": 1},
                    "\x02ba": {"b": 2}}
    gappy = CharNgramLM(4, list("ab "), gappy_counts)
    assert gappy.counts == gappy_counts
    for ctx in map("".join, itertools.product("ab \x02", repeat=3)):
        assert gappy.distribution(ctx).tolist() == pytest.approx(
            _reference_distribution(gappy_counts, list("ab "), 0.75, ctx), abs=1e-15)
    lms = [CharNgramLM.train(texts, list("ab "), order=4), pruned,
           pruned.adapted(["ba ba ab"], weight=3), gappy, CharNgramLM.train([], list("ab "), 3)]
    for lm in lms:
        scorer = lm.label_scorer(charset)
        seen = _seen_contexts(lm.counts)
        for n in range(6):
            for prefix in itertools.product((1, 2, 3, 4), repeat=n):
                state = _state_after(scorer, prefix)
                padded = (BOS * (lm.order - 1) + "".join(charset[c - 1] for c in prefix))
                end = next(padded[k:] for k in range(len(padded) + 1) if padded[k:] in seen)
                assert lm.context_of(state) == end == lm.seen_context(padded)
                assert np.array_equal(scorer.rows_at(np.array([state]))[0], scorer.row(prefix))
    scorer = gappy.label_scorer(charset)
    lines = _peaked_lines(np.random.default_rng(5), len(charset) + 1, [30, 12, 25])
    kw = {"beam": 6, "n": 4, "prune": 1e-2, "lm_weight": 0.7, "length_bonus": 0.3}
    assert beam_nbest_lines(lines, lm=scorer, **kw) == beam_nbest_lines(
        lines, lm=lambda prefix, c: scorer(prefix, c), **kw)


def _peaked_lines(rng: np.random.Generator, classes: int, lengths: list[int]) -> list[np.ndarray]:
    """Frame posteriors like a network's: mostly sure blanks, some doubtful frames."""
    lines = []
    for t_len in lengths:
        logits = rng.normal(0, 1.0, (t_len, classes))
        logits[:, 0] += rng.choice([0.0, 4.0, 12.0], t_len, p=[.3, .3, .4])
        lines.append(logits - np.log(np.exp(logits).sum(-1, keepdims=True)))
    return lines


@pytest.mark.parametrize("seed", range(3))
def test_lines_searched_together_read_as_alone(seed: int) -> None:
    """``beam_nbest_lines`` (a page's lines side by side, one prefix trie) gives each line
    exactly its own search's n best and scores — lines of different lengths, sure-blank
    runs, an empty line, with the LM's rows, a plain LM function and no LM."""
    from engine.recognition.ctc import beam_nbest_lines
    from engine.recognition.lm import CharNgramLM

    rng = np.random.default_rng(seed)
    charset = list("abc d")
    scorer = CharNgramLM.train(["abc dab cad", "bad cab", "dd a"], charset,
                               order=4).label_scorer(charset)
    lines = _peaked_lines(rng, len(charset) + 1, [int(n) for n in rng.integers(1, 40, 7)])
    lines.insert(3, np.zeros((0, len(charset) + 1)))
    for lm in (scorer, lambda prefix, c: scorer(prefix, c), None):
        kw = {"lm": lm, "lm_weight": 0.8 if lm else 0.0, "length_bonus": 0.5}
        alone = [beam_nbest_lines([lp], beam=5, n=4, prune=1e-2, **kw)[0] for lp in lines]
        assert beam_nbest_lines(lines, beam=5, n=4, prune=1e-2, **kw) == alone
        assert all(ranked for ranked in alone)


def test_label_scorer_is_the_lm_on_labels() -> None:
    """Beam search's scorer gives log P of the LM, context of the last order-1 labels; a
    charset character the LM never saw gets the floor, not an error."""
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abab abba", "baba ab"], list("ab "), order=3)
    charset = list("ab z")  # labels 1..4; 'z' unknown to the LM
    score = lm.label_scorer(charset)
    for prefix in [(), (1,), (1, 2), (2, 1, 3, 1)]:
        ctx = "".join(charset[i - 1] for i in prefix)
        for label, char in enumerate(charset, 1):
            assert score(prefix, label) == pytest.approx(lm.log_prob(ctx, char))
    assert sum(lm.prob("ab", c) for c in "ab ") + lm.prob("ab", "z") == pytest.approx(1.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The bundled model, or an untrained seeded student exported here (needs torch)."""
    if (BUNDLED / "model.onnx").is_file():
        return BUNDLED
    torch = pytest.importorskip("torch")
    from dataclasses import replace

    from training.export import onnx_bytes
    from training.network import STUDENT, HtrJandNet

    torch.manual_seed(0)
    chars = list(" abcdefghijklmnopqrstuvwxyz")
    folder = tmp_path_factory.mktemp("model")
    net = HtrJandNet(replace(STUDENT, num_classes=len(chars) + 1)).eval()
    (folder / "model.onnx").write_bytes(onnx_bytes(net))
    (folder / "card.json").write_text(json.dumps(
        {"name": "toy", "charset": chars, "num_classes": len(chars) + 1,
         "input": {"height": 64, "width_factor": 8}}))
    return folder


@pytest.fixture(scope="module")
def recognizer(model_dir: Path) -> Recognizer:
    return Recognizer(model_dir, device="cpu")


def test_results_do_not_depend_on_batch_companions(recognizer: Recognizer) -> None:
    rng = np.random.default_rng(1)
    lines = [rng.integers(0, 256, (64, w), dtype=np.uint8) for w in (300, 120, 640, 310)]
    # each line its own page: the lines of one page share a language LM by design
    pages = [f"page {i}" for i in range(len(lines))]
    together = recognizer.recognize_images(lines, pages=pages)
    alone = [recognizer.recognize_images([im], pages=[p])[0] for im, p in zip(lines, pages)]
    for a, b in zip(together, alone):
        assert a.text == b.text
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
        assert len(a.char_confidences) == len(a.text)
        assert all(0 <= c <= 1 for c in a.char_confidences) and 0 <= a.confidence <= 1


def test_batches_keep_to_the_pixel_budget(model_dir: Path) -> None:
    """Lines of similar width go to ONNX Runtime together up to the pixel budget (on the CPU
    ``CPU_BATCH_PIXELS`` unless given; a line wider than the budget alone), and the readings
    do not depend on it."""
    from engine.recognition.recognizer import CPU_BATCH_PIXELS

    default = Recognizer(model_dir, device="cpu", beam=1)
    assert default.max_batch_pixels == CPU_BATCH_PIXELS
    small = Recognizer(model_dir, device="cpu", beam=1, max_batch_pixels=64 * 700)
    widths: list[list[int]] = []
    run = small.model.run
    small.model.run = lambda batch: (widths.append([im.shape[1] for im in batch]), run(batch))[1]
    rng = np.random.default_rng(4)
    lines = [rng.integers(0, 256, (64, w), dtype=np.uint8) for w in (640, 300, 900, 120, 310)]
    assert [r.text for r in small.recognize_images(lines)] == \
        [r.text for r in default.recognize_images(lines)]
    assert widths == [[120, 300], [310], [640], [900]]


def test_bad_line_images_give_defined_results(recognizer: Recognizer) -> None:
    empty = np.zeros((0, 0), np.uint8)
    one_px = np.full((64, 1), 255, np.uint8)
    flat = np.full((1, 300), 255, np.uint8)
    wide = np.full((10, 400), 255, np.uint8)  # 40x its height: scaled, recognised
    very_wide = np.full((20, 5000), 200, np.uint8)  # squeezed to the widest allowed
    res = recognizer.recognize_images([empty, one_px, flat, wide, very_wide])
    assert len(res) == 5
    for r in res[:3]:
        assert r.text == "" and r.confidence == 0.0 and r.note
    for r in res[3:]:
        assert isinstance(r.text, str) and r.note is None
        assert len(r.char_confidences) == len(r.text)
    assert recognizer.recognize_images([]) == []


def test_beam_decoding_runs_on_real_model(model_dir: Path) -> None:
    rec = Recognizer(model_dir, device="cpu", beam=4)
    img = np.full((64, 200), 255, np.uint8)
    img[25:40, 20:180:12] = 0
    r = rec.recognize_images([img])[0]
    assert len(r.char_confidences) == len(r.text)


def test_nbest_readings_start_with_the_decoded_line() -> None:
    """``Recognizer.nbest``: distinct readings, best first, the first being what the recognizer
    reads with the same beam and LM."""
    rec = Recognizer(BUNDLED, device="cpu", threads=1)
    img = np.full((64, 300), 255, np.uint8)
    img[20:44, 30:270:12] = 0  # strokes: some reading, with alternatives
    lp = rec.model.run([rec.model.prepare(img)])[0]
    language = rec.language_of([lp])
    ranked = rec.nbest(lp, language, 5)
    texts = [t for t, _ in ranked]
    assert 1 < len(ranked) <= 5 and len(set(texts)) == len(texts)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert texts[0] == rec._decode(lp, language).text


def test_model_card_chooses_the_default_decoding(model_dir: Path, tmp_path: Path) -> None:
    """beam=None reads as the card's ``decoding`` says (beam + LM where it was measured better),
    an explicit beam overrides it, and a card without tuned decoding reads greedily."""
    from engine.recognition.recognizer import default_beam

    assert default_beam({}) == 1 and default_beam({"decoding": {"default": "greedy"}}) == 1
    assert default_beam({"decoding": {"default": "beam", "beam": 6}}) == 6
    assert default_beam({"decoding": {"default": "beam", "beam": "x"}}) == 8
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    card = json.loads((folder / "card.json").read_text())
    card["decoding"] = {"default": "beam", "beam": 5, "lm_weight": 0.0, "length_bonus": 0.0}
    (folder / "card.json").write_text(json.dumps(card))
    assert Recognizer(folder, device="cpu").beam == 5
    assert Recognizer(folder, device="cpu").decoding == "beam 5"
    assert Recognizer(folder, device="cpu", beam=1).decoding == "greedy"
    card["decoding"]["default"] = "greedy"
    (folder / "card.json").write_text(json.dumps(card))
    assert Recognizer(folder, device="cpu").beam == 1


def test_bundled_model_reads_with_beam_and_lm_by_default() -> None:
    """The shipped student's card makes beam search with its character LM the default (it was
    measured better on val than greedy)."""
    from engine.models import bundled_models_dir

    folder = bundled_models_dir() / "htrjand-student"
    if not (folder / "lm.json").is_file():
        pytest.skip("no bundled model")
    rec = Recognizer(folder, device="cpu")
    assert rec.beam > 1 and "+ character LM" in rec.decoding
    dec = rec.card["decoding"]
    assert dec["val"]["hooker"]["cer"] < rec.card["metrics"]["val"]["hooker"]["cer"]


def test_corrupt_or_mismatched_models(model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt"
    shutil.copytree(model_dir, bad)
    (bad / "model.onnx").write_bytes(b"\x00not an onnx file" * 10)
    with pytest.raises(ModelError, match="cannot be loaded"):
        Recognizer(bad, device="cpu")
    other = tmp_path / "mismatch"
    shutil.copytree(model_dir, other)
    card = json.loads((other / "card.json").read_text())
    card["charset"] = card["charset"][:-1]
    card["num_classes"] = len(card["charset"]) + 1
    (other / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="classes"):
        Recognizer(other, device="cpu")
    (other / "model.onnx").unlink()
    with pytest.raises(ModelError):
        Recognizer(other, device="cpu")
    with pytest.raises(ModelError, match="device"):
        Recognizer(model_dir, device="tpu")


def test_recognize_page_keeps_person_lines(recognizer: Recognizer, sample_xml: Path) -> None:
    from engine.formats import read_document

    page = read_document(sample_xml)
    lines = list(page.lines())
    lines[0].origin = Origin.NONE
    kept = {ln.id: ln.text for ln in lines if ln.origin == Origin.PERSON}
    assert kept, "the sample page has person-transcribed lines"
    done = []
    recognizer.recognize_page(page, progress=lambda d, t, m="": done.append((d, t)))
    assert done and done[-1][0] == done[-1][1]
    for ln in page.lines():
        if ln.id in kept:
            assert ln.text == kept[ln.id] and ln.origin == Origin.PERSON
        else:
            assert ln.origin == Origin.MODEL and ln.confidence is not None
            assert len(ln.char_confidences) == len(ln.text)
    recognizer.recognize_page(page, overwrite=True)
    assert all(ln.origin == Origin.MODEL for ln in page.lines())


def test_bundled_model_reads_a_real_poilus_line(sample_xml: Path) -> None:
    """The shipped student on a Poilus page it never saw in training (val split)."""
    if not (BUNDLED / "model.onnx").is_file():
        pytest.skip(f"no bundled model at {BUNDLED}")
    from engine.formats import read_document
    from engine.metrics import error_rates

    rec = Recognizer(device="cpu")
    page = read_document(sample_xml)
    refs = [ln.text for ln in page.lines()]
    rec.recognize_page(page, overwrite=True)
    hyps = [ln.text for ln in page.lines()]
    # a sanity bound (an empty or random reading scores 1.0 or more); accuracy itself is
    # measured by benchmarks/recognition.py, not asserted here
    assert error_rates(refs, hyps).cer < 0.8
    assert any(len(h) > 5 for h in hyps)
    assert not math.isnan(float(np.mean([ln.confidence for ln in page.lines()])))


def test_cli_recognize_and_eval(model_dir: Path, sample_xml: Path, sample_image: Path,
                                tmp_path: Path, capsys) -> None:
    from app.cli import main
    from engine.formats import read_document

    shutil.copy(sample_image, tmp_path / sample_image.name)
    xml = tmp_path / sample_xml.name
    shutil.copy(sample_xml, xml)
    before = {ln.id: (ln.text, ln.origin) for ln in read_document(xml).lines()}
    out = tmp_path / "out.xml"
    assert main(["recognize", str(xml), "-o", str(out), "--model", str(model_dir)]) == 0
    after = read_document(out)
    for ln in after.lines():
        if before[ln.id][1] == Origin.PERSON:
            assert ln.text == before[ln.id][0]
    assert main(["recognize", str(xml), "-o", str(out), "--model", str(model_dir),
                 "--overwrite", "--beam", "3"]) == 0
    assert main(["eval", "--model", str(model_dir), str(xml)]) == 0
    printed = capsys.readouterr().out
    assert "CER" in printed and "total" in printed and "worst first" not in printed
    second = tmp_path / "second.xml"
    shutil.copy(sample_xml, second)
    assert main(["eval", "--model", str(model_dir), "--by-page", "--json", str(xml),
                 str(second)]) == 0
    report = json.loads(capsys.readouterr().out)
    pages = report["pages"]
    assert [p["page"] for p in pages] == sorted([str(xml), str(second)])  # a tie: by name
    assert sum(p["share"] for p in pages) == pytest.approx(1.0)
    assert pages[0]["lines"] > 0 and pages[0]["cer"] == pytest.approx(report["sets"]["total"]["cer"])
    assert main(["eval", "--model", str(model_dir), "--by-page", str(xml)]) == 0
    assert "worst first" in capsys.readouterr().out
    assert main(["recognize", str(xml), "--model", str(tmp_path / "nope")]) == 2
    for bad in ("0", "-2", "x"):
        with pytest.raises(SystemExit):
            main(["recognize", str(xml), "--beam", bad])
        assert "beam" in capsys.readouterr().err


def test_char_lm_probabilities_and_beam_fusion(tmp_path: Path) -> None:
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abab abab", "abba"], list("ab "), order=3)
    assert sum(lm.prob("ab", c) for c in "ab ") <= 1.0
    assert lm.prob("ab", "a") > lm.prob("ab", " ")
    path = tmp_path / "lm.json"
    path.write_text(lm.to_json())
    assert CharNgramLM.load(path).prob("ab", "a") == pytest.approx(lm.prob("ab", "a"))
    path.write_text("{broken")
    with pytest.raises(ModelError):
        CharNgramLM.load(path)
    packed = tmp_path / "lm-x.json.gz"  # the compressed form: same LM, in columns
    packed.write_bytes(lm.to_bytes(compress=True))
    again = CharNgramLM.load(packed)
    assert again.counts == lm.counts and again.prob("ab", "a") == lm.prob("ab", "a")
    import gzip

    head, *columns = gzip.decompress(lm.to_bytes(compress=True)).decode().splitlines()
    assert json.loads(head)["format"] == "htrjand-char-lm-columns/1" and len(columns) == 5
    redone = lambda *cols: gzip.compress("\n".join([head, *map(json.dumps, cols)]).encode())
    for bad in (b"not gzip at all", gzip.compress(b"{}\n"), gzip.compress(b"[1, 2]\n"),
                gzip.compress(head.encode()),  # no columns
                redone("abab", [2, 2], "aa", [1, 1], [1, 1]),  # a context given twice
                redone("ab", [2], "ab", [2], [1]),  # two characters, one count
                redone("ab", [1], "a", [1], [1]),  # contexts' lengths short of their text
                redone("ab", [2.5], "a", [1], [1]),  # a length that is not a whole number
                redone("ab", [2], ["a"], [1], [1]),  # characters not a string
                redone("ab", [[2]], "a", [1], [1]),  # a list of lists
                redone("ab", [2], "a", [1], ["1"]),  # a count that is not a number
                redone("ab", [2], "a", [1], [1], [1])):  # a sixth column
        packed.write_bytes(bad)
        with pytest.raises(ModelError, match="unreadable"):
            CharNgramLM.load(packed)
    for bad in (_lines_form(lm, [["ab", "ab", [1]]]),  # the earlier form: two characters, one count
                _lines_form(lm, [["ab", "a", [1]]])):  # a context given twice
        packed.write_bytes(bad)
        with pytest.raises(ModelError, match="unreadable"):
            CharNgramLM.load(packed)
    # one frame, 'a' and 'b' equally likely for CTC: the LM decides
    lp = _log([[.1, .45, .45]])
    prefers_b = beam_decode(lp, 4, lm=lambda prefix, c: math.log(.9 if c == 2 else .1),
                            lm_weight=1.0)
    assert prefers_b[0] == [2]


def _lines_form(lm, extra: list | None = None) -> bytes:
    """``lm`` in the earlier compressed form (``LINES_FORMAT``: a JSON header line, then a
    JSON line ``[context, characters, counts]`` per context, then the ``extra`` lines), as
    fine-tuned versions written before session 27 hold it."""
    import gzip

    head = {"format": "htrjand-char-lm-lines/1", "order": lm.order, "vocab": lm.vocab,
            "discount": lm.discount}
    rows = [[ctx, "".join(row), list(row.values())] for ctx, row in lm.counts.items()]
    return gzip.compress("\n".join(json.dumps(x) for x in [head, *rows, *(extra or [])]).encode())


def test_compressed_char_lm_of_the_earlier_form_is_read(tmp_path, monkeypatch) -> None:
    """The earlier compressed form, parsed several lines a call, reads every row, across
    chunks and blank lines, as it was written; so does the columns form of the same LM."""
    import gzip

    from engine.recognition import lm as lm_module
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abc cab bca", "a bad cab", "çà ’x"], list("abcd çà’"), order=3)
    body = gzip.decompress(_lines_form(lm)).split(b"\n")
    packed = tmp_path / "lm-x.json.gz"
    packed.write_bytes(gzip.compress(b"\n".join(body[:4] + [b"  "] + body[4:])))
    monkeypatch.setattr(lm_module, "LOAD_CHUNK", 2)
    again = CharNgramLM.load(packed)
    assert len(body) > 2 * 2 and again.counts == lm.counts
    packed.write_bytes(lm.to_bytes(compress=True))
    columns = CharNgramLM.load(packed)
    assert columns.counts == lm.counts and columns.n_rows == again.n_rows == lm.n_rows
    for context in ("ab", "", "’x", "zz", "ç"):
        assert again.distribution(context).tolist() == lm.distribution(context).tolist()
        assert columns.distribution(context).tolist() == lm.distribution(context).tolist()


def test_char_lm_cache_stays_bounded(monkeypatch) -> None:
    """The memoised LM probabilities are forgotten past CACHE_LIMIT (a long batch must not
    grow them without end), and forgetting changes no probability."""
    from engine.recognition import lm as lm_module

    model = lm_module.CharNgramLM.train(["abab abba baab", "bbaa ab"], list("ab "), order=4)
    contexts = ["".join(p) for p in itertools.product("ab ", repeat=3)]
    unbounded = {(c, x): model.prob(c, x) for c in contexts for x in "ab "}
    monkeypatch.setattr(lm_module, "CACHE_LIMIT", 10)
    fresh = lm_module.CharNgramLM(model.order, model.vocab, model.counts, model.discount)
    for (c, x), p in unbounded.items():
        assert fresh.prob(c, x) == pytest.approx(p)
        assert len(fresh._cache) <= 10


def test_char_lm_adapted_adds_the_counts_of_the_texts(tmp_path: Path) -> None:
    """``adapted`` (merged as columns) gives this LM's counts plus ``weight`` times those of
    the texts, worked out here as dicts: contexts new to the LM, contexts that were only a
    start the trie added, characters outside the vocabulary (kept as they were, in the
    compressed form too) and a larger vocabulary included."""
    from engine.recognition.lm import CharNgramLM

    gappy_counts = {"": {"a": 3, "b": 2, " ": 1}, "ab": {"a": 2, " ": 1, "q": 1}, "b": {"b": 1},
                    "\x02ba": {"b": 2}, "\x02\x02b": {"q": 4}}
    gappy = CharNgramLM(4, list("ab "), gappy_counts)
    assert "\x02\x02" not in gappy_counts and gappy.row_of("\x02\x02") >= 0  # a start added
    texts = ["ba ab", "bab zb"]
    for weight, vocab in ((3, None), (1, list("ab z")), (0, list("ab z"))):
        want = {ctx: dict(row) for ctx, row in gappy_counts.items()}
        if weight:
            for ctx, row in CharNgramLM.train(texts, vocab or gappy.vocab, order=4).counts.items():
                for c, n in row.items():
                    want.setdefault(ctx, {})[c] = want.get(ctx, {}).get(c, 0) + weight * n
        got = gappy.adapted(texts, weight, vocab=vocab)
        assert got.counts == want and got.vocab == (vocab or gappy.vocab)
        (tmp_path / "lm-x.json.gz").write_bytes(got.to_bytes(compress=True))
        assert CharNgramLM.load(tmp_path / "lm-x.json.gz").counts == want
        for ctx in ("\x02\x02\x02", "\x02ab", "\x02\x02b", "bab", " zb", "b z"):
            assert got.distribution(ctx).tolist() == pytest.approx(
                _reference_distribution(want, got.vocab, 0.75, ctx), abs=1e-15)
    rows = gappy._rows_of(["", "ab", "b", "\x02ba", "ba", "abc", "q"])
    assert rows[:4].tolist() == [gappy.row_of(c) for c in ("", "ab", "b", "\x02ba")]
    assert rows[5:].tolist() == [-1, -1] and rows[4] == -1  # "ba" is not a row of its own


def test_char_lm_adapted_with_weight_zero_is_the_parent_lm() -> None:
    """Weight 0 adds the new vocabulary only: probabilities as the parent's, no empty rows."""
    from engine.recognition.lm import CharNgramLM

    parent = CharNgramLM.train(["abab abba"], list("ab "), order=3)
    same = parent.adapted(["xyz never seen"], 0, vocab=list("ab xyz"))
    assert same.counts == parent.counts and "x" in same.vocab
    assert same.prob("xy", "z") > 0 and same.prob("ab", "a") > 0
    more = parent.adapted(["xyz"], 2, vocab=list("ab xyz"))
    assert more.prob("xy", "z") > same.prob("xy", "z")


def _posteriors(charset: list[str], frames: list[dict[str, float]]) -> np.ndarray:
    """Log posteriors over blank + ``charset``: each frame's named characters get their
    probability, the rest (blank included) share what is left."""
    n = len(charset) + 1
    rows = []
    for frame in frames:
        row = np.full(n, (1.0 - sum(frame.values())) / (n - len(frame)))
        for ch, p in frame.items():
            row[0 if ch == "" else charset.index(ch) + 1] = p
        rows.append(row)
    return np.log(np.asarray(rows))


def test_each_page_reads_with_the_language_lm_its_greedy_reading_chooses(model_dir: Path,
                                                                        tmp_path: Path) -> None:
    """Two per-language LMs: one where 'a' is followed by 'b', one where it is followed by
    'c'. A doubtful b/c after an 'a' reads as the language of its page says; a page is chosen
    as a whole (lines with equal ``pages`` keys), and the LMs travel gzip-compressed."""
    from engine.recognition.lm import CharNgramLM

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("lm-*"))
    card = json.loads((folder / "card.json").read_text())
    charset = card["charset"]
    for name, text in (("abish", "ab abab babab ab"), ("acish", "ac acac cacac ac")):
        lm = CharNgramLM.train([text] * 20, charset, order=3)
        (folder / f"lm-{name}.json.gz").write_bytes(lm.to_bytes(compress=True))
        assert CharNgramLM.load(folder / f"lm-{name}.json.gz").counts == lm.counts
    card["decoding"] = {"default": "beam", "beam": 4, "lm_weight": 0.0, "length_bonus": 0.0,
                        "lms": [{"name": n, "file": f"lm-{n}.json.gz", "lm_weight": 1.0,
                                 "length_bonus": 0.0} for n in ("abish", "acish")]}
    (folder / "card.json").write_text(json.dumps(card))
    greedy = Recognizer(folder, device="cpu", beam=1)
    greedy.recognize_images([np.full((64, 120), 255, np.uint8)])
    assert greedy._languages is None and greedy.decoding == "greedy"  # greedy never loads them
    assert greedy._lm is None  # nor the pooled LM
    rec = Recognizer(folder, device="cpu")
    assert rec.decoding == "beam 4 + character LM per page (abish, acish)"
    assert [lang.name for lang in rec.languages] == ["abish", "acish"]
    clear_ab = _posteriors(charset, [{"a": .9}, {"": .9}, {"b": .9}, {"": .9}, {"a": .9}, {"": .9}, {"b": .9}])
    doubtful = _posteriors(charset, [{"a": .9}, {"": .9}, {"c": .46, "b": .44}])
    assert [r.text for r in rec.decode_lines([doubtful])] == ["ac"]  # alone: greedy 'ac' chooses acish
    together = rec.decode_lines([clear_ab, doubtful], ["p1", "p1"])
    assert [r.text for r in together] == ["abab", "ab"]  # the page reads 'ab…': abish
    apart = rec.decode_lines([clear_ab, doubtful], ["p1", "p2"])
    assert [r.text for r in apart] == ["abab", "ac"]
    assert rec._lm is None  # pages with a language never need the pooled LM
    blank = _posteriors(charset, [{"": .95}] * 4)
    assert [r.text for r in rec.decode_lines([blank])] == [""] and rec._lm is not None
    shutil.copy(folder / "lm.json", tmp_path / "lm.json")
    (folder / "lm.json").write_text("{broken")
    lazy = Recognizer(folder, device="cpu")  # read when first needed, and then a clear error
    with pytest.raises(ModelError, match="unreadable character language model"):
        lazy.decode_lines([blank])
    shutil.copy(tmp_path / "lm.json", folder / "lm.json")
    assert rec.choose_language(["", ""]) is None
    rec.beam = 1  # greedy ignores the LMs
    assert [r.text for r in rec.decode_lines([clear_ab, doubtful], ["p1", "p1"])] == ["abab", "ac"]
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (64, w), dtype=np.uint8) for w in (200, 90, 300)]
    rec.beam = 4
    assert len(rec.recognize_images(images, pages=["x", "y", "x"])) == 3
    # a listed LM that is missing, or named outside the folder, is a clear error
    (folder / "lm-acish.json.gz").write_bytes(b"garbage")  # read when beam search needs it
    with pytest.raises(ModelError, match="unreadable"):
        Recognizer(folder, device="cpu").recognize_images(images)
    (folder / "lm-acish.json.gz").unlink()
    with pytest.raises(ModelError, match="lm-acish.json.gz that card.json lists is missing"):
        Recognizer(folder, device="cpu", beam=1)
    card["decoding"]["lms"][1]["file"] = "../lm-acish.json.gz"
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="outside the model folder"):
        Recognizer(folder, device="cpu")


def test_a_word_lm_reranks_the_best_readings_of_its_language(model_dir: Path,
                                                             tmp_path: Path) -> None:
    """A language whose word LM knows "cab" but not "cac": a doubtful b/c that the character
    LM alone reads as "cac" reads as "cab" with it; ``nbest`` ranks the same way, the
    confidences follow the chosen reading, and a missing or corrupt word LM is a clear error."""
    from engine.recognition.lm import CharNgramLM
    from engine.recognition.word_lm import WordBigramLM

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("lm-*"))
    card = json.loads((folder / "card.json").read_text())
    charset = card["charset"]
    (folder / "lm-en.json.gz").write_bytes(
        CharNgramLM.train(["abc cab bca"] * 5, charset, order=2).to_bytes(compress=True))
    (folder / "lm-en-words.json.gz").write_bytes(
        WordBigramLM.train(["the cab", "a cab came"] * 10).to_bytes())
    entry = {"name": "en", "file": "lm-en.json.gz", "lm_weight": 0.0, "length_bonus": 0.0}
    card["decoding"] = {"default": "beam", "beam": 4, "lm_weight": 0.0, "length_bonus": 0.0,
                        "lms": [entry]}
    (folder / "card.json").write_text(json.dumps(card))
    doubtful = _posteriors(charset, [{"c": .9}, {"": .9}, {"a": .9}, {"": .9},
                                     {"c": .47, "b": .43}])
    assert [r.text for r in Recognizer(folder, device="cpu").decode_lines([doubtful])] == ["cac"]
    entry["words"] = {"file": "lm-en-words.json.gz", "weight": 1.0, "bonus": 0.0, "nbest": 4}
    (folder / "card.json").write_text(json.dumps(card))
    rec = Recognizer(folder, device="cpu")
    assert rec.decoding == "beam 4 + character LM per page (en + words)"
    result = rec.decode_lines([doubtful])[0]
    assert result.text == "cab" and len(result.char_confidences) == 3
    assert result.char_confidences[2] == pytest.approx(0.43, abs=0.01)  # the b's own posterior
    ranked = rec.nbest(doubtful, rec.languages[0], 3)
    assert ranked[0][0] == "cab" and "cac" in [t for t, _ in ranked]
    assert ranked[0][1] >= ranked[1][1]
    (folder / "lm-en-words.json.gz").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="unreadable word language model"):
        Recognizer(folder, device="cpu").decode_lines([doubtful])
    (folder / "lm-en-words.json.gz").unlink()
    with pytest.raises(ModelError, match="lm-en-words.json.gz that card.json lists is missing"):
        Recognizer(folder, device="cpu", beam=1)
    entry["words"] = {"file": "lm-en-words.json.gz"}  # no weights
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="unusable language LM"):
        Recognizer(folder, device="cpu")


def test_language_lm_file_names_stay_inside_the_model_folder() -> None:
    from engine.model_store import is_model_file
    from engine.recognition.lm import language_lm_file

    for name in ("hooker", "cremma-abrege", "x.y/../z", "Poilus 1914", "../", "é"):
        file = language_lm_file(name)
        assert is_model_file(file) and "/" not in file, file
    assert language_lm_file("hooker") == "lm-hooker.json.gz"


def test_text_log_prob_is_the_sum_of_the_character_log_probs() -> None:
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abab abba", "baab"], list("ab "), order=3)
    text = "abba b"
    assert lm.text_log_prob(text) == pytest.approx(sum(lm.log_prob(text[:i], c) for i, c in enumerate(text)))
    assert lm.text_log_prob("") == 0.0
    texts = ["abba b", "", "zab a", "b", "bbbbbaaaaz ab"]  # ('z' outside the LM's characters)
    assert lm.text_log_probs(texts).tolist() == pytest.approx(
        [sum(lm.log_prob(t[:i], c) for i, c in enumerate(t)) for t in texts])


def test_char_lm_min_count_prunes_only_the_longest_contexts() -> None:
    """Counts below ``min_count`` are dropped after full-length contexts only: the shorter
    contexts the LM backs off to keep every count (pruning them too read val worse)."""
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abc abd", "abc"], list("abcd "), order=3, min_count=2)
    counts = lm.counts
    assert counts["b"] == {"c": 2, "d": 1}  # a shorter context keeps its single "d"
    assert counts[""]["d"] == 1
    assert counts["ab"] == {"c": 2}  # a full-length one drops it
    assert lm.prob("ab", "d") < lm.prob("xb", "d")  # unseen "xb" backs off to "b", which saw "d"
