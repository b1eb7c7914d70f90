"""The LM tuning's collection balance and its per-collection objective."""

from __future__ import annotations

import numpy as np
import pytest

from engine.recognition.recognizer import LineResult
from training.data import LineSet
from training.lm_tune import collection_repeats, mean_cer


def test_collection_repeats_balance_the_smaller_collections() -> None:
    sizes = {"hooker": 6058, "poilus": 1642}
    assert collection_repeats(sizes, 0.0) == {"hooker": 1, "poilus": 1}
    assert collection_repeats(sizes, 0.5) == {"hooker": 1, "poilus": 2}
    assert collection_repeats(sizes, 1.0) == {"hooker": 1, "poilus": 4}
    assert collection_repeats({"a": 10, "b": 10}, 1.0) == {"a": 1, "b": 1}


class _Reads:
    """Stands in for a Recognizer whose 'posteriors' are already the texts it reads."""

    def decode_lines(self, texts: list[str], pages: list[str] | None = None) -> list[LineResult]:
        return [LineResult(text, 1.0) for text in texts]


def test_mean_cer_gives_each_collection_the_same_say() -> None:
    refs = ["abcd"] * 9 + ["wxyz"]
    lines = LineSet([np.zeros((2, 2), np.uint8)] * 10, refs,
                    [f"big/p/{i}" for i in range(9)] + ["small/p/0"])
    reads = ["abcd"] * 9 + ["wxy?"]  # one error of 4, in 'small'
    mean, by = mean_cer(_Reads(), reads, lines)
    assert by == {"big": 0.0, "small": pytest.approx(0.25)}
    assert mean == pytest.approx(0.125)  # pooled it would be 1/40


def test_collection_language_by_frequent_words() -> None:
    """An English and a French collection are told apart by their words (the English one's
    LM then gets the English prose)."""
    pytest.importorskip("wordfreq")
    from training.lm_tune import collection_language

    english = ["I have received your letter of the 12th and thank you for the seeds",
               "which arrived in very good order, with the plants."]
    french = ["Je soussigné déclare léguer à ma femme tous mes biens meubles et immeubles",
              "fait à Paris le dix août mil neuf cent quatorze."]
    assert collection_language(english) == "en"
    assert collection_language(french) == "fr"


def test_set_read_beam_keeps_the_weights_and_measures_val_with_the_new_width(tmp_path) -> None:
    """A tuned model made to read wider: its card's beam changes, the width its weights were
    chosen with is kept beside it, the val figures are read with the new width and the text
    card says so; the LMs and weights are untouched."""
    import json
    import shutil

    from engine.models import bundled_models_dir
    from training.data import write_cache
    from training.lm_tune import set_read_beam

    bundled = bundled_models_dir() / "htrjand-student"
    if not (bundled / "card.json").is_file():
        pytest.skip("no bundled recognizer")
    model = tmp_path / "model"
    shutil.copytree(bundled, model)
    before = json.loads((model / "card.json").read_text())["decoding"]
    rng = np.random.default_rng(0)
    for coll in before.get("val") or {"hooker": None}:
        images = [np.where(rng.random((64, 200)) < 0.1, 0, 255).astype(np.uint8)
                  for _ in range(2)]
        write_cache(LineSet(images, ["ab", "cd"], [f"{coll}/p/0", f"{coll}/p/1"]),
                    coll, "val", 64, tmp_path / "cache")
    card = json.loads((model / "card.json").read_text())
    card["training"]["data"] = list(before.get("val") or {"hooker": None})
    (model / "card.json").write_text(json.dumps(card))
    dec = set_read_beam(model, before["beam"] * 2, cache=tmp_path / "cache")
    after = json.loads((model / "card.json").read_text())["decoding"]
    tuned_at = before.get("tuned_at_beam", before["beam"])  # what the weights were chosen with
    assert after["beam"] == before["beam"] * 2 and after["tuned_at_beam"] == tuned_at
    assert after["lm_weight"] == before["lm_weight"] and after.get("lms") == before.get("lms")
    assert all(v["lines"] == 2 for v in after["val"].values()) and dec == after
    assert f"with beam {tuned_at})" in (model / "card.md").read_text()


def test_a_word_lm_is_kept_only_where_it_reads_the_lines_better() -> None:
    """``with_word_lm``: trained on lines that know "cab", it turns a doubtful "cac" into the
    true "cab" and is kept with the grid weights that did so; trained on lines that only know
    "cac", no weight reads better and the language comes back without one."""
    from engine.models import bundled_models_dir
    from engine.recognition import Recognizer
    from engine.recognition.lm import CharNgramLM
    from engine.recognition.recognizer import LanguageLM
    from engine.recognition.word_lm import WordBigramLM
    from training.lm_tune import WORD_GRID, WORD_NBESTS, with_word_lm

    bundled = bundled_models_dir() / "htrjand-student"
    if not (bundled / "card.json").is_file():
        pytest.skip("no bundled recognizer")
    rec = Recognizer(bundled, "cpu", beam=4)
    charset = rec.model.charset
    rows = []
    for frame in ({"c": .9}, {"": .9}, {"a": .9}, {"": .9}, {"c": .47, "b": .43}):
        row = np.full(len(charset) + 1, (1.0 - sum(frame.values())) / (len(charset) + 1 - len(frame)))
        for ch, p in frame.items():
            row[0 if ch == "" else charset.index(ch) + 1] = p
        rows.append(row)
    doubtful = np.log(np.asarray(rows))
    lines = LineSet([np.zeros((64, 40), np.uint8)], ["cab"], ["toy/p/0"])
    flat = LanguageLM("en", CharNgramLM.train(["abc"], charset, order=2), 0.0, 0.0)
    trials: list[dict] = []
    kept, cer = with_word_lm(rec, flat, WordBigramLM.train(["the cab", "a cab came"]), [doubtful],
                             lines, trials)
    assert cer == 0.0 and kept.words is not None and (kept.word_weight, kept.word_bonus) in WORD_GRID
    assert kept.nbest == WORD_NBESTS[0]  # the shallowest depth that reads best
    assert rec.nbest(doubtful, kept, 1)[0][0] == "cab"
    assert len(trials) == len(WORD_GRID) * len(WORD_NBESTS)
    assert all(t["without_words"] > 0 for t in trials)
    same, cer = with_word_lm(rec, flat, WordBigramLM.train(["the cac", "a cac came"]), [doubtful],
                             lines, [])
    assert same is flat and cer > 0


def test_the_character_setting_is_chosen_with_its_word_lm() -> None:
    """The second-best character setting wins when its word LM reads better than the best
    one's; only the ``JOINT_TOP`` best are tried, and a tie keeps the better character one."""
    from engine.recognition.lm import CharNgramLM
    from engine.recognition.recognizer import LanguageLM
    from training.lm_tune import JOINT_TOP, best_with_words

    lm = CharNgramLM.train(["abc"], ["a", "b", "c"], order=2)
    scored = [(0.20, 0.45, 2.0), (0.21, 0.35, 2.0), (0.22, 0.6, 1.0), (0.30, 0.25, 3.0)]
    after_words = {(0.45, 2.0): 0.19, (0.35, 2.0): 0.18, (0.6, 1.0): 0.18, (0.25, 3.0): 0.01}
    tried = []

    def with_words(w: float, b: float) -> tuple[LanguageLM, float]:
        tried.append((w, b))
        return LanguageLM("x", lm, w, b), after_words[(w, b)]

    chosen = best_with_words(scored, with_words)
    assert (chosen.lm_weight, chosen.length_bonus) == (0.35, 2.0)
    assert tried == [(w, b) for _, w, b in scored[:JOINT_TOP]]


def test_an_english_word_lm_learns_prose_pruned_and_its_train_lines_whole() -> None:
    """``collection_word_lm``: the prose's rare word pairs are dropped, its words kept; the
    collection's own lines count ``WORD_TRAIN_WEIGHT`` times, every pair of them kept."""
    from training.lm_tune import WORD_MIN_COUNT, WORD_TRAIN_WEIGHT, collection_word_lm

    prose = ["the plant grew", "the plant died", "a rare orchid"]
    train = ["the orchid flowered"]
    lm = collection_word_lm(train, prose)
    assert WORD_MIN_COUNT == 2 and lm.bigrams["the", "plant"] == 2
    assert ("rare", "orchid") not in lm.bigrams and lm.unigrams["rare"] == 1
    assert lm.bigrams["orchid", "flowered"] == WORD_TRAIN_WEIGHT
    assert lm.unigrams["orchid"] == 1 + WORD_TRAIN_WEIGHT
    alone = collection_word_lm(train, [])
    assert alone.bigrams == {("<s>", "the"): 1, ("the", "orchid"): 1, ("orchid", "flowered"): 1}
