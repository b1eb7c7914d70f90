"""Write a :class:`Page` as ALTO v4 the way eScriptorium does; validates against alto-4-4.xsd.

``Description`` (pixel unit, image file name), ``Tags/OtherTag`` for region (``BT*``) and line
(``LT*``) types, ``Layout/Page/PrintSpace/TextBlock/TextLine`` with ``Shape/Polygon``,
``@BASELINE`` and one ``String@CONTENT`` per line (``@WC`` = line confidence). Boxes
(HPOS/VPOS/WIDTH/HEIGHT) are the polygons' bounding boxes. Reading is in
:mod:`engine.formats.alto_read`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from lxml import etree

from engine.atomic import atomic_write_bytes
from engine.document import Page, Point, normalize_text
from engine.formats.geometry import format_alto_points
from engine.formats.prepare import IdMaker, prepare_page
from engine.formats.xml_safe import clean_xml_text as _clean

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"


def _e(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ALTO_NS}}}{tag}", attrs)


def _box(points: list[Point]) -> dict[str, str]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return {"HPOS": str(min(xs)), "VPOS": str(min(ys)),
            "WIDTH": str(max(xs) - min(xs)), "HEIGHT": str(max(ys) - min(ys))}


def _shape(parent: etree._Element, points: list[Point]) -> None:
    _e(_e(parent, "Shape"), "Polygon", POINTS=format_alto_points(points))


def _tags(root: etree._Element, page: Page, ids: IdMaker) -> tuple[dict[str, str], dict[str, str]]:
    block_types = list(dict.fromkeys(r.region_type for r in page.regions if r.region_type))
    line_types = list(dict.fromkeys(ln.line_type for ln in page.lines() if ln.line_type))
    block_ids, line_ids = {}, {}
    if not (block_types or line_types):
        return block_ids, line_ids
    tags = _e(root, "Tags")
    for kinds, prefix, word, out in ((block_types, "BT", "block", block_ids),
                                     (line_types, "LT", "line", line_ids)):
        for i, kind in enumerate(kinds, 1):
            tag_id = ids.make(f"{prefix}{i}", prefix)
            out[kind] = tag_id
            _e(tags, "OtherTag", ID=tag_id, LABEL=_clean(kind),
               DESCRIPTION=_clean(f"{word} type {kind}"))
    return block_ids, line_ids


def alto_bytes(page: Page) -> bytes:
    """Serialise ``page`` as ALTO v4 (UTF-8 bytes)."""
    prepared = prepare_page(page)
    clean = prepared.page
    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap={None: ALTO_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    desc = _e(root, "Description")
    _e(desc, "MeasurementUnit").text = "pixel"
    info = _e(desc, "sourceImageInformation")
    _e(info, "fileName").text = _clean(clean.image_filename or "")
    block_tags, line_tags = _tags(root, clean, prepared.ids)
    layout = _e(root, "Layout")
    page_el = _e(layout, "Page", WIDTH=str(clean.width), HEIGHT=str(clean.height),
                 PHYSICAL_IMG_NR="1", ID=prepared.ids.make("eSc_dummypage_", "page"))
    space = _e(page_el, "PrintSpace", HPOS="0", VPOS="0",
               WIDTH=str(clean.width), HEIGHT=str(clean.height))
    for region in clean.regions:
        attrs = {**_box(region.polygon), "ID": region.id}
        if region.region_type:
            attrs["TAGREFS"] = block_tags[region.region_type]
        block = _e(space, "TextBlock", **attrs)
        _shape(block, region.polygon)
        for line in region.lines:
            attrs = {"ID": line.id}
            if line.line_type:
                attrs["TAGREFS"] = line_tags[line.line_type]
            if line.baseline:
                attrs["BASELINE"] = format_alto_points(line.baseline)
            box = _box(line.polygon)
            attrs.update(box)
            line_el = _e(block, "TextLine", **attrs)
            _shape(line_el, line.polygon)
            string = {"CONTENT": _clean(normalize_text(line.text or "")), **box}
            conf = line.confidence
            if conf is not None and math.isfinite(float(conf)):
                string["WC"] = repr(min(max(float(conf), 0.0), 1.0))
            _e(line_el, "String", **string)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_alto(page: Page, path: str | os.PathLike[str]) -> Path:
    """Write ``page`` as ALTO v4 to ``path`` atomically; StorageError if it cannot."""
    return atomic_write_bytes(path, alto_bytes(page))
