"""Writers: strict, valid PAGE-XML 2019 / ALTO v4, our extra fields round-trip, atomic files,
TXT export and format dispatch."""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

import engine
from engine.document import Line, Origin, Page, Region
from engine.errors import FormatError, StorageError
from engine.formats import (
    FORMATS,
    FormatWarning,
    alto_bytes,
    page_text,
    page_xml_bytes,
    read_document,
    write_alto,
    write_document,
    write_page_xml,
    write_txt,
)
from engine.formats.validate import validate_xml

NS = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
NOW = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


def box(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def sample_page() -> Page:
    l1 = Line("l1", box(10, 10, 300, 50), [(10, 45), (300, 45)], "Cher ami,", confidence=0.83,
              char_confidences=[0.9, 0.5, 1.0, 0.25, 0.125, 0.7, 0.6, 0.5, 0.99],
              origin=Origin.PERSON, line_type="DefaultLine", suggestion="Cher amy,",
              model_text="Chor ami", custom="readingOrder {index:0;} foo {bar:1;}")
    l2 = Line("l2", box(10, 60, 300, 100), [(10, 95), (300, 95)], "je t’écris", confidence=0.5,
              origin=Origin.MODEL, line_type="InterlinearLine")
    l3 = Line("l3", box(10, 110, 300, 150), [(10, 145), (300, 145)], "")
    r1 = Region("r1", box(0, 0, 320, 160), [l1, l2, l3], region_type="MainZone")
    r2 = Region("r2", box(400, 0, 500, 100), [
        Line("m1", box(400, 10, 490, 40), [(400, 35), (490, 35)], "note", origin=Origin.NONE)],
        region_type="marginalia")
    return Page("img.jpg", 600, 400, [r1, r2],
                metadata={"created": "2021-02-03T04:05:06Z", "model": "student-v1"})


def read_bytes(tmp_path: Path, data: bytes, name: str = "x.xml") -> Page:
    path = tmp_path / name
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_document(path)


def assert_valid(data: bytes, xsd: Path) -> None:
    errors = validate_xml(data, xsd)
    assert errors == [], errors[:5]


# --- PAGE-XML -----------------------------------------------------------------------------

def test_extra_fields_round_trip(tmp_path: Path, page_xsd: Path) -> None:
    page = sample_page()
    data = page_xml_bytes(page, now=NOW)
    assert_valid(data, page_xsd)
    again = read_bytes(tmp_path, data)
    for a, b in zip(page.lines(), again.lines(), strict=True):
        for field in ("id", "polygon", "baseline", "text", "confidence", "char_confidences",
                      "origin", "line_type", "suggestion", "model_text"):
            assert getattr(b, field) == getattr(a, field), (a.id, field)
    assert again.regions[0].lines[0].custom == "readingOrder {index:0;} foo {bar:1;} structure {type:DefaultLine;}"
    assert [r.region_type for r in again.regions] == ["MainZone", "marginalia"]
    assert again.metadata["model"] == "student-v1"
    assert again.metadata["created"] == "2021-02-03T04:05:06Z"
    assert again.metadata["last_change"] == "2024-05-06T07:08:09.123Z"


def test_page_xml_layout(page_xsd: Path) -> None:
    root = etree.fromstring(page_xml_bytes(sample_page(), now=NOW))
    assert root.findtext("p:Metadata/p:Creator", namespaces=NS) == \
        f"HTR-JAND Studio {engine.__version__}"
    page_el = root.find("p:Page", NS)
    assert [etree.QName(c).localname for c in page_el] == ["ReadingOrder", "TextRegion", "TextRegion"]
    refs = page_el.findall("p:ReadingOrder/p:OrderedGroup/p:RegionRefIndexed", NS)
    assert [(r.get("index"), r.get("regionRef")) for r in refs] == [("0", "r1"), ("1", "r2")]
    regions = page_el.findall("p:TextRegion", NS)
    assert regions[0].get("type") is None and regions[1].get("type") == "marginalia"
    l1 = regions[0].find("p:TextLine", NS)
    assert [etree.QName(c).localname for c in l1] == [
        "Coords", "Baseline", "TextEquiv", "TextEquiv", "TextEquiv", "UserDefined"]
    main, sugg, model = l1.findall("p:TextEquiv", NS)
    assert (main.get("index"), main.get("conf"), main.findtext("p:Unicode", namespaces=NS)) == (
        "0", "0.83", "Cher ami,")
    assert (sugg.get("index"), sugg.get("comments")) == ("1", "htrjand:suggestion")
    assert (model.get("index"), model.get("comments")) == ("2", "htrjand:model-output")
    attrs = {ua.get("name"): ua.get("value") for ua in l1.iter(f"{{{NS['p']}}}UserAttribute")}
    assert attrs["htrjand:origin"] == "person"
    assert attrs["htrjand:char-confidences"].split()[:2] == ["0.9", "0.5"]


def test_geometry_is_clamped_and_rounded(tmp_path: Path, page_xsd: Path) -> None:
    line = Line("l", [(-5, 10.6), (700.2, 10), (700, 500), (-1, 450)], [(-3, 30), (650, 31.4)], "x")
    page = Page("i.png", 600, 400, [Region("r", [(-10, -10), (610, 0), (610, 410)], [line])])
    data = page_xml_bytes(page)
    assert_valid(data, page_xsd)
    again = read_bytes(tmp_path, data)
    ln = again.regions[0].lines[0]
    assert ln.polygon == [(0, 11), (599, 10), (599, 399), (0, 399)]
    assert ln.baseline == [(0, 30), (599, 31)]
    assert again.regions[0].polygon == [(0, 0), (599, 0), (599, 399)]
    assert page.regions[0].lines[0].polygon[0] == (-5, 10.6)  # the caller's page is untouched


def test_degenerate_shapes_repaired_or_dropped(tmp_path: Path, page_xsd: Path) -> None:
    normal = Line("ok", box(10, 100, 200, 140), [(10, 130), (200, 130)], "ok")
    no_poly = Line("band", [(5, 5), (6, 6)], [(10, 230), (200, 232)], "band")
    one_pt_baseline = Line("nobase", box(10, 300, 200, 340), [(50, 50)], "nb")
    nothing = Line("gone", [(1, 1), (1, 1), (1, 1)], [(3, 3)], "lost text")
    regions = [Region("r", [], [normal, no_poly, one_pt_baseline, nothing]),
               Region("empty", [(0, 0), (5, 5)], [])]
    page = Page("i.png", 600, 400, regions)
    with pytest.warns(FormatWarning) as record:
        data = page_xml_bytes(page)
    messages = " ".join(str(w.message) for w in record)
    assert "'gone'" in messages and "'empty'" in messages and "'band'" in messages
    assert_valid(data, page_xsd)
    again = read_bytes(tmp_path, data)
    assert [r.id for r in again.regions] == ["r"]
    lines = {ln.id: ln for ln in again.lines()}
    assert list(lines) == ["ok", "band", "nobase"]
    band = lines["band"]
    ys = [p[1] for p in band.polygon]
    assert min(ys) < 230 and max(ys) > 232 and len(band.polygon) == 4  # around the baseline
    assert lines["nobase"].baseline == []
    assert again.regions[0].polygon == [(10, 100), (200, 100), (200, 340), (10, 340)]


def test_ids_made_valid_and_unique(tmp_path: Path, page_xsd: Path) -> None:
    lines = [Line(i, box(10, 10 + 40 * n, 100, 40 + 40 * n), [], str(n))
             for n, i in enumerate(["keep", "1abc", "a b", "", "keep", "r", "é"])]
    page = Page("i.png", 600, 400, [Region("r", box(0, 0, 200, 300), lines)])
    with pytest.warns(FormatWarning, match="not a valid unique XML id"):
        data = page_xml_bytes(page)
    assert_valid(data, page_xsd)
    ids = [ln.id for ln in read_bytes(tmp_path, data).lines()]
    assert ids[0] == "keep" and len(set(ids + ["r"])) == 8
    assert [ln.id for ln in page.lines()][1] == "1abc"  # the caller's page is untouched


def test_created_replaced_when_invalid_and_creator_kept(tmp_path: Path, page_xsd: Path) -> None:
    page = sample_page()
    page.metadata.update({"created": "yesterday", "creator": "Transkribus", "warnings": "w",
                          "format": "page"})
    data = page_xml_bytes(page, now=NOW)
    assert_valid(data, page_xsd)
    root = etree.fromstring(data)
    assert root.findtext("p:Metadata/p:Created", namespaces=NS) == "2024-05-06T07:08:09.123Z"
    names = [i.get("name") for i in root.iterfind("p:Metadata/p:MetadataItem", NS)]
    assert sorted(names) == ["creator", "model"]
    assert read_bytes(tmp_path, data).metadata["creator"] == "Transkribus"


def test_custom_follows_line_type_and_order(tmp_path: Path) -> None:
    page = sample_page()
    region = page.regions[0]
    region.lines[0].line_type = None
    region.lines.reverse()
    again = read_bytes(tmp_path, page_xml_bytes(page))
    first_region = again.regions[0]
    assert [ln.id for ln in first_region.lines] == ["l3", "l2", "l1"]
    assert first_region.lines[2].custom == "readingOrder {index:2;} foo {bar:1;}"
    assert first_region.lines[2].line_type is None


def test_text_control_characters_and_empty_page(tmp_path: Path, page_xsd: Path) -> None:
    page = Page("i.png", 100, 100, [Region("r", box(0, 0, 50, 50), [
        Line("l", box(1, 1, 40, 20), [], "a\x00b\x0bc<&>")])])
    data = page_xml_bytes(page)
    assert_valid(data, page_xsd)
    assert read_bytes(tmp_path, data).regions[0].lines[0].text == "abc<&>"
    assert_valid(page_xml_bytes(Page("i.png", 10, 10)), page_xsd)


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (10.5, 10)])
def test_invalid_size_refused(size: tuple) -> None:
    with pytest.raises(FormatError, match="image size"):
        page_xml_bytes(Page("i.png", size[0], size[1]))


# --- ALTO -----------------------------------------------------------------------------------

def test_alto_writer_round_trip(tmp_path: Path, alto_xsd: Path) -> None:
    page = sample_page()
    data = alto_bytes(page)
    assert_valid(data, alto_xsd)
    again = read_document(write_alto(page, tmp_path / "a.xml"))
    for a, b in zip(page.lines(), again.lines(), strict=True):
        assert (b.id, b.polygon, b.baseline, b.text, b.line_type) == (
            a.id, a.polygon, a.baseline, a.text, a.line_type)
    assert again.regions[0].lines[0].confidence == pytest.approx(0.83)
    assert [r.region_type for r in again.regions] == ["MainZone", "marginalia"]
    assert again.image_filename == "img.jpg" and (again.width, again.height) == (600, 400)
    text = data.decode()
    assert 'LABEL="InterlinearLine"' in text and "<MeasurementUnit>pixel" in text


def test_alto_empty_page_valid(alto_xsd: Path) -> None:
    assert_valid(alto_bytes(Page("i.png", 10, 10)), alto_xsd)


# --- atomic writes ---------------------------------------------------------------------------

def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_page_xml(sample_page(), tmp_path / "page.xml")
    before = target.read_bytes()

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    changed = sample_page()
    changed.regions[0].lines[0].text = "changed"
    with pytest.raises(StorageError, match="page.xml"):
        write_page_xml(changed, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.xml"]


def test_unwritable_folder_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    for fmt in FORMATS:
        with pytest.raises(StorageError):
            write_document(sample_page(), tmp_path / f"out.{fmt}", fmt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores folder permissions")
def test_read_only_folder_storage_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError):
            write_page_xml(sample_page(), folder / "page.xml")
    finally:
        folder.chmod(0o755)


# --- TXT and dispatch ------------------------------------------------------------------------

def test_page_text_order_and_blank_line_between_regions() -> None:
    page = sample_page()
    page.regions.insert(1, Region("empty", box(0, 0, 5, 5), []))
    assert page_text(page) == "Cher ami,\nje t’écris\n\n\nnote"


def test_write_txt_pages_nfc(tmp_path: Path) -> None:
    p1 = Page("a.png", 10, 10, [Region("r", [], [Line("l", [], [], "Cafe\u0301")])])
    p2 = copy.deepcopy(p1)
    p2.regions[0].lines[0].text = "deux"
    out = write_txt([p1, p2], tmp_path / "t.txt")
    assert out.read_bytes() == "Café\n\ndeux\n".encode("utf-8")
    assert write_txt(p1, tmp_path / "one.txt").read_text(encoding="utf-8") == "Café\n"


def test_write_document_dispatch(tmp_path: Path, page_xsd: Path, alto_xsd: Path) -> None:
    assert FORMATS == ("page", "alto", "txt")
    page = sample_page()
    assert_valid(write_document(page, tmp_path / "p.xml", "page").read_bytes(), page_xsd)
    assert_valid(write_document(page, tmp_path / "a.xml", "alto").read_bytes(), alto_xsd)
    assert write_document(page, tmp_path / "t.txt", "txt").read_text(encoding="utf-8").startswith(
        "Cher ami,")
    with pytest.raises(ValueError, match="unknown export format"):
        write_document(page, tmp_path / "x", "docx")


def test_folder_is_a_file_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StorageError, match="not-a-folder"):
        write_page_xml(sample_page(), blocker / "page.xml")
    assert blocker.read_text(encoding="utf-8") == "x"
