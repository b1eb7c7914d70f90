"""The user's model store: new versions never overwrite, staging vanishes on failure, the active
model, removal, .zip export/import with validation (no path traversal), read-only/full store."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from engine import model_store
from engine.errors import HtrError, ModelError, StorageError


@pytest.fixture
def bundled(tmp_path: Path, toy_model_dir: Path, monkeypatch) -> Path:
    """A bundled-models folder holding the toy model as 'htrjand-student'."""
    from engine import models

    folder = tmp_path / "bundled"
    shutil.copytree(toy_model_dir, folder / "htrjand-student")
    monkeypatch.setattr(models, "bundled_models_dir", lambda: folder)
    return folder


def _stage_copy(src: Path) -> Path:
    with model_store.staging() as staged:
        for f in src.iterdir():
            shutil.copy(f, staged / f.name)
        return model_store.commit(staged, "mine")


def test_versions_get_new_names_and_staging_never_lingers(store, bundled) -> None:
    src = bundled / "htrjand-student"
    first, second = _stage_copy(src), _stage_copy(src)
    assert (first.name, second.name) == ("mine", "mine-2")
    assert json.loads((second / "card.json").read_text())["name"] == "mine-2"
    with pytest.raises(RuntimeError):
        with model_store.staging() as staged:
            (staged / "model.onnx").write_bytes(b"half")
            raise RuntimeError("cancelled midway")
    assert sorted(p.name for p in store.iterdir()) == ["mine", "mine-2"]
    assert model_store.unique_name("htrjand-student") == "htrjand-student-2"  # bundled taken
    with pytest.raises(ModelError, match="model.onnx is missing"):
        with model_store.staging() as staged:
            (staged / "card.json").write_text("{}")
            model_store.commit(staged, "broken")


def test_use_switches_the_default_and_back(store, bundled) -> None:
    from engine.models import default_model_dir

    version = _stage_copy(bundled / "htrjand-student")
    assert default_model_dir() == bundled / "htrjand-student"
    assert model_store.set_active("mine") == version
    assert default_model_dir() == version
    model_store.set_active(None)
    assert default_model_dir() == bundled / "htrjand-student"
    model_store.set_active("mine")
    model_store.remove("mine")  # removing the active model falls back to the default
    assert not version.exists() and default_model_dir() == bundled / "htrjand-student"
    with pytest.raises(ModelError, match="only fine-tuned versions"):
        model_store.remove("htrjand-student")
    with pytest.raises(ModelError, match="No model named"):
        model_store.set_active("nothing-like-it")
    assert (bundled / "htrjand-student" / "model.onnx").is_file()


def test_zip_round_trip(store, bundled, tmp_path) -> None:
    _stage_copy(bundled / "htrjand-student")
    archive = model_store.export_zip("mine", tmp_path)
    assert archive.name == "mine.zip"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["mine/card.json", "mine/card.md", "mine/model.onnx"]
    imported = model_store.import_zip(archive)
    assert imported.name == "mine-2" and (imported / "model.onnx").is_file()
    named = model_store.import_zip(archive, "from-colleague")
    assert named.name == "from-colleague"


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("members, symlink, message", [
    ({"../evil/model.onnx": b"x", "card.json": b"{}"}, None, "unsafe path"),
    ({"/abs/model.onnx": b"x", "card.json": b"{}"}, None, "unsafe path"),
    ({"m/model.onnx": b"x", "m/card.json": b"{}", "m/run.sh": b"rm -rf"}, None, "unexpected"),
    ({"a/model.onnx": b"x", "b/card.json": b"{}"}, None, "several models"),
    ({"m/a/model.onnx": b"x", "m/card.json": b"{}"}, None, "unexpected"),
    ({"m/card.json": b"{}"}, None, "model.onnx missing"),
    ({"m/model.onnx": b"x"}, "m/card.json", "symbolic link"),
])
def test_import_refuses_unsafe_or_foreign_zips(store, bundled, tmp_path, members, symlink,
                                               message) -> None:
    archive = _zip(tmp_path / "bad.zip", members, symlink)
    with pytest.raises(ModelError, match=message):
        model_store.import_zip(archive)
    assert not (tmp_path / "evil").exists()
    assert not store.exists() or [p for p in store.iterdir() if not p.name.startswith(".")] == []
    assert not store.exists() or not list(store.glob(".staging-*"))


def test_import_checks_card_and_onnx(store, bundled, tmp_path) -> None:
    card = (bundled / "htrjand-student" / "card.json").read_bytes()
    with pytest.raises(ModelError, match="charset"):
        model_store.import_zip(_zip(tmp_path / "a.zip", {"model.onnx": b"x",
                                                         "card.json": b'{"charset": []}'}))
    with pytest.raises(ModelError, match="cannot be loaded"):
        model_store.import_zip(_zip(tmp_path / "b.zip", {"model.onnx": b"not onnx",
                                                         "card.json": card}))
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable .zip"):
        model_store.import_zip(tmp_path / "c.zip")
    assert [p for p in store.iterdir() if not p.name.startswith(".")] == []


def test_read_only_or_full_store_is_a_clear_error(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HTRJAND_USER_MODELS", str(blocker / "models"))
    with pytest.raises(StorageError, match="not writable"):
        model_store.ensure_writable()
    monkeypatch.setenv("HTRJAND_USER_MODELS", str(tmp_path / "store"))
    monkeypatch.setattr(model_store.shutil, "disk_usage",
                        lambda _p: shutil._ntuple_diskusage(10, 10, 1024))
    with pytest.raises(StorageError, match="full"):
        model_store.ensure_writable()


def test_training_lock_is_exclusive_and_stale_locks_are_taken(store) -> None:
    with model_store.training_lock():
        (store / model_store.LOCK_FILE).write_text(str(os.getppid()))  # as if another process
        with pytest.raises(HtrError, match="already running"):
            with model_store.training_lock():
                pass
        (store / model_store.LOCK_FILE).write_text(str(os.getpid()))
    (store / model_store.LOCK_FILE).write_text("999999999")
    with model_store.training_lock():
        assert (store / model_store.LOCK_FILE).read_text() == str(os.getpid())
    assert not (store / model_store.LOCK_FILE).exists()
    stale = store / ".staging-999999999-abc"
    stale.mkdir()
    assert model_store.clean_stale_staging() == 1 and not stale.exists()


def test_finetune_lines_text_says_what_a_version_learnt_from() -> None:
    from engine.model_store import card_summary, finetune_lines_text

    plain = {"lines_used": 24, "train_lines": 14, "held_back_lines": 10}
    assert finetune_lines_text(plain) == "24 corrected lines (14 trained on, 10 held back)"
    read = {**plain, "lines_used": 4, "reading_lines": 25, "train_lines": 19,
            "held_back_of": "readings"}
    text = finetune_lines_text(read)
    assert text.startswith("4 corrected and 25 read lines (19 trained on, 10 read ones held")
    assert "agreement" in text
    assert "4 + 25 read lines" in card_summary({"finetune": {**read, "parent": {"name": "p"}}})
