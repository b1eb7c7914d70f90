"""benchmarks/recognition.py's line cutting: each collection's split list is read a page name
a line (page names may hold spaces) and ``max_lines`` spreads the lines evenly; its child runs;
and benchmarks/lm_load.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from benchmark_modules import load_benchmark
from engine.errors import HtrError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "kraken-sample"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="no ../shared/data/kraken-sample")
def test_split_lists_with_spaces_in_page_names(tmp_path: Path) -> None:
    bench = load_benchmark("recognition")
    xml = next(SAMPLE.glob("*.xml"))
    for coll in bench.COLLECTIONS:
        folder = tmp_path / coll
        folder.mkdir()
        shutil.copy(xml.with_suffix(".jpg"), folder)  # (the XML names its image)
        shutil.copy(xml, folder / "a page (1).xml")
        (folder / "split_train.txt").write_text("a page (1).xml\n\n")
    cut = bench.cut_val_lines(tmp_path, 48, None, split="train")
    n = len(cut["images"]) // len(bench.COLLECTIONS)
    assert n > 10 and cut["collections"] == [c for c in bench.COLLECTIONS for _ in range(n)]
    assert all(im.shape[0] == 48 for im in cut["images"]) and all(cut["texts"])
    assert set(cut["pages"]) == {f"{c}/a page (1).xml" for c in bench.COLLECTIONS}
    few = bench.cut_val_lines(tmp_path, 48, 5, split="train")
    assert len(few["images"]) == 5 and few["texts"][0] == cut["texts"][0]
    assert few["texts"][-1] == cut["texts"][-1]
    with pytest.raises(HtrError, match="no split list"):
        bench.cut_val_lines(tmp_path, 48, None)  # no val lists here


def test_child_runs_read_the_same_at_any_pixel_budget(tmp_path: Path, toy_model_dir: Path) -> None:
    """``run_child`` (each reading in a process of its own, what benchmarks/batching.py
    compares) hands the budget to the Recognizer: the readings are those of the default."""
    import numpy as np

    bench = load_benchmark("recognition")
    rng = np.random.default_rng(0)
    lines = {"images": [rng.integers(0, 256, (64, w), dtype=np.uint8) for w in (100, 260, 90)],
             "pages": ["a", "a", "b"]}
    path = tmp_path / "lines.npz"
    bench.save_lines(lines, path)
    default = bench.run_child("onnxruntime", toy_model_dir, path, 1, 1)
    narrow = bench.run_child("onnxruntime", toy_model_dir, path, 1, 1, batch_pixels=64 * 100)
    assert default is not None and narrow is not None and len(default["texts"]) == 3
    assert narrow["texts"] == default["texts"] and narrow["peak_rss_mb"] > 0
    assert bench.run_child("onnxruntime", tmp_path / "no model", path, 1, 1) is None


def test_lm_load_benchmark_names_each_file_and_its_form(tmp_path: Path, capsys) -> None:
    """benchmarks/lm_load.py loads every LM file of a folder (either compressed form of a
    character LM, a word LM, ``lm.json``), tells which form each is stored in, and adapts
    each character LM when asked."""
    from engine.recognition.lm import CharNgramLM
    from engine.recognition.word_lm import WordBigramLM
    from tests.engine.test_recognition import _lines_form

    bench = load_benchmark("lm_load")
    lm = CharNgramLM.train(["abc cab bca", "a bad cab"], list("abcd "), order=3)
    (tmp_path / "lm.json").write_text(lm.to_json())
    (tmp_path / "lm-x.json.gz").write_bytes(lm.to_bytes(compress=True))
    (tmp_path / "lm-old.json.gz").write_bytes(_lines_form(lm))
    (tmp_path / "lm-x-words.json.gz").write_bytes(WordBigramLM.train(["a bad cab"]).to_bytes())
    assert bench.main(["--model", str(tmp_path), "--repeat", "1", "--rewrite", "--adapt", "2"]) == 0
    out = capsys.readouterr().out
    forms = {line.split()[0]: line.split()[1] for line in out.splitlines()
             if not line.startswith("  ")}  # (the rewritten and adapted lines are indented)
    assert forms == {"lm.json": "json", "lm-x.json.gz": "htrjand-char-lm-columns/1",
                     "lm-old.json.gz": "htrjand-char-lm-lines/1",
                     "lm-x-words.json.gz": "htrjand-word-bigram/1"}
    assert out.count("rewritten") == 2 and out.count("adapted to 2 lines") == 3
    assert re.search(r"rewritten lm-old\.json\.gz +htrjand-char-lm-columns/1", out)
    row = bench.measure(tmp_path / "lm-x.json.gz", 2)
    assert len(row["cpu_s"]) == 2 and row["held_mb"] > 0 and row["peak_mb"] >= row["held_mb"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bench.main(["--model", str(empty)]) == 1
