"""Unusable input gives a FormatError a person can act on; partial damage only a warning;
hostile XML (XXE, billion laughs, external DTDs) neither expands entities nor uses the network."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest

from engine.errors import FormatError
from engine.formats import FormatWarning, read_document

NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
LINE = ('<TextLine id="{id}"><Coords points="{pts}"/><Baseline points="10,35 100,35"/>'
        "<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine>")


def page_doc(body: str, size: str = 'imageWidth="1000" imageHeight="800"',
             prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<PcGts xmlns="{NS}">'
            f'<Page imageFilename="img.jpg" {size}>{body}</Page></PcGts>')


def region(*lines: str, pts: str = "0,0 200,0 200,100 0,100") -> str:
    return f'<TextRegion id="r"><Coords points="{pts}"/>' + "".join(lines) + "</TextRegion>"


def good_line(lid: str = "l1", text: str = "fine") -> str:
    return LINE.format(id=lid, pts="10,10 100,10 100,40", text=text)


def write(tmp_path: Path, text: str | bytes, name: str = "bad.xml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(FormatError) as info:
        read_document(path)
    message = str(info.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


# --- files that cannot be used ------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.xml", "not found")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "dir.xml").mkdir()
    expect_error(tmp_path / "dir.xml", "folder")


@pytest.mark.parametrize("content", [b"", b"   \n\t"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    expect_error(write(tmp_path, content), "empty")


def test_truncated_xml(tmp_path: Path) -> None:
    full = page_doc(region(good_line()))
    expect_error(write(tmp_path, full[: len(full) // 2]), "malformed", "truncated")


def test_not_xml_text(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "just some notes\nabout a page"), "not an XML")


def test_not_xml_binary(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100)), "not an XML")


def test_unknown_root(tmp_path: Path) -> None:
    expect_error(write(tmp_path, '<TEI xmlns="http://www.tei-c.org/ns/1.0"/>'),
                 "unknown document kind", "<TEI>", "PAGE-XML")


def test_pcgts_in_unknown_namespace(tmp_path: Path) -> None:
    expect_error(write(tmp_path, '<PcGts xmlns="http://example.org/x"><Page/></PcGts>'),
                 "unknown document kind", "http://example.org/x")


def test_page_without_page_element(tmp_path: Path) -> None:
    expect_error(write(tmp_path, f'<PcGts xmlns="{NS}"><Metadata/></PcGts>'), "<Page>")


@pytest.mark.parametrize("size", [
    'imageWidth="1000"',
    'imageWidth="0" imageHeight="800"',
    'imageWidth="-5" imageHeight="800"',
    'imageWidth="wide" imageHeight="800"',
    'imageWidth="10.5" imageHeight="800"',
])
def test_page_missing_or_invalid_size(tmp_path: Path, size: str) -> None:
    expect_error(write(tmp_path, page_doc(region(good_line()), size=size)), "image size")


def alto_doc(page_attrs: str, unit: str = "pixel", body: str = "") -> str:
    return (f'<alto xmlns="{ALTO_NS}"><Description><MeasurementUnit>{unit}</MeasurementUnit>'
            f'</Description><Layout><Page ID="p" PHYSICAL_IMG_NR="1" {page_attrs}>'
            f"<PrintSpace>{body}</PrintSpace></Page></Layout></alto>")


@pytest.mark.parametrize("attrs", ['WIDTH="100"', 'WIDTH="100" HEIGHT="none"', 'WIDTH="0" HEIGHT="9"'])
def test_alto_missing_or_invalid_size(tmp_path: Path, attrs: str) -> None:
    expect_error(write(tmp_path, alto_doc(attrs)), "image size", "WIDTH")


def test_alto_non_pixel_unit(tmp_path: Path) -> None:
    expect_error(write(tmp_path, alto_doc('WIDTH="100" HEIGHT="100"', unit="mm10")), "mm10", "pixel")


def test_alto_without_layout(tmp_path: Path) -> None:
    expect_error(write(tmp_path, f'<alto xmlns="{ALTO_NS}"><Description/></alto>'), "Layout")


# --- partial damage: warnings, the rest is read ---------------------------------------------

def test_bad_points_skip_only_that_line(tmp_path: Path) -> None:
    bad = LINE.format(id="bad", pts="10,10 abc,10 100,40", text="lost").replace(
        '<Baseline points="10,35 100,35"/>', '<Baseline points="1,2,3"/>')
    path = write(tmp_path, page_doc(region(good_line("l1"), bad, good_line("l3", "also"))))
    with pytest.warns(FormatWarning, match="bad"):
        page = read_document(path)
    assert [ln.id for ln in page.lines()] == ["l1", "l3"]
    assert "line bad" in page.metadata["warnings"]
    assert path.name in page.metadata["warnings"]


def test_bad_polygon_with_good_baseline_keeps_line(tmp_path: Path) -> None:
    bad = LINE.format(id="b", pts="1,2,3", text="kept")
    with pytest.warns(FormatWarning):
        page = read_document(write(tmp_path, page_doc(region(bad))))
    ln = page.regions[0].lines[0]
    assert (ln.text, ln.polygon, ln.baseline) == ("kept", [], [(10, 35), (100, 35)])


def test_bad_region_coords_kept_with_lines(tmp_path: Path) -> None:
    with pytest.warns(FormatWarning, match="region r"):
        page = read_document(write(tmp_path, page_doc(region(good_line(), pts="x,y"))))
    assert page.regions[0].polygon == [] and len(page.regions[0].lines) == 1


def test_nothing_usable_is_an_error(tmp_path: Path) -> None:
    bad = LINE.format(id="b", pts="nan,nan 1,1 2,2", text="x").replace(
        "10,35 100,35", "oops")
    with pytest.warns(FormatWarning):
        expect_error(write(tmp_path, page_doc(region(bad, bad.replace('"b"', '"c"')))),
                     "none of the 2 text lines")


def test_alto_bad_points_fall_back_to_box(tmp_path: Path) -> None:
    body = ('<TextBlock ID="b" HPOS="0" VPOS="0" WIDTH="50" HEIGHT="50">'
            '<TextLine ID="l" BASELINE="1 2 3" HPOS="1" VPOS="1" WIDTH="40" HEIGHT="20">'
            '<Shape><Polygon POINTS="1 1 x 2"/></Shape><String CONTENT="ok"/></TextLine></TextBlock>')
    with pytest.warns(FormatWarning):
        page = read_document(write(tmp_path, alto_doc('WIDTH="100" HEIGHT="100"', body=body)))
    ln = page.regions[0].lines[0]
    assert ln.polygon == [(1, 1), (41, 1), (41, 21), (1, 21)] and ln.baseline == []
    assert ln.text == "ok" and "BASELINE" in page.metadata["warnings"]


def test_transkribus_extras_are_ignored_quietly(tmp_path: Path) -> None:
    extra = ('<Metadata><Creator>x</Creator><Created>2020-01-01T00:00:00</Created>'
             '<LastChange>2020-01-01T00:00:00</LastChange><TranskribusMetadata docId="1"/>'
             "</Metadata>")
    text = page_doc(region(good_line()) + "<Relations/><ImageRegion id='i'/>").replace(
        f'<PcGts xmlns="{NS}">', f'<PcGts xmlns="{NS}">{extra}')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = read_document(write(tmp_path, text))
    assert page.counts()["lines"] == 1 and "warnings" not in page.metadata


# --- hostile XML ------------------------------------------------------------------------------

def test_xxe_file_entity_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    prolog = f'<!DOCTYPE PcGts [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    path = write(tmp_path, page_doc(region(good_line(text="a&xxe;b")), prolog=prolog))
    try:
        page = read_document(path)
    except FormatError:
        return  # refusing the file is fine too
    text = page.regions[0].lines[0].text
    assert "TOP-SECRET" not in text
    assert text.startswith("a") and text.endswith("b")


def test_billion_laughs_not_expanded(tmp_path: Path) -> None:
    ents = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)]
    prolog = "<!DOCTYPE PcGts [" + "".join(ents) + "]>\n"
    path = write(tmp_path, page_doc(region(good_line(text="&lol9;")), prolog=prolog))
    start = time.perf_counter()
    try:
        page = read_document(path)
        text = page.regions[0].lines[0].text
        assert len(text) < 1000
    except FormatError:
        pass
    assert time.perf_counter() - start < 5


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        _Counter.hits.append(self.path)
        body = b'<!ENTITY remote "FROM-NETWORK">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_no_network_access_for_dtd_or_entities(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        prolog = (f'<!DOCTYPE PcGts SYSTEM "{url}/page.dtd" [<!ENTITY % ext SYSTEM "{url}/ext.dtd">'
                  f' %ext; <!ENTITY net SYSTEM "{url}/entity.txt">]>\n')
        path = write(tmp_path, page_doc(region(good_line(text="x&net;&remote;y")), prolog=prolog))
        try:
            page = read_document(path)
            assert "FROM-NETWORK" not in page.regions[0].lines[0].text
        except FormatError:
            pass
    finally:
        server.shutdown()
        server.server_close()
    assert _Counter.hits == []
