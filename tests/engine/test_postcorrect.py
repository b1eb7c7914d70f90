"""The post-corrector in the engine (``engine.postcorrect``): candidates and thresholds, bad input,
missing or corrupt models, the pipeline and ``htrjand recognize --postcorrect``, the document
model (origin SUGGESTION, TextEquiv indexes) and re-recognition.

Models: tiny T5s exported by ``training.postcorrect.export`` (see tests/conftest.py); the "ab"
model answers "ab" to every line, so its suggestions are known in advance. Nothing here depends
on a trained model's quality."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.cli import main
from engine.document import Line, Origin, Page, Region
from engine.errors import ModelError
from engine.formats import page_xml_bytes, read_document, write_page_xml
from engine.postcorrect import (Candidate, LineInput, PostCorrector, apply_suggestions,
                                changed_confidence, edit_spans, load_postcorrector,
                                page_inputs, postcorrector_id, realign_confidences)

ACCEPT_ALL = {"gain": -1e9, "max_confidence": 1.0}
ACCEPT_NONE = {"gain": 1e9, "max_confidence": 1.0}


@pytest.fixture(scope="module")
def ab(ab_postcorrect_dir: Path) -> PostCorrector:
    return PostCorrector(ab_postcorrect_dir, threads=1)


# --- candidates and suggestions -------------------------------------------------------------

def test_candidates_of_the_ab_model(ab: PostCorrector) -> None:
    xb, same, b = ab.candidates([LineInput("xb", "", [0.2, 0.9]), LineInput("ab", "xb"),
                                 LineInput("b", "ab", [0.3])])
    assert (xb.raw, xb.text, xb.spans, xb.changed_confidence) == (
        "xb", "ab", [("replace", 0, 1, 0, 1)], 0.2)
    assert xb.gain > 10  # "ab" is far likelier than "xb" under this model
    assert (same.text, same.gain, same.spans, same.changed_confidence) == ("ab", 0.0, [], 1.0)
    assert (b.spans, b.changed_confidence) == ([("insert", 0, 0, 0, 1)], 0.3)


def test_score_ranks_texts_as_the_candidates_gain_says(ab: PostCorrector) -> None:
    """``score``: log P(text | line) per text, batched or not; the gain of a candidate is the
    difference of two scores; an ineligible line scores -inf."""
    xb = ab.candidates([LineInput("xb")])[0]
    ab_score, xb_score, long_score = ab.score(LineInput("xb"), ["ab", "xb", "abab"])
    assert ab_score == pytest.approx(xb.gain + xb_score, abs=1e-3)
    assert ab_score > xb_score and ab_score > long_score and ab_score <= 0
    small = PostCorrector(ab.dir, threads=1, batch_size=2)
    assert small.score(LineInput("xb"), ["ab", "xb", "abab"]) == pytest.approx(
        [ab_score, xb_score, long_score], abs=1e-4)
    assert ab.score(LineInput("  "), ["ab"]) == [float("-inf")]
    assert ab.score(LineInput("x" * 1000), ["ab", "b"]) == [float("-inf")] * 2
    assert ab.score(LineInput("xb"), []) == []


def test_thresholds_decide_what_is_suggested(ab_postcorrect_dir: Path) -> None:
    items = [LineInput("xb", "", [0.2, 0.9]), LineInput("ab"), LineInput("yb", "", [0.95, 0.9]),
             LineInput("zzz")]
    every = PostCorrector(ab_postcorrect_dir, threads=1, thresholds=ACCEPT_ALL).suggest(items)
    assert [c.text if c else None for c in every] == ["ab", None, "ab", "ab"]  # unchanged: None
    nothing = PostCorrector(ab_postcorrect_dir, threads=1, thresholds=ACCEPT_NONE)
    assert nothing.suggest(items) == [None] * 4
    doubtful = PostCorrector(ab_postcorrect_dir, threads=1,
                             thresholds={"gain": 0.0, "max_confidence": 0.5}).suggest(items)
    # "yb": the recognizer was sure of the y; "zzz": confidences unknown (1.0)
    assert [c.text if c else None for c in doubtful] == ["ab", None, None, None]


def test_max_edit_keeps_out_rewrites_of_most_of_the_line(ab_postcorrect_dir: Path) -> None:
    items = [LineInput("xb"), LineInput("abababx"), LineInput("zzz")]
    # "xb"->"ab": 1 edit / 2 chars; "abababx"->"ab": 5/7; "zzz"->"ab": 3/3
    got = PostCorrector(ab_postcorrect_dir, threads=1,
                        thresholds={**ACCEPT_ALL, "max_edit": 0.5}).suggest(items)
    assert [c.text if c else None for c in got] == ["ab", None, None]
    assert [round(c.edit_ratio, 3) for c in
            PostCorrector(ab_postcorrect_dir, threads=1).candidates(items)] == [0.5, 0.714, 1.0]


def test_order_is_kept_across_batches(ab_postcorrect_dir: Path) -> None:
    corrector = PostCorrector(ab_postcorrect_dir, threads=1, batch_size=2)
    texts = ["a" * n + "x" for n in (9, 1, 5, 0, 7, 3, 2)] + ["", "ab"]
    got = corrector.candidates([LineInput(t) for t in texts])
    assert [c.raw if c else None for c in got] == texts[:7] + [None, "ab"]
    assert all(c.text == "ab" for c in got if c is not None)


def test_bad_input_gives_none_never_a_crash(ab: PostCorrector,
                                            postcorrect_model_dir: Path) -> None:
    items = [LineInput(""), LineInput("   \t"), LineInput("x" * 1000),
             LineInput("é" * 161),  # 322 bytes: over max_line_bytes
             LineInput("漢字のテスト 😀🎉", "上の行"), LineInput("ok", "x" * 5000),
             LineInput("\x00\x01 control", ""), LineInput("ab", "", [0.1, 0.2, 0.3])]
    got = ab.candidates(items)
    assert got[:4] == [None] * 4
    assert got[4].text == "ab" and got[5].text == "ab" and got[6].text == "ab"
    assert got[7].changed_confidence == 1.0  # confidences that do not fit the text: unknown
    random = PostCorrector(postcorrect_model_dir, threads=1)  # an untrained model's output
    out = random.candidates(items)
    assert len(out) == len(items) and out[:4] == [None] * 4
    assert all(c is None or isinstance(c, Candidate) for c in out)
    assert random.candidates([]) == [] and random.suggest([]) == []


def test_changed_confidence_and_spans() -> None:
    assert edit_spans("abc", "abc") == []
    spans = edit_spans("Lc sousigné", "Le soussigné")
    conf = [0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.4, 0.9, 0.9, 0.9, 0.9]
    assert changed_confidence("Lc sousigné", spans, conf) == 0.1
    assert changed_confidence("Lc sousigné", edit_spans("Lc sousigné", "Lc soussigné"),
                              conf) == 0.4  # insertion: the characters either side
    assert changed_confidence("abc", edit_spans("abc", "abd"), None) == 1.0
    cand = Candidate("xbc", "abcd", 1.0, 0.2, edit_spans("xbc", "abcd"))
    assert realign_confidences([0.2, 0.8, 0.7], cand) == [0.2, 0.8, 0.7, 0.2]
    assert realign_confidences([0.5], cand) is None


# --- missing and corrupt models ----------------------------------------------------------------

def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        PostCorrector(tmp_path / "absent")
    corrector, note = load_postcorrector(tmp_path / "absent")
    assert corrector is None and "suggestions are off" in note and "does not exist" in note
    (tmp_path / "empty").mkdir()
    assert "card.json is missing" in load_postcorrector(tmp_path / "empty")[1]


def test_corrupt_models(ab_postcorrect_dir: Path, tmp_path: Path) -> None:
    folder = _copy(ab_postcorrect_dir, tmp_path)
    (folder / "encoder.onnx").write_bytes(b"\x08\x07 not a model")
    with pytest.raises(ModelError, match="encoder.onnx cannot be loaded"):
        PostCorrector(folder)
    assert load_postcorrector(folder)[0] is None
    shutil.rmtree(folder)

    folder = _copy(ab_postcorrect_dir, tmp_path)
    (folder / "weights.bin").write_bytes(b"\0" * 100)  # truncated weights
    corrector, note = load_postcorrector(folder)
    assert corrector is None and "cannot be loaded" in note
    shutil.rmtree(folder)

    folder = _copy(ab_postcorrect_dir, tmp_path)
    (folder / "decoder_step.onnx").unlink()
    with pytest.raises(ModelError, match="decoder_step.onnx is missing"):
        PostCorrector(folder)
    shutil.rmtree(folder)

    folder = _copy(ab_postcorrect_dir, tmp_path)
    (folder / "card.json").write_text('{"kind": "postcorrect", "tokenizer": {"type": "bpe"}}')
    with pytest.raises(ModelError, match="tokenizer"):
        PostCorrector(folder)
    (folder / "card.json").write_text("{broken")
    with pytest.raises(ModelError, match="not JSON"):
        PostCorrector(folder)


def test_mismatched_graphs_are_refused_at_load(ab_postcorrect_dir: Path,
                                              tmp_path: Path) -> None:
    """An encoder of another model (hidden size 16, not 32): every file loads, but the graphs
    do not fit together."""
    onnx = pytest.importorskip("onnx")
    transformers = pytest.importorskip("transformers")
    from training.postcorrect.export import export_postcorrector

    config = transformers.T5Config(vocab_size=260, d_model=16, d_kv=4, d_ff=16, num_layers=1,
                                   num_heads=4, pad_token_id=0, eos_token_id=1,
                                   decoder_start_token_id=0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(tmp_path / "hf16")
    other = export_postcorrector(tmp_path / "hf16", tmp_path / "pc16", cache=False)
    folder = _copy(ab_postcorrect_dir, tmp_path)
    onnx.save(onnx.load(str(other / "encoder.onnx")), str(folder / "encoder.onnx"))
    with pytest.raises(ModelError, match="failed to run"):
        PostCorrector(folder)
    assert load_postcorrector(folder)[0] is None


def test_a_recognition_model_is_not_a_postcorrector(model_dir: Path) -> None:
    with pytest.raises(ModelError, match="not a post-correction model"):
        PostCorrector(model_dir)


def test_identity_changes_with_the_weights(ab_postcorrect_dir: Path, tmp_path: Path) -> None:
    first = postcorrector_id(ab_postcorrect_dir)
    assert first.startswith("htrjand-postcorrect@")
    folder = _copy(ab_postcorrect_dir, tmp_path)
    assert postcorrector_id(folder) == first
    with open(folder / "weights.bin", "ab") as handle:
        handle.write(b"\0")
    assert postcorrector_id(folder) != first


# --- pages, the pipeline and the command line ------------------------------------------------

def _page() -> Page:
    lines = [Line("l1", [(0, 0), (9, 0), (9, 9)], text="xb", origin=Origin.MODEL,
                  char_confidences=[0.2, 0.9], confidence=0.55),
             Line("l2", [(0, 9), (9, 9), (9, 19)], text="Cher ami", origin=Origin.PERSON),
             Line("l3", [(0, 19), (9, 19), (9, 29)], text="ab", origin=Origin.MODEL),
             Line("l4", [(0, 29), (9, 29), (9, 39)], text="", origin=Origin.NONE)]
    return Page("p.png", 100, 100, [Region("r1", [(0, 0), (99, 0), (99, 99)], lines[:2]),
                                    Region("r2", [(0, 0), (99, 0), (99, 99)], lines[2:])])


def test_page_inputs_use_the_previous_line_as_context() -> None:
    pairs = page_inputs(_page())
    assert [(ln.id, item.text, item.context) for ln, item in pairs] == [
        ("l1", "xb", ""), ("l2", "Cher ami", "xb"), ("l3", "ab", "Cher ami"), ("l4", "", "ab")]
    assert pairs[0][1].char_confidences == [0.2, 0.9]


def test_apply_suggestions_keeps_the_model_text_and_spares_persons(ab: PostCorrector,
                                                                   tmp_path: Path) -> None:
    page = _page()
    assert apply_suggestions(page, ab) == 1
    l1, l2, l3, l4 = page.lines()
    assert (l1.text, l1.model_text, l1.origin) == ("ab", "xb", Origin.SUGGESTION)
    assert l1.char_confidences == [0.2, 0.9]
    assert (l2.text, l2.origin, l2.model_text) == ("Cher ami", Origin.PERSON, None)
    assert (l3.text, l3.origin, l3.model_text) == ("ab", Origin.MODEL, None)
    assert (l4.text, l4.origin) == ("", Origin.NONE)
    # PAGE-XML: the raw recognizer text is TextEquiv index 2, read back as model_text
    path = tmp_path / "p.xml"
    write_page_xml(page, path)
    data = path.read_bytes()
    assert b'index="2" comments="htrjand:model-output"' in data
    again = read_document(path).line_by_id("l1")
    assert (again.text, again.model_text, again.origin) == ("ab", "xb", Origin.SUGGESTION)


def test_pending_suggestion_is_text_equiv_index_1() -> None:
    page = _page()
    page.line_by_id("l1").suggestion = "ab"
    data = page_xml_bytes(page)
    assert b'index="1" comments="htrjand:suggestion"' in data


OLD_FILE = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
 <Metadata><Creator>HTR-JAND Studio 0.1</Creator><Created>2024-01-01T00:00:00</Created>
  <LastChange>2024-01-01T00:00:00</LastChange></Metadata>
 <Page imageFilename="p.png" imageWidth="100" imageHeight="100">
  <TextRegion id="r1"><Coords points="0,0 99,0 99,99"/>
   <TextLine id="l1"><Coords points="0,0 9,0 9,9"/>
    <TextEquiv index="0"><Unicode>Cher ami</Unicode></TextEquiv>
    <TextEquiv index="1" comments="htrjand:model-output"><Unicode>Chcr ami</Unicode></TextEquiv>
    <TextEquiv index="2" comments="htrjand:suggestion"><Unicode>Cher amie</Unicode></TextEquiv>
    <UserDefined><UserAttribute name="htrjand:origin" type="xsd:string" value="person"/>
    </UserDefined>
   </TextLine>
  </TextRegion>
 </Page>
</PcGts>
"""


def test_a_file_written_before_the_index_swap_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "old.xml"
    path.write_text(OLD_FILE, encoding="utf-8")
    line = read_document(path).line_by_id("l1")
    assert (line.text, line.model_text, line.suggestion, line.origin) == (
        "Cher ami", "Chcr ami", "Cher amie", Origin.PERSON)
    write_page_xml(read_document(path), path)  # rewritten with today's indexes
    data = path.read_bytes()
    assert b'index="2" comments="htrjand:model-output"' in data
    assert b'index="1" comments="htrjand:suggestion"' in data
    assert read_document(path).line_by_id("l1").model_text == "Chcr ami"


def test_suggestion_origin_reads_back() -> None:
    assert Origin("suggestion") is Origin.SUGGESTION


@pytest.fixture
def blank_page(tmp_path: Path, sample_image: Path, sample_xml: Path) -> Path:
    """The sample image with its lines (ground-truth geometry) but no text yet, as
    ``page/<stem>.xml``: what a project has after segmentation."""
    folder = tmp_path / "scans"
    (folder / "page").mkdir(parents=True)
    image = Path(shutil.copy(sample_image, folder / sample_image.name))
    page = read_document(sample_xml)
    for line in page.lines():
        line.text, line.origin = "", Origin.NONE
    page.image_filename = image.name
    write_page_xml(page, folder / "page" / f"{image.stem}.xml")
    return image


def test_re_recognition_replaces_machine_text_never_a_persons(blank_page: Path,
                                                              model_dir: Path) -> None:
    from engine.recognition import Recognizer

    xml = blank_page.parent / "page" / f"{blank_page.stem}.xml"
    page = read_document(xml)
    l1, l2, l3 = list(page.lines())[:3]
    l1.text, l1.origin, l1.suggestion = "written by hand", Origin.PERSON, "stale"
    l2.text, l2.origin, l2.model_text = "ab", Origin.SUGGESTION, "raw"
    l3.text, l3.origin, l3.suggestion = "old read", Origin.MODEL, "stale"
    Recognizer(model_dir, "cpu", threads=1).recognize_page(page, image=None)
    assert (l1.text, l1.origin, l1.suggestion) == ("written by hand", Origin.PERSON, "stale")
    assert (l2.origin, l2.model_text, l2.suggestion) == (Origin.MODEL, None, None)
    assert (l3.origin, l3.suggestion) == (Origin.MODEL, None)


def test_pipeline_applies_suggestions(blank_page: Path, model_dir: Path,
                                      ab_postcorrect_dir: Path, tmp_path: Path) -> None:
    from engine.pipeline import PagePipeline, PipelineOptions, write_result

    options = PipelineOptions(recognize=True, postcorrect=True, model_dir=model_dir,
                              postcorrect_dir=ab_postcorrect_dir, threads=1)
    pipeline = PagePipeline(options)
    result = write_result(pipeline.process(blank_page), tmp_path / "out")
    assert pipeline.postcorrector is pipeline.postcorrector  # loaded once
    assert set(result.timings) == {"load", "recognize", "postcorrect", "write"}
    page = read_document(result.xml_path)
    lines = list(page.lines())
    changed = [ln for ln in lines if ln.origin == Origin.SUGGESTION]
    assert changed and all(ln.text == "ab" and ln.model_text for ln in changed)
    assert all(ln.origin == Origin.MODEL for ln in lines if ln not in changed)
    assert page.metadata["postcorrect_applied"] == str(len(changed))
    assert b'comments="htrjand:model-output"' in result.xml
    assert (tmp_path / "out" / "txt" / f"{blank_page.stem}.txt").read_text().count("ab") >= \
        len(changed)


def test_pipeline_without_a_postcorrection_model(tmp_path: Path, model_dir: Path) -> None:
    from engine.pipeline import PagePipeline, PipelineOptions

    with pytest.raises(ModelError, match="does not exist"):
        PagePipeline(PipelineOptions(recognize=True, postcorrect=True, model_dir=model_dir,
                                     postcorrect_dir=tmp_path / "none"))


def test_cli_recognize_postcorrect(blank_page: Path, model_dir: Path, ab_postcorrect_dir: Path,
                                   tmp_path: Path, capsys) -> None:
    xml = blank_page.parent / "page" / f"{blank_page.stem}.xml"
    out = tmp_path / "out.xml"
    assert main(["recognize", str(xml), "-o", str(out), "--model", str(model_dir),
                 "--device", "cpu", "--postcorrect-model", str(ab_postcorrect_dir)]) == 0
    assert "post-correction suggestions applied" in capsys.readouterr().err
    changed = [ln for ln in read_document(out).lines() if ln.origin == Origin.SUGGESTION]
    assert changed and all(ln.text == "ab" and ln.model_text is not None for ln in changed)


def test_cli_recognize_postcorrect_without_a_model(blank_page: Path, model_dir: Path,
                                                   tmp_path: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.postcorrect import corrector

    xml = blank_page.parent / "page" / f"{blank_page.stem}.xml"
    before = xml.read_bytes()
    assert main(["recognize", str(xml), "--model", str(model_dir), "--postcorrect-model",
                 str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setattr(corrector, "default_postcorrect_dir", lambda: tmp_path / "bundled")
    assert main(["recognize", str(xml), "--model", str(model_dir), "--postcorrect"]) == 2
    assert "no post-correction model is installed" in capsys.readouterr().err
    assert xml.read_bytes() == before  # nothing recognised, nothing written


def test_batch_postcorrect_is_part_of_the_manifest_key(blank_page: Path, model_dir: Path,
                                                       ab_postcorrect_dir: Path,
                                                       tmp_path: Path) -> None:
    from engine.batch import BatchOptions, run_batch

    out = tmp_path / "out"
    options = BatchOptions(recognize=True, postcorrect=True, model=str(model_dir),
                           postcorrect_model=ab_postcorrect_dir, workers=1, processes=False)
    summary = run_batch([blank_page.parent], out, options)
    assert (summary.done, summary.failed) == (1, 0)
    assert "+htrjand-postcorrect@" in summary.model
    page = read_document(out / "page" / f"{blank_page.stem}.xml")
    assert any(ln.origin == Origin.SUGGESTION and ln.text == "ab" for ln in page.lines())
    assert run_batch([blank_page.parent], out, options).skipped == 1
    other = _copy(ab_postcorrect_dir, tmp_path)  # another post-corrector: pages are redone
    with open(other / "card.json", "a", encoding="utf-8") as handle:
        handle.write("\n")
    again = run_batch([blank_page.parent], out,
                      BatchOptions(recognize=True, postcorrect=True, model=str(model_dir),
                                   postcorrect_model=other, workers=1, processes=False))
    assert (again.done, again.skipped) == (1, 0)


def test_the_engine_runs_it_without_torch(ab_postcorrect_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from engine.postcorrect import LineInput, load_postcorrector; "
            f"c, note = load_postcorrector({str(ab_postcorrect_dir)!r}, threads=1); "
            "print(c.suggest([LineInput('xb')])[0].text, "
            "[m for m in ('torch', 'transformers', 'onnx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120, check=True)
    assert out.stdout.split() == ["ab", "[]"]


def test_a_corrector_tuned_silent_is_off_with_a_note(ab_postcorrect_dir: Path,
                                                     tmp_path: Path) -> None:
    """Tuning writes gain = NEVER_GAIN when no setting is safe for the recognizer: loading it
    then turns suggestions off with a note instead of running the model for nothing."""
    import json

    from engine.postcorrect.corrector import NEVER_GAIN, SILENT_NOTE

    folder = _copy(ab_postcorrect_dir, tmp_path)
    card = json.loads((folder / "card.json").read_text())
    card["thresholds"] = {**card["thresholds"], "gain": NEVER_GAIN}
    (folder / "card.json").write_text(json.dumps(card))
    corrector, note = load_postcorrector(folder)
    assert corrector is None and note == SILENT_NOTE
    direct = PostCorrector(folder)
    assert direct.silent and direct.suggest([LineInput("xb")]) == [None]
    assert not PostCorrector(ab_postcorrect_dir).silent
    assert PostCorrector(ab_postcorrect_dir).suggest([LineInput("xb")])[0].text == "ab"
