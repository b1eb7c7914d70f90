"""Reading PAGE-XML and ALTO: known real pages, reading order, texts, types, namespaces."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from engine.document import Origin
from engine.formats import read_document

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
NS13 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
NS19 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"


def real(rel: str) -> Path:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"real data not found at {path} (set HTRJAND_SHARED_DATA)")
    return path


def page_xml(body: str, ns: str = NS13, size: str = 'imageWidth="1000" imageHeight="800"') -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{ns}"><Metadata>'
            "<Creator>test</Creator><Created>2020-01-01T00:00:00</Created>"
            "<LastChange>2020-01-01T00:00:00</LastChange></Metadata>"
            f'<Page imageFilename="img.jpg" {size}>{body}</Page></PcGts>')


def line(lid: str, text: str | None = "t", custom: str = "", extra: str = "") -> str:
    te = f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv>" if text is not None else ""
    cu = f' custom="{custom}"' if custom else ""
    return (f'<TextLine id="{lid}"{cu}><Coords points="10,10 100,10 100,40 10,40"/>'
            f'<Baseline points="10,35 100,35"/>{extra}{te}</TextLine>')


def region(rid: str, *lines: str, attrs: str = "") -> str:
    return (f'<TextRegion id="{rid}"{attrs}><Coords points="0,0 200,0 200,100 0,100"/>'
            + "".join(lines) + "</TextRegion>")


def write(tmp_path: Path, text: str, name: str = "doc.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- real pages -----------------------------------------------------------------------------

def test_hooker_page_known_content() -> None:
    page = read_document(real("hooker/JDH_2_16_144_001.xml"))
    assert page.counts() == {"regions": 1, "lines": 23, "chars": 536}
    assert (page.image_filename, page.width, page.height) == ("JDH_2_16_144_001.jpg", 1423, 2151)
    texts = [ln.text for ln in page.lines()]
    assert texts[:4] == ["Dec 21/95", "THE CAMP.", "SUNNINGDALE.", "My dear Dyer"]
    assert texts[4] == "I have gone into Callitris,"
    first = page.regions[0].lines[0]
    assert first.id == "r1l2" and first.origin is Origin.PERSON
    assert first.baseline[0] == (951, 178) and len(first.baseline) == 13
    assert first.polygon[0] == (944, 189)
    assert first.custom == "readingOrder {index:0;}"
    assert page.metadata["created"] == "2020-06-11T20:32:25.218-04:00"
    assert page.metadata["format"] == "page"
    assert page.source_path == real("hooker/JDH_2_16_144_001.xml")


def test_hooker_words_page_uses_line_text() -> None:
    page = read_document(real("hooker/JDH_2_16_65_001.xml"))
    assert page.counts()["lines"] == 18
    assert all(ln.text for ln in page.lines())


def test_kraken_sample_types_and_order() -> None:
    page = read_document(real("kraken-sample/170025120000003,0074.xml"))
    assert page.counts()["lines"] == 44
    assert [r.region_type for r in page.regions] == ["$pag", "$pac", "$tip", "$par"]
    assert page.regions[1].lines[0].text == "$-nor su hijo, De todos sus bienes, con los pactos"
    assert page.regions[1].lines[0].line_type == "$pac"


def test_poilus_alto_page() -> None:
    page = read_document(real("poilus/data/batch-1/TestamentsDePoilus_will_AD78_0005-0.xml"))
    assert (page.image_filename, page.width, page.height) == (
        "TestamentsDePoilus_will_AD78_0005-0.jpg", 1416, 1832)
    assert page.metadata["format"] == "alto"
    assert [r.id for r in page.regions] == ["eSc_textblock_e21b8ffd", "eSc_textblock_479c66b7"]
    assert page.regions[0].region_type == "MainZone"
    ln = page.regions[0].lines[0]
    assert (ln.id, ln.text, ln.line_type) == ("eSc_line_99b4dafe", "Ceci est mon Testament",
                                              "DefaultLine")
    assert ln.baseline == [(235, 441), (325, 437), (411, 442), (738, 430), (1042, 430), (1228, 434)]
    assert ln.polygon[:2] == [(233, 458), (329, 448)] and ln.origin is Origin.PERSON
    assert page.regions[1].lines == [] and len(page.regions[1].polygon) == 6


# --- reading order ----------------------------------------------------------------------------

def test_reading_order_group_then_unreferenced(tmp_path: Path) -> None:
    ro = ('<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="1" regionRef="a"/>'
          '<RegionRefIndexed index="0" regionRef="c"/></OrderedGroup></ReadingOrder>')
    body = ro + region("a", line("a1")) + region("b", line("b1")) + region("c", line("c1")) \
        + region("d", line("d1"))
    page = read_document(write(tmp_path, page_xml(body)))
    assert [r.id for r in page.regions] == ["c", "a", "b", "d"]


def test_reading_order_nested_groups(tmp_path: Path) -> None:
    ro = ('<ReadingOrder><OrderedGroup id="g"><OrderedGroupIndexed id="g2" index="1">'
          '<RegionRefIndexed index="0" regionRef="a"/></OrderedGroupIndexed>'
          '<RegionRefIndexed index="0" regionRef="b"/></OrderedGroup></ReadingOrder>')
    page = read_document(write(tmp_path, page_xml(ro + region("a", line("a1"))
                                                  + region("b", line("b1")))))
    assert [r.id for r in page.regions] == ["b", "a"]


def test_document_order_without_reading_order(tmp_path: Path) -> None:
    page = read_document(write(tmp_path, page_xml(region("z", line("z1")) + region("y", line("y1")))))
    assert [r.id for r in page.regions] == ["z", "y"]


def test_line_order_from_transkribus_custom(tmp_path: Path) -> None:
    lines = [line("l1", "one", "readingOrder {index:2;}"), line("l2", "two", "readingOrder {index:0;}"),
             line("l3", "three", "readingOrder {index:1;}")]
    page = read_document(write(tmp_path, page_xml(region("r", *lines))))
    assert [ln.id for ln in page.lines()] == ["l2", "l3", "l1"]


def test_line_document_order_without_custom(tmp_path: Path) -> None:
    page = read_document(write(tmp_path, page_xml(region("r", line("b"), line("a")))))
    assert [ln.id for ln in page.lines()] == ["b", "a"]


# --- text, confidence, types, origin ------------------------------------------------------

def test_text_equiv_preference_and_conf(tmp_path: Path) -> None:
    extra = ('<TextEquiv index="1" conf="0.2"><Unicode>worse</Unicode></TextEquiv>'
             '<TextEquiv index="0" conf="0.9"><Unicode>best</Unicode></TextEquiv>')
    page = read_document(write(tmp_path, page_xml(region("r", line("l", None, extra=extra)))))
    ln = page.regions[0].lines[0]
    assert (ln.text, ln.confidence) == ("best", 0.9)


def test_first_text_equiv_without_index(tmp_path: Path) -> None:
    extra = ('<TextEquiv><Unicode>first</Unicode></TextEquiv>'
             '<TextEquiv><Unicode>second</Unicode></TextEquiv>')
    page = read_document(write(tmp_path, page_xml(region("r", line("l", None, extra=extra)))))
    assert page.regions[0].lines[0].text == "first"
    assert page.regions[0].lines[0].confidence is None


def test_text_is_normalized(tmp_path: Path) -> None:
    text = "Cafe\u0301\u00a0au\u202flait"
    page = read_document(write(tmp_path, page_xml(region("r", line("l", text)))))
    assert page.regions[0].lines[0].text == "Caf\u00e9 au lait"


def test_origin_person_with_text_none_without(tmp_path: Path) -> None:
    body = region("r", line("a", "text"), line("b", ""), line("c", None))
    page = read_document(write(tmp_path, page_xml(body)))
    assert [ln.origin for ln in page.lines()] == [Origin.PERSON, Origin.NONE, Origin.NONE]


def test_region_and_line_types(tmp_path: Path) -> None:
    body = (region("a", line("a1", custom="structure {type:heading;}"), attrs=' type="heading"')
            + region("b", line("b1"), attrs=' type="paragraph" custom="structure {type:MainZone;}"'))
    page = read_document(write(tmp_path, page_xml(body)))
    assert [r.region_type for r in page.regions] == ["heading", "MainZone"]
    assert [ln.line_type for ln in page.lines()] == ["heading", None]


def test_words_joined_when_line_has_no_text(tmp_path: Path) -> None:
    words = "".join(f'<Word id="w{i}"><Coords points="1,1 5,1 5,5"/><TextEquiv><Unicode>{w}'
                    "</Unicode></TextEquiv></Word>" for i, w in enumerate(["dear", "Sir"]))
    page = read_document(write(tmp_path, page_xml(region("r", line("l", None, extra=words)))))
    assert page.regions[0].lines[0].text == "dear Sir"


# --- namespaces --------------------------------------------------------------------------------

def test_page_2019_read(tmp_path: Path) -> None:
    page = read_document(write(tmp_path, page_xml(region("r", line("l", "x")), ns=NS19)))
    assert page.regions[0].lines[0].text == "x"


def test_old_page_namespace_with_point_elements(tmp_path: Path) -> None:
    ns = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19"
    body = ('<TextRegion id="r"><Coords><Point x="0" y="0"/><Point x="50" y="0"/>'
            '<Point x="50" y="50"/></Coords><TextLine id="l"><Coords><Point x="1" y="1"/>'
            '<Point x="40" y="1"/><Point x="40" y="20"/></Coords>'
            "<TextEquiv><Unicode>old</Unicode></TextEquiv></TextLine></TextRegion>")
    page = read_document(write(tmp_path, page_xml(body, ns=ns)))
    assert page.regions[0].polygon == [(0, 0), (50, 0), (50, 50)]
    assert page.regions[0].lines[0].polygon == [(1, 1), (40, 1), (40, 20)]
    assert page.regions[0].lines[0].text == "old"


def alto(body: str, tags: str = "", size: str = 'WIDTH="500" HEIGHT="400"') -> str:
    return (f'<alto xmlns="{ALTO_NS}"><Description><MeasurementUnit>pixel</MeasurementUnit>'
            "<sourceImageInformation><fileName>p.png</fileName></sourceImageInformation>"
            f'</Description><Tags>{tags}</Tags><Layout><Page ID="p" PHYSICAL_IMG_NR="1" {size}>'
            f'<PrintSpace>{body}</PrintSpace></Page></Layout></alto>')


def test_alto_box_fallbacks_comma_baseline_and_strings(tmp_path: Path) -> None:
    tags = '<OtherTag ID="BT1" LABEL="MarginTextZone"/><OtherTag ID="LT1" LABEL="InterlinearLine"/>'
    body = ('<TextBlock ID="b" HPOS="10" VPOS="20" WIDTH="100" HEIGHT="50" TAGREFS="BT1">'
            '<TextLine ID="l" BASELINE="12,60 100,61" HPOS="12" VPOS="30" WIDTH="88" HEIGHT="35"'
            ' TAGREFS="LT1"><String CONTENT="deux" WC="0.5"/><SP/><String CONTENT="mots" WC="0.7"/>'
            "</TextLine></TextBlock>")
    page = read_document(write(tmp_path, alto(body, tags)))
    reg = page.regions[0]
    assert reg.polygon == [(10, 20), (110, 20), (110, 70), (10, 70)]
    assert reg.region_type == "MarginTextZone"
    ln = reg.lines[0]
    assert ln.polygon == [(12, 30), (100, 30), (100, 65), (12, 65)]
    assert ln.baseline == [(12, 60), (100, 61)]
    assert (ln.text, ln.line_type) == ("deux mots", "InterlinearLine")
    assert ln.confidence == pytest.approx(0.6)
    assert page.image_filename == "p.png"


def test_alto_empty_line_has_no_origin(tmp_path: Path) -> None:
    body = ('<TextBlock ID="b"><Shape><Polygon POINTS="0 0 50 0 50 50"/></Shape>'
            '<TextLine ID="l" BASELINE="1 30 40 30"><Shape><Polygon POINTS="1 1 40 1 40 35"/>'
            '</Shape><String CONTENT=""/></TextLine></TextBlock>')
    page = read_document(write(tmp_path, alto(body)))
    assert page.regions[0].lines[0].origin is Origin.NONE


def test_alto_float_coordinates_become_integers(tmp_path: Path) -> None:
    body = ('<TextBlock ID="b"><Shape><Polygon POINTS="0.4 0.6 50.5 0 50 49.49"/></Shape>'
            "</TextBlock>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = read_document(write(tmp_path, alto(body, size='WIDTH="500.0" HEIGHT="400"')))
    assert page.regions[0].polygon == [(0, 1), (51, 0), (50, 49)]
    assert (page.width, page.height) == (500, 400)
