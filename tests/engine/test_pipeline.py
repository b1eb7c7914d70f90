"""The page pipeline: one real page in, PAGE-XML and TXT out, stage timings, bad input.

Pages: the bundled Poilus sample (CC-BY 4.0, see resources/samples/poilus/README.md)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine.errors import FormatError, ImageError, ModelError, StorageError
from engine.formats import page_text, read_document
from engine.pipeline import (PagePipeline, PipelineOptions, model_id, output_paths,
                             resolve_model, write_result)



@pytest.fixture
def bare_page(tmp_path: Path, sample_image: Path) -> Path:
    """The sample image alone in a folder: no document yet."""
    folder = tmp_path / "scans"
    folder.mkdir()
    return Path(shutil.copy(sample_image, folder / sample_image.name))


@pytest.fixture
def transcribed_page(bare_page: Path, sample_xml: Path) -> Path:
    """The sample image with its ground truth beside it."""
    shutil.copy(sample_xml, bare_page.with_suffix(".xml"))
    return bare_page


def test_existing_document_is_kept_and_written(transcribed_page: Path, sample_xml: Path,
                                               tmp_path: Path) -> None:
    result = PagePipeline().run(transcribed_page, tmp_path / "out")
    truth = read_document(sample_xml)
    xml_path, txt_path = output_paths(tmp_path / "out", transcribed_page.stem)
    assert (result.xml_path, result.txt_path) == (xml_path, txt_path)
    written = read_document(xml_path)
    assert written.image_filename == transcribed_page.name
    assert [ln.text for ln in written.lines()] == [ln.text for ln in truth.lines()]
    assert txt_path.read_text(encoding="utf-8") == page_text(truth) + "\n"
    assert set(result.timings) == {"load", "write"}
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]


def test_segment_only_pages_without_lines(bare_page: Path, transcribed_page: Path) -> None:
    pipeline = PagePipeline(PipelineOptions(segment=True))
    kept = pipeline.process(transcribed_page)
    assert kept.lines == sum(1 for _ in read_document(transcribed_page.with_suffix(".xml"))
                             .lines())
    transcribed_page.with_suffix(".xml").unlink()
    segmented = pipeline.process(bare_page)
    assert segmented.lines > 5
    assert set(segmented.timings) == {"load", "segment"}
    assert b"TextLine" in segmented.xml


def test_recognize_fills_text_with_one_loaded_model(bare_page: Path, model_dir: Path) -> None:
    pipeline = PagePipeline(PipelineOptions(segment=True, recognize=True, model_dir=model_dir,
                                            threads=1))
    first = pipeline.process(bare_page)
    loaded = pipeline.recognizer
    second = pipeline.process(bare_page)
    assert pipeline.recognizer is loaded  # the model is loaded once, not per page
    assert _undated(first.xml) == _undated(second.xml)
    assert first.timings["recognize"] > 0 and first.lines > 5
    page = read_document(_write(first, bare_page.parent.parent / "out"))
    assert all(ln.origin.value == "model" for ln in page.lines())
    assert loaded.model.session.get_session_options().intra_op_num_threads == 1
    greedy = PagePipeline(PipelineOptions(recognize=True, model_dir=model_dir, threads=1, beam=1))
    assert greedy.recognizer.beam == 1


def test_beam_option_is_checked_and_keyed() -> None:
    """An explicit beam joins the manifest key (its output differs); the default leaves the key
    as it was (the model's decoding is part of the model's own identity)."""
    assert "beam" not in PipelineOptions(recognize=True).key()
    assert PipelineOptions(recognize=True, beam=1).key()["beam"] == 1
    with pytest.raises(ValueError, match="beam"):
        PipelineOptions(recognize=True, beam=0).check()


def _undated(xml: bytes) -> bytes:
    """PAGE-XML without its Created/LastChange timestamps."""
    return re.sub(rb"<(Created|LastChange)>[^<]*</\1>", b"", xml)


def _write(result, out: Path) -> Path:
    return write_result(result, out).xml_path


def test_postcorrect_without_its_model_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="post-correction model folder .* does not exist"):
        PagePipeline(PipelineOptions(postcorrect=True, postcorrect_dir=tmp_path / "none"))


def test_bad_pages(tmp_path: Path, bare_page: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError):
        PagePipeline(PipelineOptions(segment=True)).process(corrupt)
    bare_page.with_suffix(".xml").write_text("<PcGts><broken", encoding="utf-8")
    with pytest.raises(FormatError):
        PagePipeline().process(bare_page)


def test_unwritable_output_raises_storage_error(bare_page: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    result = PagePipeline().process(bare_page)
    with pytest.raises(StorageError):
        write_result(result, blocker)
    assert blocker.read_text() == "a file where the output folder should be"


def test_model_resolution_and_id(model_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(model_dir) == model_dir.resolve()
    with pytest.raises(ModelError, match="no model folder or registered model named"):
        resolve_model("no-such-model")
    copy = Path(shutil.copytree(model_dir, tmp_path / "copy"))
    assert model_id(copy) == model_id(model_dir)
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    assert model_id(copy) != model_id(model_dir)
    (copy / "model.onnx").unlink()
    with pytest.raises(ModelError, match="model.onnx is missing"):
        resolve_model(copy)
