"""Write a :class:`Page` as PAGE-XML 2019-07-15 that validates against the PRImA schema.

Element order follows the XSD: ``Metadata`` (Creator, Created, LastChange, Comments,
MetadataItem*), ``Page`` (ReadingOrder, TextRegion*); ``TextRegion`` (Coords, TextLine*);
``TextLine`` (Coords, Baseline?, TextEquiv+, UserDefined). Our extra fields are stored as
described in :mod:`engine.formats.markers`. Geometry and ids are repaired by
:func:`engine.formats.prepare.prepare_page` first.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

import engine
from engine.atomic import atomic_write_bytes
from engine.document import Line, Page, Region, normalize_text
from engine.formats import markers
from engine.formats.custom import custom_set, reading_order_index
from engine.formats.geometry import format_page_points
from engine.formats.prepare import prepare_page
from engine.formats.xml_safe import clean_xml_text as _clean

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd"
CREATOR = f"HTR-JAND Studio {engine.__version__}"
# Metadata keys that are written elsewhere or are reading artefacts, not MetadataItems.
RESERVED_METADATA = {"format", "namespace", "warnings", "created", "last_change", "comments"}
PAGE_REGION_TYPES = {
    "paragraph", "heading", "caption", "header", "footer", "page-number", "drop-capital",
    "credit", "floating", "signature-mark", "catch-word", "marginalia", "footnote",
    "footnote-continued", "endnote", "TOC-entry", "list-label", "other",
}
_DATETIME = re.compile(
    r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)


def _e(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{PAGE_NS}}}{tag}", {k: v for k, v in attrs.items()})


def _timestamp(now: datetime | None) -> str:
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def _conf(value: float | None) -> str | None:
    if value is None:
        return None
    try:
        conf = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(conf):
        return None
    return repr(min(max(conf, 0.0), 1.0))


def _metadata(root: etree._Element, page: Page, now: datetime | None) -> None:
    md = _e(root, "Metadata")
    _e(md, "Creator").text = CREATOR
    created = page.metadata.get("created", "").strip()
    stamp = _timestamp(now)
    _e(md, "Created").text = created if _DATETIME.match(created) else stamp
    _e(md, "LastChange").text = stamp
    if page.metadata.get("comments"):
        _e(md, "Comments").text = _clean(page.metadata["comments"])
    for key, value in page.metadata.items():
        if key in RESERVED_METADATA or value is None:
            continue
        if key == "creator" and str(value).startswith("HTR-JAND Studio"):
            continue
        kind = "processingStep" if key == "creator" else "other"
        _e(md, "MetadataItem", type=kind, name=_clean(str(key)), value=_clean(str(value)))


def _custom(custom: str | None, kind: str | None, index: int | None) -> str | None:
    custom = custom_set(custom, "structure", "type", kind)
    if index is not None:
        custom = custom_set(custom, "readingOrder", "index", str(index))
    return custom


def _text_equiv(parent: etree._Element, text: str, index: int, conf: str | None = None,
                comments: str | None = None) -> None:
    attrs = {"index": str(index)}
    if conf is not None:
        attrs["conf"] = conf
    if comments is not None:
        attrs["comments"] = comments
    te = _e(parent, "TextEquiv", **attrs)
    _e(te, "Unicode").text = _clean(normalize_text(text or ""))


def _line(parent: etree._Element, line: Line, index: int | None) -> None:
    attrs = {"id": line.id}
    custom = _custom(line.custom, line.line_type, index)
    if custom:
        attrs["custom"] = _clean(custom)
    el = _e(parent, "TextLine", **attrs)
    _e(el, "Coords", points=format_page_points(line.polygon))
    if line.baseline:
        _e(el, "Baseline", points=format_page_points(line.baseline))
    _text_equiv(el, line.text, 0, _conf(line.confidence))
    if line.suggestion is not None:
        _text_equiv(el, line.suggestion, markers.TEXT_EQUIV_INDEX[markers.SUGGESTION],
                    comments=markers.comment_for(markers.SUGGESTION))
    if line.model_text is not None:
        _text_equiv(el, line.model_text, markers.TEXT_EQUIV_INDEX[markers.MODEL_TEXT],
                    comments=markers.comment_for(markers.MODEL_TEXT))
    ud = _e(el, "UserDefined")
    origin = getattr(line.origin, "value", line.origin) or "none"
    _e(ud, "UserAttribute", name=markers.ORIGIN_ATTR, type="xsd:string", value=str(origin))
    if line.char_confidences is not None:
        _e(ud, "UserAttribute", name=markers.CHAR_CONF_ATTR, type="xsd:string",
           value=markers.format_char_confidences(line.char_confidences))


def _region(parent: etree._Element, region: Region, index: int | None) -> None:
    attrs = {"id": region.id}
    custom = _custom(region.custom, region.region_type, index)
    if custom:
        attrs["custom"] = _clean(custom)
    if region.region_type in PAGE_REGION_TYPES:
        attrs["type"] = region.region_type
    el = _e(parent, "TextRegion", **attrs)
    _e(el, "Coords", points=format_page_points(region.polygon))
    numbered = any(reading_order_index(ln.custom) is not None for ln in region.lines)
    for i, line in enumerate(region.lines):
        _line(el, line, i if numbered else None)


def page_xml_bytes(page: Page, *, now: datetime | None = None) -> bytes:
    """Serialise ``page`` as PAGE-XML 2019-07-15 (UTF-8 bytes); ``now`` fixes LastChange."""
    prepared = prepare_page(page)
    clean = prepared.page
    root = etree.Element(f"{{{PAGE_NS}}}PcGts", nsmap={None: PAGE_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    _metadata(root, clean, now)
    page_el = _e(root, "Page", imageFilename=_clean(clean.image_filename or ""),
                 imageWidth=str(clean.width), imageHeight=str(clean.height))
    if clean.regions:
        ro = _e(page_el, "ReadingOrder")
        group = _e(ro, "OrderedGroup", id=prepared.ids.make("ro", "ro"),
                   caption="Regions reading order")
        for i, region in enumerate(clean.regions):
            _e(group, "RegionRefIndexed", index=str(i), regionRef=region.id)
    numbered = any(reading_order_index(r.custom) is not None for r in clean.regions)
    for i, region in enumerate(clean.regions):
        _region(page_el, region, i if numbered else None)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_page_xml(page: Page, path: str | os.PathLike[str], *,
                   now: datetime | None = None) -> Path:
    """Write ``page`` as PAGE-XML 2019 to ``path`` atomically; StorageError if it cannot."""
    return atomic_write_bytes(path, page_xml_bytes(page, now=now))
