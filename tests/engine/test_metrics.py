"""CER / WER with rapidfuzz's Levenshtein distance."""

from __future__ import annotations

import pytest

from engine.metrics import ErrorRates, cer, error_kinds, error_rates, wer


def test_cer_and_wer_values() -> None:
    assert cer("abcd", "abcd") == 0.0
    assert cer("abcd", "abxd") == pytest.approx(0.25)
    assert cer("abcd", "") == 1.0
    assert wer("the cat sat", "the hat sat") == pytest.approx(1 / 3)
    assert wer("a b", "a b c d") == pytest.approx(1.0)


def test_normalisation_and_spaces_are_not_errors() -> None:
    assert cer("caf\u00e9 au\u00a0lait", "cafe\u0301  au lait ") == 0.0


def test_rates_sum_over_lines_before_dividing() -> None:
    rates = error_rates(["ab", "cdef"], ["ab", "cxef"])
    assert (rates.char_errors, rates.chars, rates.lines) == (1, 6, 2)
    assert rates.cer == pytest.approx(1 / 6)
    with pytest.raises(ValueError):
        error_rates(["a"], [])


def test_empty_reference() -> None:
    assert ErrorRates().cer == 0.0
    assert cer("", "") == 0.0 and cer("", "x") == 1.0


def test_error_kinds_sum_to_the_edit_distance() -> None:
    assert error_kinds("the cat", "the ca") == {"insert": 0, "delete": 1, "replace": 0}
    assert error_kinds("the cat", "thee cot") == {"insert": 1, "delete": 0, "replace": 1}
    assert error_kinds("a  b", "a b") == {"insert": 0, "delete": 0, "replace": 0}
    ref, hyp = "Dear Sir, I have", "Dcar Sr I havve"
    rates = ErrorRates()
    rates.add(ref, hyp)
    assert sum(error_kinds(ref, hyp).values()) == rates.char_errors
