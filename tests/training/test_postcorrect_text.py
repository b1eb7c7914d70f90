"""The post-corrector's clean text source: cached once, then read without the dictionaries."""

from __future__ import annotations

import random

from training.postcorrect import noise


def test_text_source_cache_is_written_then_read_without_dictionaries(tmp_path, monkeypatch
                                                                      ) -> None:
    cache = tmp_path / "text-source.json.gz"
    monkeypatch.setattr(noise, "gcide_lines", lambda: ["a prose line of four words"])
    monkeypatch.setattr(noise, "frequency_words",
                        lambda lang: (["the", "of"], [0.5, 0.25]) if lang == "en" else ([], []))
    first = noise.TextSource(["my dear sir"], random.Random(0), cache=cache)
    assert cache.is_file()

    def unavailable(*_args):
        raise AssertionError("the cache must be read instead")

    monkeypatch.setattr(noise, "gcide_lines", unavailable)
    monkeypatch.setattr(noise, "frequency_words", unavailable)
    again = noise.TextSource(["my dear sir"], random.Random(0), cache=cache)
    assert again.prose == first.prose == ["a prose line of four words"]
    assert again.words["en"] == (["the", "of"], [0.5, 0.25]) and again.words["fr"] == ([], [])
    lines = {again.line() for _ in range(200)}
    assert "my dear sir" in lines and "a prose line of four words" in lines


def test_copy_warmup_gives_short_identity_lines_first(tmp_path, monkeypatch) -> None:
    """The copy warm-up: identity examples (the input's line is the target) no longer than the
    stage allows, 12 then 24 then 60 characters, then the normal mix."""
    import pytest

    pytest.importorskip("torch")
    from engine.postcorrect import tokens
    from training.postcorrect.train import Batches, copy_limit

    assert [copy_limit(t, 100.0) for t in (0, 44, 50, 70, 99, 100)] == [12, 12, 24, 60, 60, None]
    assert copy_limit(0, 0.0) is None  # no warm-up asked for
    monkeypatch.setattr(noise, "gcide_lines", lambda: ["a long line of prose " * 5])
    monkeypatch.setattr(noise, "frequency_words", lambda lang: ([], []))
    rng = random.Random(0)
    source = noise.TextSource(["my dear sir, I have the honour"], rng,
                              cache=tmp_path / "text.json.gz")
    batches = Batches([], None, source, rng)
    for _ in range(50):
        src, target = batches.copy_example(12)
        line = tokens.decode(target)
        assert 1 <= len(line) <= 12
        assert src == tokens.encode_input(line, "")
    batch = batches.copy_batch(600, 24)
    assert batch["input_ids"].shape[0] > 1 and batch["labels"].shape[1] <= 25
