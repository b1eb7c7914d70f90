"""The post-corrector's export (``training.postcorrect.export``): the model folder and card of the
contract, ONNX logits equal to PyTorch's (full prefix and step by step with the cache), greedy
decoding equal to transformers' own, atomic replacement, bad input. Tiny random T5s only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from engine.errors import ModelError  # noqa: E402
from engine.postcorrect import LineInput, PostCorrector, tokens  # noqa: E402
from training.postcorrect.export import export_postcorrector, load_hf_model, main  # noqa: E402

LINES = ["Le soussigné déclare", "ab", "x", "Ma chère amie, je vous écris de Verdun"]


def _batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = [tokens.encode_input(t, "contexte") for t in texts]
    width = max(len(x) for x in ids)
    batch = np.zeros((len(ids), width), np.int64)
    mask = np.zeros((len(ids), width), np.int64)
    for k, x in enumerate(ids):
        batch[k, :len(x)], mask[k, :len(x)] = x, 1
    return batch, mask


def test_folder_and_card_follow_the_contract(postcorrect_model_dir: Path) -> None:
    names = {p.name for p in postcorrect_model_dir.iterdir()}
    assert names == {"card.json", "card.md", "encoder.onnx", "decoder.onnx",
                     "decoder_cross.onnx", "decoder_step.onnx", "weights.bin"}
    card = json.loads((postcorrect_model_dir / "card.json").read_text(encoding="utf-8"))
    assert (card["name"], card["kind"]) == ("htrjand-postcorrect", "postcorrect")
    assert card["tokenizer"] == {"type": "byt5", "pad": 0, "eos": 1, "unk": 2, "offset": 3,
                                 "sep": 259, "vocab_size": 260}
    assert (card["max_context_bytes"], card["max_line_bytes"]) == (96, 320)
    assert card["max_output_bytes"] >= card["max_line_bytes"]
    assert set(card["thresholds"]) == {"gain", "max_confidence", "max_edit"}
    assert card["thresholds_tuned"] is False
    onnx = card["onnx"]
    assert (onnx["encoder"], onnx["decoder"], onnx["cache"], onnx["opset"]) == (
        "encoder.onnx", "decoder.onnx", True, 17)
    assert onnx["max_abs_diff_vs_pytorch"] < 1e-4
    assert card["config"]["d_model"] == 32 and card["parameters"] > 10_000
    assert "## When a suggestion is offered" in (postcorrect_model_dir / "card.md").read_text()
    # the cached decoder repeats the full decoder's weights: stored once, in weights.bin
    graphs = sum((postcorrect_model_dir / n).stat().st_size for n in names if n.endswith(".onnx"))
    assert graphs < (postcorrect_model_dir / "weights.bin").stat().st_size
    assert not [p for p in postcorrect_model_dir.parent.iterdir() if p.name.startswith(".")]


def test_onnx_logits_equal_pytorch(tiny_t5_dir: Path, postcorrect_model_dir: Path) -> None:
    model = load_hf_model(tiny_t5_dir)
    corrector = PostCorrector(postcorrect_model_dir, threads=1)
    ids, mask = _batch(LINES)
    hidden, got_mask = corrector._encode([tokens.encode_input(t, "contexte") for t in LINES])
    assert np.array_equal(got_mask, mask)
    dec = np.array([[0] + tokens.encode_target("Le soussigné")[:9]] * len(LINES), np.int64)
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                    decoder_input_ids=torch.from_numpy(dec), use_cache=False).logits.numpy()
    full = corrector._logits(dec, hidden, mask)
    assert np.abs(full - ref).max() < 1e-4
    # the cached decoder, one token at a time from an empty cache
    cross_key, cross_value = corrector.cross.run(None, {"hidden": hidden})
    cache = np.zeros((1, len(LINES), 4, 0, 8), np.float32)
    self_key = self_value = cache
    for t in range(dec.shape[1]):
        step, self_key, self_value = corrector.step.run(None, {
            "decoder_input_ids": dec[:, t:t + 1], "attention_mask": mask,
            "cross_key": cross_key, "cross_value": cross_value, "self_key": self_key,
            "self_value": self_value})
        assert np.abs(step - ref[:, t]).max() < 1e-4


def test_greedy_decoding_equals_transformers_generate(tiny_t5_dir: Path,
                                                      postcorrect_model_dir: Path) -> None:
    model = load_hf_model(tiny_t5_dir)
    corrector = PostCorrector(postcorrect_model_dir, threads=1)
    ids, mask = _batch(LINES)
    with torch.no_grad():
        ref = model.generate(input_ids=torch.from_numpy(ids),
                             attention_mask=torch.from_numpy(mask), max_new_tokens=12,
                             do_sample=False, num_beams=1).numpy()[:, 1:]
    hidden, _ = corrector._encode([tokens.encode_input(t, "contexte") for t in LINES])
    for cached in (True, False):
        if not cached:
            corrector.step = None  # the full-prefix decoder, as a model without a cache runs
        out = corrector._greedy(hidden, mask, [12] * len(LINES))
        for k, (got, _log_p, ended) in enumerate(out):
            want = [int(x) for x in ref[k]]
            want = want[:want.index(1) + 1] if 1 in want else want
            assert got == want and ended == (got[-1] == 1)


def test_reexport_replaces_the_folder_atomically(tiny_t5_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "pc"
    export_postcorrector(tiny_t5_dir, out, thresholds={"gain": 2.5, "max_confidence": 0.7},
                         card_extra={"training": {"minutes": 1}}, cache=False)
    (out / "stray.txt").write_text("left by hand")
    card = json.loads((out / "card.json").read_text())
    assert card["thresholds"] == {"gain": 2.5, "max_confidence": 0.7} and card["thresholds_tuned"]
    assert card["onnx"]["cache"] is False and not (out / "decoder_step.onnx").exists()
    assert card["training"] == {"minutes": 1}
    export_postcorrector(tiny_t5_dir, out)
    assert not (out / "stray.txt").exists() and (out / "decoder_step.onnx").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["pc"]  # no staging or old folder left


def test_a_model_without_the_cache_gives_the_same_candidates(ab_t5_dir: Path,
                                                             ab_postcorrect_dir: Path,
                                                             tmp_path: Path) -> None:
    plain = export_postcorrector(ab_t5_dir, tmp_path / "plain", cache=False,
                                 thresholds={"gain": -1e9, "max_confidence": 1.0})
    items = [LineInput("xb", "", [0.2, 0.9]), LineInput("b"), LineInput("ab")]
    with_cache = PostCorrector(ab_postcorrect_dir, threads=1).candidates(items)
    without = PostCorrector(plain, threads=1)
    assert without.step is None
    for a, b in zip(with_cache, without.candidates(items)):
        assert (a.text, a.spans, a.changed_confidence) == (b.text, b.spans, b.changed_confidence)
        assert a.gain == pytest.approx(b.gain, abs=1e-4)


def test_bad_models_are_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(ModelError, match="config.json is missing"):
        export_postcorrector(tmp_path / "nothing", tmp_path / "out")
    from transformers import T5Config, T5ForConditionalGeneration

    wrong = T5ForConditionalGeneration(T5Config(vocab_size=300, d_model=16, d_kv=4, d_ff=16,
                                                num_layers=1, num_heads=2))
    wrong.save_pretrained(tmp_path / "wrong")
    with pytest.raises(ModelError, match="byte token ids"):
        export_postcorrector(tmp_path / "wrong", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["--hf", str(tmp_path / "wrong"), "--out", str(tmp_path / "out")]) == 2
    assert "byte token ids" in capsys.readouterr().err


def test_command_line(tiny_t5_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["--hf", str(tiny_t5_dir), "--out", str(tmp_path / "pc"), "--gain", "1.5",
                 "--max-confidence", "0.8"]) == 0
    card = json.loads((tmp_path / "pc" / "card.json").read_text())
    assert card["thresholds"] == {"gain": 1.5, "max_confidence": 0.8, "max_edit": 1.0}
    assert "parameters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--hf", str(tiny_t5_dir), "--out", str(tmp_path / "x"), "--gain", "1"])


def test_a_postcorrect_folder_is_not_a_recognition_model(postcorrect_model_dir: Path,
                                                         store: Path) -> None:
    import shutil

    from engine.models import list_models
    from engine.pipeline import resolve_model

    shutil.copytree(postcorrect_model_dir, store / "htrjand-postcorrect")
    assert all(m.path.name != "htrjand-postcorrect" for m in list_models())
    with pytest.raises(ModelError, match="post-correction model, not a recognition model"):
        resolve_model(store / "htrjand-postcorrect")


def test_a_t5_trained_with_dropout_exports_in_eval_mode(tmp_path: Path) -> None:
    """The training configuration (dropout, gated GELU): the export must not leave the T5 in
    training mode (dropout on) when it compares ONNX with PyTorch, nor bake dropout in."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(1)
    config = T5Config(vocab_size=260, d_model=32, d_kv=8, d_ff=48, num_layers=2,
                      num_decoder_layers=1, num_heads=4, dropout_rate=0.1,
                      feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, tie_word_embeddings=False)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path / "hf")
    out = export_postcorrector(tmp_path / "hf", tmp_path / "pc")
    card = json.loads((out / "card.json").read_text())
    assert card["onnx"]["max_abs_diff_vs_pytorch"] < 1e-4
    items = [LineInput("une ligne"), LineInput("une ligne")]
    first, second = PostCorrector(out, threads=1).candidates(items)
    assert (first is None) == (second is None)  # deterministic: no dropout in the graphs


def test_an_exported_model_is_rebuilt_exactly_from_its_graphs(tiny_t5_dir: Path,
                                                              postcorrect_model_dir: Path,
                                                              tmp_path: Path) -> None:
    """``t5_from_exported`` gives back the trained weights (so a shipped corrector can be
    trained further with ``train --init``); a folder whose graphs lack weights is refused."""
    import shutil

    from training.postcorrect.from_onnx import t5_from_exported

    original = load_hf_model(tiny_t5_dir).state_dict()
    rebuilt = t5_from_exported(postcorrect_model_dir).state_dict()
    assert set(rebuilt) == set(original)
    for name, value in original.items():
        assert torch.allclose(rebuilt[name], value, atol=1e-6), name
    broken = tmp_path / "broken"
    shutil.copytree(postcorrect_model_dir, broken)
    shutil.copy(broken / "encoder.onnx", broken / "decoder.onnx")  # no decoder weights
    with pytest.raises(ModelError, match="lack"):
        t5_from_exported(broken)
