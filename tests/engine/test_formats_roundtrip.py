"""Round trips over every XML file of the real data: read -> write -> validate -> read.

The data lives in ``../shared/data`` (or ``$HTRJAND_SHARED_DATA``); without it these tests skip.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from engine.document import Page
from engine.formats import alto_bytes, read_document, write_alto, write_page_xml
from engine.formats.prepare import prepare_page
from engine.formats.validate import validate_xml

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
COLLECTIONS = ("hooker", "poilus/data/batch-1", "cremma-abrege", "kraken-sample")


def _files() -> list[Path]:
    found: list[Path] = []
    for sub in COLLECTIONS:
        folder = DATA / sub
        if folder.is_dir():
            found.extend(sorted(folder.glob("*.xml")))
    return found


FILES = _files()
PARAMS = [pytest.param(f, id=str(f.relative_to(DATA))) for f in FILES] or [
    pytest.param(None, id="no-data", marks=pytest.mark.skip(
        reason=f"real data not found at {DATA} (set HTRJAND_SHARED_DATA)"))
]
# ALTO export on a sample: every 6th file of every collection, both input formats.
ALTO_PARAMS = [p for i, p in enumerate(PARAMS) if i % 6 == 0]


def _read(path: Path) -> Page:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_document(path)


def _summary(page: Page) -> list:
    return [
        (r.id, r.region_type, r.polygon,
         [(ln.id, ln.polygon, ln.baseline, ln.text, ln.line_type, ln.origin, ln.confidence)
          for ln in r.lines])
        for r in page.regions
    ]


def test_data_present() -> None:
    if not FILES:
        pytest.skip(f"real data not found at {DATA} (set HTRJAND_SHARED_DATA)")
    assert len(FILES) == 480


@pytest.mark.parametrize("path", PARAMS)
def test_page_xml_round_trip(path: Path, tmp_path: Path, page_xsd: Path) -> None:
    original = _read(path)
    assert original.source_path == path
    assert len(list(original.lines())) == path.read_bytes().count(b"<TextLine")
    assert "warnings" not in original.metadata
    out = write_page_xml(original, tmp_path / "page.xml")
    errors = validate_xml(out.read_bytes(), page_xsd)
    assert errors == [], errors[:5]
    again = _read(out)
    expected = prepare_page(original).page
    assert _summary(again) == _summary(expected)
    assert (again.width, again.height, again.image_filename) == (
        original.width, original.height, original.image_filename)
    assert again.metadata.get("created") == original.metadata.get("created") or \
        "created" not in original.metadata
    # writing again gives the same document apart from the LastChange stamp
    again_out = write_page_xml(again, tmp_path / "again.xml")
    assert _summary(_read(again_out)) == _summary(again)


@pytest.mark.parametrize("path", ALTO_PARAMS)
def test_alto_round_trip(path: Path, tmp_path: Path, alto_xsd: Path) -> None:
    original = _read(path)
    data = alto_bytes(original)
    errors = validate_xml(data, alto_xsd)
    assert errors == [], errors[:5]
    again = _read(write_alto(original, tmp_path / "alto.xml"))
    expected = prepare_page(original).page
    assert _summary(again) == _summary(expected)
    assert (again.width, again.height, again.image_filename) == (
        original.width, original.height, original.image_filename)
