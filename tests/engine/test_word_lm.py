"""The word bigram LM that reranks beam search's best readings (engine.recognition.word_lm)."""

from __future__ import annotations

import math

import pytest

from engine.errors import ModelError
from engine.recognition.word_lm import WordBigramLM, words


def test_words_are_letter_runs_lower_cased() -> None:
    assert words("J’ai 3 Frères, l'aîné & moi.") == ["j’ai", "frères", "l'aîné", "moi"]
    assert words("12 / 8 --") == []


def test_seen_words_and_pairs_score_higher_and_probabilities_sum_below_one() -> None:
    lm = WordBigramLM.train(["the cab came", "the cab went", "a dog came"])
    assert lm.log_prob("the cab") > lm.log_prob("the dog") > lm.log_prob("the zzz")
    assert lm.log_prob("cab came") > lm.log_prob("came cab")
    assert lm.log_prob("") == 0.0 and lm.log_prob("1914.") == 0.0
    # P(next | "the") over the seen words plus the unseen mass is a distribution
    seen = sum(math.exp(lm.log_prob(f"the {w}") - lm.log_prob("the")) for w in lm.unigrams)
    unseen = (lm.vocab - len(lm.unigrams)) * math.exp(lm.log_prob("the qqq") - lm.log_prob("the"))
    assert seen + unseen == pytest.approx(1.0, rel=1e-6)


def test_adapted_learns_new_lines_and_leaves_the_parent() -> None:
    lm = WordBigramLM.train(["the cab came"])
    mine = lm.adapted(["the hansom came"], weight=3)
    assert mine.log_prob("the hansom") > lm.log_prob("the hansom")
    assert lm.unigrams["hansom"] == 0 and mine.unigrams["hansom"] == 3
    assert lm.adapted([], 0).log_prob("the cab") == pytest.approx(lm.log_prob("the cab"))


def test_pruned_drops_rare_pairs_keeps_words_and_stays_a_distribution() -> None:
    lm = WordBigramLM.train(["the cab came", "the cab went", "the dog came"]).pruned(2)
    assert set(lm.bigrams) == {("<s>", "the"), ("the", "cab")}
    assert lm.unigrams["dog"] == 1 and lm.log_prob("the dog") > lm.log_prob("the zzz")
    assert lm.log_prob("the cab") > lm.log_prob("the dog")
    for before in ("the", "cab"):  # a word with pairs kept after it, and one without
        base = lm.log_prob(before)
        seen = sum(math.exp(lm.log_prob(f"{before} {w}") - base) for w in lm.unigrams)
        unseen = (lm.vocab - len(lm.unigrams)) * math.exp(lm.log_prob(f"{before} qqq") - base)
        assert seen + unseen == pytest.approx(1.0, rel=1e-6)
    mine = lm.adapted(["the dog came"])  # counts added after pruning are kept whole
    assert mine.bigrams["the", "dog"] == 1 and mine.bigrams["dog", "came"] == 1


def test_round_trip_and_corrupt_files(tmp_path) -> None:
    lm = WordBigramLM.train(["the cab came", "Frères d’armes"])
    path = tmp_path / "lm-x-words.json.gz"
    path.write_bytes(lm.to_bytes())
    again = WordBigramLM.load(path)
    assert again.unigrams == lm.unigrams and again.bigrams == lm.bigrams
    assert again.log_prob("the cab came") == lm.log_prob("the cab came")
    words_held = {id(w) for w in again.unigrams}  # each pair holds the unigrams' strings
    assert all(id(b) in words_held for _, b in again.bigrams)
    for bad in (b"garbage", b""):
        path.write_bytes(bad)
        with pytest.raises(ModelError, match="unreadable word language model"):
            WordBigramLM.load(path)
    import gzip
    path.write_bytes(gzip.compress(b'{"format": "something else"}'))
    with pytest.raises(ModelError, match="not a word LM"):
        WordBigramLM.load(path)
    with pytest.raises(ModelError):
        WordBigramLM.load(tmp_path / "missing.json.gz")
