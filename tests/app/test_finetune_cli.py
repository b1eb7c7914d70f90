"""``htrjand finetune`` and ``htrjand models``: progress and a before/after table, a new version,
list/show/use/export/import/remove, clear messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from app.cli import main  # noqa: E402
from finetune_fixtures import line_texts, make_project, make_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny-base")


def test_finetune_prints_progress_and_table_then_models_commands(tmp_path, store, base_dir,
                                                                  capsys) -> None:
    project = make_project(tmp_path / "letters", line_texts(22))
    code = main(["finetune", str(project), "--minutes", "0.03", "--name", "hand one",
                 "--base", str(base_dir), "--threads", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "held-back CER" in err and "[" in err  # the progress bar
    assert "before" in out and "after" in out and "CER" in out
    assert "new model version: hand-one" in out and "htrjand models use hand-one" in out
    card = json.loads((store / "hand-one" / "card.json").read_text())
    alpha = card["finetune"]["interpolate"]  # the WiSE-FT share actually used
    assert 0 < alpha <= 1 and (alpha == 1 or f"weights {alpha:.0%} fine-tuned" in out)

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "hand-one" in out and "user" in out and "22 lines" in out
    assert main(["models", "show", "hand-one"]) == 0
    out = capsys.readouterr().out
    assert "parent: tiny-base" in out and "held-back CER" in out
    assert main(["models", "show", "hand-one", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["finetune"]["lines_used"] == 22

    assert main(["models", "use", "hand-one"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows if r["active"]] == ["hand-one"]
    assert main(["models", "use", "--default"]) == 0

    archive = tmp_path / "share.zip"
    assert main(["models", "export", "hand-one", str(archive)]) == 0 and archive.is_file()
    assert main(["models", "import", str(archive), "--name", "colleague"]) == 0
    assert "imported as colleague" in capsys.readouterr().out
    assert main(["models", "remove", "colleague"]) == 0
    assert not (store / "colleague").exists() and (store / "hand-one").is_dir()


def test_bad_input_gives_messages_not_tracebacks(tmp_path, store, base_dir, capsys) -> None:
    few = make_project(tmp_path / "few", line_texts(3))
    assert main(["finetune", str(few), "--minutes", "0.03", "--name", "x",
                 "--base", str(base_dir)]) == 2
    assert "3 corrected line(s) found" in capsys.readouterr().err
    assert main(["finetune", str(tmp_path / "missing"), "--name", "x",
                 "--base", str(base_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["finetune", str(few), "--name", "x", "--base", "no-such-model"]) == 2
    assert "No model named" in capsys.readouterr().err
    no_pt = tmp_path / "onnx-only"
    no_pt.mkdir()
    for name in ("model.onnx", "card.json"):
        (no_pt / name).write_bytes((base_dir / name).read_bytes())
    assert main(["finetune", str(few), "--name", "x", "--base", str(no_pt)]) == 2
    assert "no model.pt" in capsys.readouterr().err
    assert main(["models", "remove", "nothing"]) == 2
    bad_zip = tmp_path / "bad.zip"
    bad_zip.write_bytes(b"PK nonsense")
    assert main(["models", "import", str(bad_zip)]) == 2
    assert "not a readable .zip" in capsys.readouterr().err
