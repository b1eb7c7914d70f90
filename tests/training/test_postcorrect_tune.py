"""Threshold tuning of the post-corrector (``training.postcorrect.tune``) on hand-made scores:
it keeps only suggestions that help, and offers nothing when nothing is safe."""

from __future__ import annotations

from engine.postcorrect.corrector import NEVER_GAIN as NEVER
from training.postcorrect.pairs import RecognizedLine
from training.postcorrect.tune import Scored, choose_thresholds, evaluate


def _row(gt: str, raw: str, fix: str | None, gain: float, conf: float = 0.2) -> Scored:
    from rapidfuzz.distance import Levenshtein

    ratio = Levenshtein.distance(raw, fix) / max(1, len(raw)) if fix is not None else 0.0
    return Scored(RecognizedLine("c", "p", "l", gt, raw), fix, gain, conf, ratio)


def test_evaluate_counts_suggestions_and_precision() -> None:
    rows = [_row("house", "hovse", "house", 3.0), _row("tree", "tree", "trees", 0.5),
            _row("dog", "dg", None, 0.0)]
    e = evaluate(rows, gain=0.0, max_confidence=1.0)
    assert (e["suggestions"], e["precision"]) == (2, 0.5)
    strict = evaluate(rows, gain=1.0, max_confidence=1.0)
    assert (strict["suggestions"], strict["precision"]) == (1, 1.0)
    assert strict["cer_accepted"] < strict["cer_raw"]


def test_thresholds_drop_the_harmful_suggestions() -> None:
    good = [_row("the house", "the hovse", "the house", 4.0 + k / 10) for k in range(6)]
    rewrites = [_row("of course", "of cnnen", "my dear dyer", 5.0) for _ in range(4)]
    sure = [_row("a cat", "a cat", "a car", 6.0, conf=0.99) for _ in range(4)]
    other = [_row("le chat", "le chat", None, 0.0) for _ in range(5)]
    th, ev = choose_thresholds({"en": good + rewrites + sure, "fr": other})
    assert th["gain"] < NEVER and th["max_confidence"] < 0.99 and th["max_edit"] < 1.0
    assert ev["en"]["suggestions"] == 6 and ev["en"]["precision"] == 1.0
    assert ev["en"]["cer_accepted"] < ev["en"]["cer_raw"]
    assert ev["fr"]["cer_accepted"] == ev["fr"]["cer_raw"]


def test_nothing_safe_means_nothing_offered() -> None:
    bad = [_row("the house", "the house", "the horse", 5.0) for _ in range(5)]
    th, ev = choose_thresholds({"en": bad})
    assert th["gain"] == NEVER and ev["en"]["suggestions"] == 0


def test_cached_readings_are_bound_to_the_model(tmp_path, shared_data, toy_model_dir):
    """A cache of val readings is reused for the same model and read again for another one
    (a retrained bundled student must not be tuned on its predecessor's output)."""
    import json

    from training.postcorrect.pairs import _stamp_path, recognized_lines

    cache = tmp_path / "val-poilus.jsonl"
    first = recognized_lines("poilus", "val", toy_model_dir, cache=cache, limit=3)
    assert len(first) == 3 and _stamp_path(cache).is_file()
    rows = [json.loads(r) for r in cache.read_text().splitlines()]
    for row in rows:
        row["text"] = "STALE"
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [ln.text for ln in recognized_lines("poilus", "val", toy_model_dir, cache=cache, limit=3)] == ["STALE"] * 3
    _stamp_path(cache).write_text("another model\n")
    again = recognized_lines("poilus", "val", toy_model_dir, cache=cache, limit=3)
    assert [ln.text for ln in again] == [ln.text for ln in first]


def test_reading_stamp_follows_the_default_decoding(tmp_path, toy_model_dir):
    """Readings cached with greedy decoding are not reused once the card makes beam search with
    an LM the default, nor after the LM changes."""
    import json
    import shutil

    from training.postcorrect.pairs import _model_stamp

    folder = tmp_path / "model"
    shutil.copytree(toy_model_dir, folder)
    greedy = _model_stamp(folder)
    card = json.loads((folder / "card.json").read_text())
    card["decoding"] = {"default": "beam", "beam": 8, "lm_weight": 0.3, "length_bonus": 1.0}
    (folder / "card.json").write_text(json.dumps(card))
    beam = _model_stamp(folder)
    (folder / "lm.json").write_text("{}")
    assert len({greedy, beam, _model_stamp(folder)}) == 3


def test_retune_rewrites_only_the_card(tmp_path, monkeypatch) -> None:
    """``--retune``: new thresholds from the new readings go into card.json and card.md; the
    exported graphs are not touched."""
    import json
    import shutil

    from training.data import REPO
    from training.postcorrect import tune

    folder = tmp_path / "pc"
    shutil.copytree(REPO / "resources" / "models" / "htrjand-postcorrect", folder)
    graphs = {p.name: p.read_bytes() for p in folder.glob("*.onnx")}
    good = [_row("the house", "the hovse", "the house", 4.0 + k / 10) for k in range(6)]
    monkeypatch.setattr(tune, "score_val", lambda model_dir, runs, threads=0: {"en": good})
    assert tune.main(["--retune", str(folder), "--runs", str(tmp_path / "runs")]) == 0
    card = json.loads((folder / "card.json").read_text())
    assert card["thresholds_tuned"] and card["thresholds"]["gain"] < NEVER
    assert card["evaluation"]["val"]["en"]["suggestions"] == 6
    assert str(card['thresholds']['gain']) in (folder / "card.md").read_text()
    assert {p.name: p.read_bytes() for p in folder.glob("*.onnx")} == graphs
