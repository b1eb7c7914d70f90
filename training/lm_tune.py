"""Build the character LMs of a model folder from the training transcriptions and choose their
beam-search weights on val lines (model selection only); the result goes into the card.

    python -m training.lm_tune resources/models/htrjand-student [--beam 80] [--order 7]

Two kinds: the pooled LM of all collections (``lm.json``, balanced between them), and — when
the model was trained on several collections — one LM per collection (``lm-<name>.json.gz``;
an English collection's gets Webster's 1913 prose from Debian's ``dict-gcide`` as well, when
installed), of which the recognizer picks, per page, the one that explains the page's greedy
reading best. Each collection's LM may also get a word bigram LM of its train transcriptions
(``lm-<name>-words.json.gz``; an English one's with Webster's prose too, ``collection_word_lm``)
that reranks the beam's 8, 16 or 32 best readings, kept when it reads that collection's val
lines better (``with_word_lm``). The per-collection LMs are kept only when
they read the tuning lines better.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.metrics import ErrorRates
from engine.recognition import Recognizer
from engine.recognition.lm import CharNgramLM, language_lm_file
from engine.recognition.recognizer import LanguageLM
from engine.recognition.word_lm import WordBigramLM, rerank
from training.data import REPO, LineSet, load_lines
from training.export import card_markdown


def val_subset(every: LineSet, n: int) -> list[int]:
    """Indices into ``every`` (the val lines) of up to ``n`` lines of each collection, spread
    evenly over its pages (so that a small collection has as many lines to tune on as a large
    one)."""
    colls = every.collections
    keep: list[int] = []
    for coll in dict.fromkeys(colls):
        own = [i for i, c in enumerate(colls) if c == coll]
        keep += [own[k] for k in np.linspace(0, len(own) - 1, min(n, len(own))).astype(int).tolist()]
    return keep


def run_model(rec: Recognizer, lines: LineSet, batch: int = 16) -> list[np.ndarray]:
    """The network's frame posteriors of each line (decoded later, once per trial)."""
    out: list[np.ndarray] = []
    for s in range(0, len(lines), batch):
        out += rec.model.run([rec.model.prepare(im) for im in lines.images[s:s + batch]])
    return out


def read_pages(rec: Recognizer, posteriors: list, lines: LineSet) -> list[str]:
    """What the recognizer reads from each line, as in the application: page by page (the
    lines sharing a page in ``lines.sources``; ``Recognizer.decode_lines``)."""
    return [r.text for r in rec.decode_lines(posteriors, lines.pages)]


def collection_rates(rec: Recognizer, posteriors: list, lines: LineSet) -> dict[str, ErrorRates]:
    """Each collection's error rates on ``lines``, read as the application reads them."""
    rates: dict[str, ErrorRates] = {}
    for ref, coll, hyp in zip(lines.texts, lines.collections, read_pages(rec, posteriors, lines)):
        rates.setdefault(coll, ErrorRates()).add(ref, hyp)
    return rates


def mean_cer(rec: Recognizer, posteriors: list, lines: LineSet
             ) -> tuple[float, dict[str, float]]:
    """The mean of the collections' CER on ``lines`` and each one's: every collection counts
    the same, however many of the lines it holds (the targets are per collection)."""
    by = {c: r.cer for c, r in collection_rates(rec, posteriors, lines).items()}
    return (float(np.mean(list(by.values()))) if by else 0.0), by


BALANCES = (0.0, 0.5, 1.0)
"""How much the smaller collections' transcriptions are repeated in the LM (chosen on val by
:func:`tune`). With every line counted once, Hooker's 6,058 train lines outweigh Poilus's
1,642 and the LM is mostly English: on the phase-5 student, an LM of each collection's own
lines read Poilus val at 27.1 % against 28.5 % with the pooled one (Hooker 17.5 / 17.8 %)."""


def collection_repeats(sizes: dict[str, int], balance: float) -> dict[str, int]:
    """How many times each collection's lines are counted: ``balance`` 0 counts every line
    once, 1 brings each collection to about the size of the largest, 0.5 halfway."""
    largest = max(sizes.values())
    return {c: max(1, round(1 + balance * (largest / max(n, 1) - 1))) for c, n in sizes.items()}


PROSE_LINES = 50_000
"""Lines of Webster's 1913 prose added to an English collection's own LM. Measured on the
phase-6 student (Hooker val, beam 8, each page read with the LM its greedy reading chooses;
session 8, ``runs/lmexp8``): the pooled LM 17.33 %; Hooker's own transcriptions 17.05 %; with
25,000 prose lines 16.87 % (1.3 MB compressed), 50,000 16.60 % (2.1 MB), 50,000 with counts
under 3 dropped 16.79 % (1.4 MB); 200,000 (chosen per line) no better than 50,000. Poilus
27.42 % with its own LM against 28.54 % with the pooled one."""
LANGUAGE_GRID = tuple(itertools.product((0.25, 0.35, 0.45, 0.6, 0.8), (1.0, 2.0, 3.0)))
"""(LM weight, length bonus) tried for each per-collection LM, on its own collection's lines.
Session 8 (phase-6 student): Hooker chose 0.35 / 2.0 from (0.35, 0.5, 0.7) x (1, 2, 3); a finer
grid gave Poilus 0.45 / 2.0 (27.27 % against 27.42 % at 0.35). Order 8 instead of 7 read Hooker
at 16.48 % against 16.60 % for a 3.0 MB LM instead of 2.1 MB (and half as much memory again):
not taken. Session 19 (LMs pruned at the full-length contexts only): both collections chose the
grid's top weight, 0.6, so 0.8 was added in session 20."""


def collection_language(texts: list[str], candidates: tuple[str, ...] = ("en", "fr", "de")) -> str | None:
    """The language whose 20,000 most frequent words (wordfreq) cover most of the words of
    ``texts``; None without wordfreq."""
    from training.postcorrect.noise import frequency_words

    words = [w.strip(".,;:!?'\"()[]").lower() for t in texts for w in t.split()]
    words = [w for w in words if w.isalpha()]
    shares = {}
    for lang in candidates:
        known = set(frequency_words(lang, 20_000)[0])
        if known:
            shares[lang] = sum(w in known for w in words) / max(1, len(words))
    return max(shares, key=shares.get) if shares else None


def language_lms(rec: Recognizer, train: dict[str, LineSet], val: LineSet, posteriors: list,
                 charset: list[str], order: int) -> tuple[list[LanguageLM], list[dict], list[dict]]:
    """One LM per collection (an English one with prose added), each with the weights that
    read its own collection's lines in ``val`` best (``tune`` passes every val line):
    (LMs, card entries, trials)."""
    from training.postcorrect.noise import gcide_lines

    out, entries, trials = [], [], []
    for coll, lines in train.items():
        lang = collection_language(lines.texts)
        prose = gcide_lines(limit=max(PROSE_LINES, WORD_PROSE_LINES)) if lang == "en" else []
        if lang == "en" and not prose:
            print(f"warning: no Webster's 1913 prose for the English collection {coll!r} "
                  "(apt-get install dict-gcide): its LM learns the train lines only and reads "
                  "worse than the bundled model's", file=sys.stderr, flush=True)
        char_prose = prose[:PROSE_LINES]  # (the word LM learns more of it)
        lm = CharNgramLM.train(lines.texts + char_prose, charset, order=order, min_count=2)
        words_lm = collection_word_lm(lines.texts, prose)
        own = [i for i, c in enumerate(val.collections) if c == coll]
        sub = val.subset(own)
        sub_post = [posteriors[i] for i in own]
        scored = []
        for w, b in LANGUAGE_GRID:
            rec.languages = [LanguageLM(coll, lm, w, b)]  # alone: every page reads with it
            cer = collection_rates(rec, sub_post, sub)[coll].cer
            trials.append({"language_lm": coll, "lm_weight": w, "length_bonus": b, "cer": cer})
            scored.append((cer, w, b))
        chosen = best_with_words(scored, lambda w, b: with_word_lm(
            rec, LanguageLM(coll, lm, w, b), words_lm, sub_post, sub, trials))
        out.append(chosen)
        entries.append({"name": coll, "file": language_lm_file(coll),
                        "lm_weight": chosen.lm_weight, "length_bonus": chosen.length_bonus,
                        "language": lang,
                        "text": f"{len(lines)} train lines" + (
                            f" + {len(char_prose)} lines of Webster's 1913 prose"
                            if prose else "")})
        if chosen.words is not None:
            entries[-1]["words"] = {"file": language_lm_file(f"{coll}-words"),
                                    "weight": chosen.word_weight, "bonus": chosen.word_bonus,
                                    "nbest": chosen.nbest,
                                    "text": f"word bigrams of {len(lines)} train lines" + (
                                        f" (x{WORD_TRAIN_WEIGHT}) and of {len(prose)} lines of "
                                        f"Webster's 1913 prose (pairs seen {WORD_MIN_COUNT}+ "
                                        "times)" if prose else "")}
    rec.languages = []
    return out, entries, trials


WORD_GRID = tuple(itertools.product((0.3, 0.5, 0.7, 1.0), (0.0, 1.0, 2.0)))
"""(word LM weight, word bonus) tried for each collection's word LM, reranking the 8 best
readings of its own val lines. Session 12 (phase-9 student, beam 16, every val line;
``benchmarks/word_rescore.py``): every setting of this grid read both collections better than
the character LM alone — Hooker 15.47 → 15.13–15.31 %, Poilus 24.83 → 24.45–24.58 %."""
JOINT_TOP = 3
"""The best character-LM settings of ``LANGUAGE_GRID`` that each get a word LM of their own;
the pair that reads the collection best is kept, instead of the best character setting
followed by its word LM. Phase-9 student, every val line, read with beam 16 (session 13):
Hooker took 0.35 / 2.0 instead of 0.45 / 2.0 (words 1.0 / 1.0 both) and read at 15.08 %
instead of 15.14 %; Poilus kept its pair (24.50 %)."""
WORD_NBESTS = (8, 16, 32)
"""How many of the beam's best readings the word LM may rerank, chosen with its weights: 16
read no better than 8 with beam 16 (session 12), but the beam of 64 keeps more good readings
(session 24, bundled phase 12, every Hooker val line, the weights chosen for each depth:
13.88 / 13.83 / 13.78 % with the train-line word LM)."""
WORD_PROSE_LINES = 200_000
WORD_TRAIN_WEIGHT = 3
WORD_MIN_COUNT = 2
"""An English collection's word LM learns Webster's 1913 prose too: the first
``WORD_PROSE_LINES`` lines, their word pairs seen fewer than ``WORD_MIN_COUNT`` times dropped,
then the collection's train lines counted ``WORD_TRAIN_WEIGHT`` times. Session 24 (bundled
phase 12, every Hooker val line, beam 64, the best weights and depth of each): train lines
alone 13.78 %; with 50,000 prose lines 13.73 %, with the train lines x3 13.69 %; x3 with
200,000 lines 13.63 % (573,713 pairs, +191 MB in memory), the same pruned 13.60 % (158,934
pairs, 1.3 MB file, +40 MB); all 377,024 lines pruned 13.59 % (+87 MB); pairs seen 3+ times
13.64 %; with 200,000 lines pruned, train lines x1 13.68 %; with all of them, x5 as x3."""


def collection_word_lm(train_texts: list[str], prose: list[str]) -> WordBigramLM:
    """The word bigram LM of a collection: its train lines, and for an English one
    ``prose`` (see ``WORD_PROSE_LINES``)."""
    if not prose:
        return WordBigramLM.train(train_texts)
    return (WordBigramLM.train(prose[:WORD_PROSE_LINES]).pruned(WORD_MIN_COUNT)
            .adapted(train_texts, WORD_TRAIN_WEIGHT))


def best_with_words(scored: list[tuple[float, float, float]],
                    with_words: Callable[[float, float], tuple[LanguageLM, float]]) -> LanguageLM:
    """Of the ``JOINT_TOP`` best (CER, LM weight, length bonus) character settings in
    ``scored``, each given its word LM by ``with_words`` (→ language, CER), the one that reads
    best (the better character setting on a tie)."""
    chosen, best = None, None
    for _, weight, bonus in sorted(scored)[:JOINT_TOP]:
        candidate, cer = with_words(weight, bonus)
        if best is None or cer < best:
            chosen, best = candidate, cer
    return chosen


def with_word_lm(rec: Recognizer, language: LanguageLM, words_lm: WordBigramLM,
                 posteriors: list, lines: LineSet, trials: list[dict]) -> tuple[LanguageLM, float]:
    """``language`` with ``words_lm`` reranking its beam's best readings, at the
    ``WORD_GRID`` weights and ``WORD_NBESTS`` depth that read ``lines`` best — or ``language``
    as it is when none reads them better than its character LM alone — and the CER it reads
    them at. The n-best readings are computed once (the deepest; a shallower list is its
    start); each trial only reranks them."""
    rec.languages = [language]
    ranked = rec.nbest_lines(posteriors, language, max(WORD_NBESTS))

    def cer(weight: float, bonus: float, nbest: int) -> float:
        rates = ErrorRates()
        for ref, cands in zip(lines.texts, ranked):
            order = rerank(cands[:nbest], words_lm, weight, bonus)
            rates.add(ref, cands[order[0][0]][0] if order else "")
        return rates.cer

    alone = cer(0.0, 0.0, 1)
    best = (alone, None)
    for nbest in WORD_NBESTS:
        for weight, bonus in WORD_GRID:
            value = cer(weight, bonus, nbest)
            trials.append({"language_lm": language.name, "lm_weight": language.lm_weight,
                           "length_bonus": language.length_bonus, "word_weight": weight,
                           "word_bonus": bonus, "nbest": nbest, "cer": value,
                           "without_words": alone})
            if value < best[0]:
                best = (value, (weight, bonus, nbest))
    if best[1] is None:
        return language, alone
    weight, bonus, nbest = best[1]
    return replace(language, words=words_lm, word_weight=weight, word_bonus=bonus,
                   nbest=nbest), best[0]


ORDER = 7
"""Measured with the phase-5 student (val CER with beam 8, weights tuned per order; Hooker /
Poilus): order 5 18.08 / 28.90 %, 6 17.86 / 28.70 %, 7 17.82 / 28.54 %, 8 17.77 / 28.73 %
(1.9 MB); order 6 with 200,000 lines of Webster's 1913 prose added 17.29 / 31.23 % (English
text hurts the French collection; 8 MB)."""

READ_BEAM = 80
"""The beam width a tuned model reads with (and the command line chooses its weights with). Wider
beams read better (phase-6 student, weights chosen with beam 8, every val line, per-page LMs;
Hooker / Poilus): beam 8 16.60 / 27.27 %, 16 16.31 / 27.09 %, 32 16.08 / 27.00 % (beam 32
decodes about 3.4 times slower than 8). 16 until session 22, whose search of a page's lines side
by side read beam 32 faster than the old search read 16 (bundled phase 12: Hooker 14.45 -> 14.09
%, Poilus 23.07 -> 23.06 %; 34.7 lines/s as the application reads against 25.4-32.8 before,
``docs/recognition.md``); 32 until session 23, whose search follows the LM as an automaton and
read beam 64 as fast as beam 32 before (Hooker 14.09 -> 13.90 %, Poilus 23.06 -> 22.60 %; beam
48 13.97 / 22.79 %, 96 13.81 / 22.64 %, 128 13.75 / 22.72 %).
Until session 24 the weights were chosen with beam 8 (``python -m training.lm_tune --beam 8``):
choosing them with beam 16 had picked a pooled LM weight of 0.6 on the 150 tuning lines, which
read all of Hooker's val at 16.65 %. Since each collection's LM is tuned on all of its val
lines, and its word LM reranks the read beam's own n-best lists, the command line chooses them
with the read beam: on bundled phase 12 beam 64 kept each collection's character weights of beam
8, changed the pooled fallback's balance (Poilus x2 -> x4) and the word LMs' weights (Hooker 0.7
/ 1 -> 0.5 / 1, Poilus 0.5 / 1 -> 1.0 / 2; Hooker 13.90 -> 13.88 %, Poilus 22.60 -> 22.54 %,
about 5 minutes on one core; 8 with the prose word LM).
64 until session 27: with session 24's word LMs (bundled phase 12, weights of beam 64, every val
line, ``--only-read-beam``) beams 64 / 72 / 80 / 88 / 96 read Hooker 13.59 / 13.58 / 13.52 /
13.55 / 13.51 % and Poilus 22.54 / 22.52 / 22.51 / 22.51 / 22.54 %; 80 reads both better than 64
and costs about a sixth more decoding (10.6-12.2 against 9.3-10.1 ms a line). Weights chosen
with beam 96 itself read no better (Hooker 13.50 %, Poilus 22.54 %)."""


def tune(model_dir: Path, lines: int = 150, beam: int = 8, order: int = ORDER,
         cache: Path = REPO / "runs" / "cache", read_beam: int | None = None) -> dict:
    """Write lm.json and the chosen decoding settings into the card; return the trial table.
    The weights are chosen with a beam of ``beam``; ``read_beam`` (default: the same) is the
    width the model then reads with (the command line's default: ``READ_BEAM``)."""
    card_path = model_dir / "card.json"
    card = json.loads(card_path.read_text())
    colls = card["training"]["data"]
    train = {c: load_lines(c, "train", card["input"]["height"], cache) for c in colls}
    sizes = {c: len(t) for c, t in train.items()}

    def balanced_lm(repeats: dict[str, int]) -> CharNgramLM:
        return CharNgramLM.train([t for c in colls for t in train[c].texts * repeats[c]],
                                 card["charset"], order=order, min_count=2)

    # (the plain LM first, as before balancing existed: the Recognizer must not load a stale
    # or broken lm.json; the chosen one replaces it below)
    lms = {BALANCES[0]: balanced_lm(collection_repeats(sizes, BALANCES[0]))}
    atomic_write_text(model_dir / "lm.json", lms[BALANCES[0]].to_json())
    if isinstance(card.get("decoding"), dict) and card["decoding"].pop("lms", None):
        atomic_write_text(card_path, json.dumps(card, ensure_ascii=False, indent=1))  # re-chosen below
    for stale in model_dir.glob("lm-*.json.gz"):
        stale.unlink()
    rec = Recognizer(model_dir, "cpu", beam=1)
    every = every_val_line(colls, rec.height, cache)
    every_post = run_model(rec, every)  # the network once; each trial only decodes
    keep = val_subset(every, lines)
    val, posteriors = every.subset(keep), [every_post[i] for i in keep]
    trials, tried = [], []
    rec.beam = 1
    cer, by = mean_cer(rec, posteriors, val)
    trials.append({"beam": 1, "lm_weight": 0.0, "length_bonus": 0.0, "cer": cer, "by": by})
    rec.beam = beam
    for balance in BALANCES:
        repeats = collection_repeats(sizes, balance)
        if repeats in tried:  # (collections of one size: every balance is the same LM)
            continue
        tried.append(repeats)
        if balance not in lms:
            lms[balance] = balanced_lm(repeats)
        rec.lm = lms[balance]
        for w, b in itertools.product((0.0, 0.2, 0.35, 0.5), (0.0, 1.0, 2.0)):
            if w == 0.0 and balance != BALANCES[0]:
                continue  # without the LM the balance changes nothing
            rec.lm_weight, rec.length_bonus = w, b
            cer, by = mean_cer(rec, posteriors, val)
            trials.append({"beam": beam, "lm_weight": w, "length_bonus": b, "balance": balance,
                           "repeats": repeats, "cer": cer, "by": by})
            print(json.dumps(trials[-1]), flush=True)
    best = min(trials, key=lambda t: t["cer"])
    # Read with the beam by default only where it measured better than greedy.
    default = "beam" if best["beam"] > 1 and best["cer"] < trials[0]["cer"] else "greedy"
    chosen = best.get("balance", BALANCES[0])
    rec.lm = lms[chosen]
    atomic_write_text(model_dir / "lm.json", rec.lm.to_json())
    counted = ", ".join(f"{c} ×{n}" for c, n in collection_repeats(sizes, chosen).items()
                        if n > 1)
    card["decoding"] = {"default": default, "beam": best["beam"],
                        "lm_weight": best["lm_weight"], "length_bonus": best["length_bonus"],
                        "lm": f"character {order}-gram of the training transcriptions (lm.json"
                              f"{'; ' + counted if counted else ''})",
                        "tuned_on": f"{len(val)} val lines ({lines} at most per collection; the mean "
                                    "of the collections' CER)",
                        "trials": trials}
    rec.beam, rec.lm_weight, rec.length_bonus = best["beam"], best["lm_weight"], best["length_bonus"]
    if len(colls) > 1 and default == "beam":
        # each LM's weights on every val line of its collection: 150 lines chose them noisily
        languages, entries, lang_trials = language_lms(rec, train, every, every_post,
                                                       card["charset"], order)
        rec.languages = languages
        cer, by = mean_cer(rec, posteriors, val)
        card["decoding"]["languages"] = {"cer": cer, "by": by, "trials": lang_trials,
                                         "kept": cer < best["cer"]}
        print(json.dumps({"per-collection LMs, chosen per page": cer, "by": by,
                          "pooled": best["cer"]}), flush=True)
        if cer < best["cer"]:
            for lang, entry in zip(languages, entries):
                atomic_write_bytes(model_dir / entry["file"], lang.lm.to_bytes(compress=True))
                if lang.words is not None:
                    atomic_write_bytes(model_dir / entry["words"]["file"], lang.words.to_bytes())
            card["decoding"]["lms"] = entries
        else:
            rec.languages = []
    if read_beam is not None and default == "beam":
        card["decoding"].update(beam=read_beam, tuned_at_beam=beam)
        rec.beam = read_beam
    write_card_with_val(model_dir, card, rec, every, every_post)
    return card["decoding"]


def every_val_line(colls: list[str], height: int, cache: Path) -> LineSet:
    return LineSet.concat([load_lines(c, "val", height, cache) for c in colls])


def write_card_with_val(model_dir: Path, card: dict, rec: Recognizer, every: LineSet,
                        posteriors: list) -> None:
    """Record each collection's CER/WER on every val line, read with ``rec``'s settings, in the
    card's decoding entry, and write the card (json and text)."""
    card["decoding"]["val"] = {c: {"lines": r.lines, "cer": r.cer, "wer": r.wer}
                               for c, r in collection_rates(rec, posteriors, every).items()}
    atomic_write_text(model_dir / "card.json", json.dumps(card, ensure_ascii=False, indent=1))
    atomic_write_text(model_dir / "card.md", card_markdown(card))


def set_read_beam(model_dir: Path, read_beam: int, cache: Path = REPO / "runs" / "cache") -> dict:
    """Make a tuned model read with a beam of ``read_beam`` (its LM weights unchanged) and
    measure its val CER so: what ``tune(..., read_beam=N)`` does after tuning, for a model
    tuned before. Returns the card's new decoding entry."""
    card = json.loads((model_dir / "card.json").read_text())
    dec = card.get("decoding")
    if not isinstance(dec, dict) or dec.get("default") != "beam":
        raise SystemExit(f"{model_dir}: the model does not read with beam search")
    dec["tuned_at_beam"] = dec.get("tuned_at_beam", dec["beam"])
    dec["beam"] = read_beam
    rec = Recognizer(model_dir, "cpu", beam=read_beam)
    every = every_val_line(card["training"]["data"], rec.height, cache)
    write_card_with_val(model_dir, card, rec, every, run_model(rec, every))
    return dec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--lines", type=int, default=150,
                        help="val lines per collection to choose the settings on")
    parser.add_argument("--beam", type=int, default=READ_BEAM,
                        help=f"beam width the weights are chosen with (default {READ_BEAM})")
    parser.add_argument("--order", type=int, default=ORDER, help="n-gram order of the LM")
    parser.add_argument("--read-beam", type=int, default=READ_BEAM,
                        help="beam width the model reads with, once the weights are chosen "
                             f"with --beam (default {READ_BEAM})")
    parser.add_argument("--only-read-beam", action="store_true",
                        help="keep the model's LMs and weights; only set --read-beam and "
                             "measure val CER with it")
    args = parser.parse_args(argv)
    if args.only_read_beam:
        print(json.dumps(set_read_beam(args.model_dir, args.read_beam)["val"], indent=1))
        return 0
    print(json.dumps(tune(args.model_dir, args.lines, args.beam, args.order,
                          read_beam=args.read_beam), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
