"""The ``htrjand`` command line: help, version, info, export, lines and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from engine import __version__
from engine.formats import read_document


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("info", "export", "lines"):
        assert name in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert "usage" in capsys.readouterr().out


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_info_sample(sample_xml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(sample_xml)]) == 0
    data = json.loads(capsys.readouterr().out)
    page = read_document(sample_xml)
    assert data["pages"] == 1
    assert data["lines"] == len(list(page.lines())) > 5
    assert data["chars"] == sum(len(ln.text) for ln in page.lines()) > 100


def test_info_missing_file_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nope.xml")]) == 2
    err = capsys.readouterr().err
    assert "nope.xml" in err and "Traceback" not in err


def test_info_not_xml_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"\x89PNG not xml at all")
    assert main(["info", str(bad)]) == 2
    assert "bad.xml" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["page", "alto", "txt"])
def test_export_formats(sample_xml: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    assert main(["export", str(sample_xml), "--format", fmt, "-o", str(out)]) == 0
    original = read_document(sample_xml)
    if fmt == "txt":
        text = out.read_text(encoding="utf-8")
        assert text.strip() == original.text().strip()
    else:
        again = read_document(out)
        assert [ln.text for ln in again.lines()] == [ln.text for ln in original.lines()]


def test_export_several_into_folder(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((shared_data / "hooker").glob("*.xml"))[:2]
    assert main(["export", *map(str, files), "--format", "txt", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == sorted(f.stem + ".txt" for f in files)


def test_export_refuses_to_overwrite_input(sample_xml: Path, tmp_path: Path) -> None:
    copy = tmp_path / "a.xml"
    copy.write_bytes(sample_xml.read_bytes())
    assert main(["export", str(copy), "--format", "page", "-o", str(copy)]) == 2
    assert copy.read_bytes() == sample_xml.read_bytes()


def test_lines_dataset(sample_xml: Path, tmp_path: Path) -> None:
    import cv2

    # The sample's ground truth lives in ground-truth/, the image one folder up.
    assert main(["lines", str(sample_xml), "--out", str(tmp_path), "--height", "48"]) == 0
    pngs = sorted(tmp_path.glob("*.png"))
    texts = sorted(tmp_path.glob("*.gt.txt"))
    page = read_document(sample_xml)
    assert len(pngs) == len(texts) == sum(1 for ln in page.lines() if ln.text)
    img = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 2 and img.shape[0] == 48 and img.shape[1] > 48
    first = texts[0].read_text(encoding="utf-8").rstrip("\n")
    assert first in {ln.text for ln in page.lines()}


def test_lines_missing_image_is_reported(sample_xml: Path, tmp_path: Path, capsys) -> None:
    lonely = tmp_path / "in" / "page.xml"
    lonely.parent.mkdir()
    lonely.write_bytes(sample_xml.read_bytes())
    assert main(["lines", str(lonely), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
