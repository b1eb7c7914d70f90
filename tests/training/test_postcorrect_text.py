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
