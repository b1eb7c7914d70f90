"""Read PAGE-XML (2013-07-15, 2019-07-15 and older PRImA namespaces) into a :class:`Page`.

Lenient: unknown elements (Transkribus metadata, Words, other region kinds) are ignored, bad
points skip only the element they belong to (with a warning), and only a file with nothing
usable is rejected with a :class:`FormatError`.
"""

from __future__ import annotations

import math
from pathlib import Path

from lxml import etree

from engine.document import Line, Page, Region, normalize_text
from engine.errors import FormatError
from engine.formats import markers
from engine.formats.custom import reading_order_index, structure_type
from engine.formats.geometry import PointsError, parse_points
from engine.formats.notes import Notes, finish_page
from engine.formats.xml_safe import (
    child,
    children,
    descendants,
    element_text,
    local_name,
    namespace,
)

PAGE_NS_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"


def is_page_root(root: etree._Element) -> bool:
    return local_name(root) == "PcGts" and namespace(root).startswith(PAGE_NS_PREFIX)


def _positive_int(value: str | None) -> int | None:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return None
    if not math.isfinite(number) or number < 1 or number != int(number):
        return None
    return int(number)


def _coords(el: etree._Element | None, what: str, notes: Notes) -> list | None:
    """Points of a Coords/Baseline element: @points, or old-style Point children.

    Returns [] when absent and None when present but unparsable (a warning is recorded).
    """
    if el is None:
        return []
    try:
        if el.get("points") is not None:
            return parse_points(el.get("points"))
        pts = children(el, "Point")
        if pts:
            return parse_points(" ".join(f"{p.get('x')},{p.get('y')}" for p in pts))
        return []
    except PointsError as exc:
        notes.add(f"{what}: unusable points ({exc}); ignored.")
        return None


def _conf(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        conf = float(value)
    except ValueError:
        return None
    if not math.isfinite(conf):
        return None
    return min(max(conf, 0.0), 1.0)


def _unicode(text_equiv: etree._Element) -> str:
    uni = child(text_equiv, "Unicode")
    if uni is None:
        uni = child(text_equiv, "PlainText")
    return normalize_text(element_text(uni)) if uni is not None else ""


def _index(el: etree._Element) -> float:
    try:
        return int(el.get("index", ""))
    except ValueError:
        return math.inf


def _read_line(el: etree._Element, notes: Notes) -> Line | None:
    line_id = el.get("id") or ""
    what = f"line {line_id or '(without id)'}"
    polygon = _coords(child(el, "Coords"), f"{what} Coords", notes)
    baseline = _coords(child(el, "Baseline"), f"{what} Baseline", notes)
    if not polygon and not baseline:
        notes.add(f"{what}: no usable polygon or baseline; line skipped.")
        return None
    line = Line(id=line_id, polygon=polygon or [], baseline=baseline or [])
    line.custom = el.get("custom")
    line.line_type = structure_type(line.custom)

    equivs = children(el, "TextEquiv")
    ours = {markers.comment_kind(te.get("comments")): te for te in equivs}
    main = [te for te in equivs if markers.comment_kind(te.get("comments")) is None]
    if main:
        best = min(main, key=_index)  # stable: the first of the lowest index
        line.text = _unicode(best)
        line.confidence = _conf(best.get("conf"))
    else:
        words = [child(w, "TextEquiv") for w in children(el, "Word")]
        texts = [_unicode(te) for te in words if te is not None]
        line.text = normalize_text(" ".join(t for t in texts if t))
    if markers.MODEL_TEXT in ours:
        line.model_text = _unicode(ours[markers.MODEL_TEXT])
    if markers.SUGGESTION in ours:
        line.suggestion = _unicode(ours[markers.SUGGESTION])

    attrs = _user_attributes(el)
    line.origin = markers.parse_origin(attrs.get(markers.ORIGIN_ATTR), line.text)
    if markers.CHAR_CONF_ATTR in attrs:
        line.char_confidences = markers.parse_char_confidences(attrs[markers.CHAR_CONF_ATTR])
    return line


def _user_attributes(el: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for ud in children(el, "UserDefined"):
        for ua in children(ud, "UserAttribute"):
            name = ua.get("name")
            if name:
                out[name] = ua.get("value") or ""
    return out


def _order_lines(lines: list[tuple[Line, int | None]]) -> list[Line]:
    if not any(idx is not None for _, idx in lines):
        return [ln for ln, _ in lines]
    keyed = [(idx if idx is not None else math.inf, pos, ln) for pos, (ln, idx) in enumerate(lines)]
    return [ln for _, _, ln in sorted(keyed, key=lambda t: (t[0], t[1]))]


def _reading_order_refs(page_el: etree._Element) -> list[str]:
    ro = child(page_el, "ReadingOrder")
    refs: list[str] = []
    if ro is None:
        return refs

    def walk(group: etree._Element) -> None:
        if group.get("regionRef"):
            refs.append(group.get("regionRef"))
        members = [c for c in group if local_name(c)]
        if local_name(group) in ("OrderedGroup", "OrderedGroupIndexed"):
            members = sorted(members, key=_index)
        for m in members:
            name = local_name(m)
            if name in ("RegionRefIndexed", "RegionRef"):
                if m.get("regionRef"):
                    refs.append(m.get("regionRef"))
            elif "Group" in name:
                walk(m)

    for group in ro:
        if local_name(group):
            walk(group)
    return refs


def _metadata(root: etree._Element, ns: str) -> dict[str, str]:
    meta: dict[str, str] = {"format": "page", "namespace": ns}
    md = child(root, "Metadata")
    if md is None:
        return meta
    for tag, key in (("Creator", "creator"), ("Created", "created"),
                     ("LastChange", "last_change"), ("Comments", "comments")):
        el = child(md, tag)
        if el is not None and el.text and el.text.strip():
            meta[key] = el.text.strip()
    for item in children(md, "MetadataItem"):
        if item.get("name") and item.get("value") is not None:
            meta[item.get("name")] = item.get("value")
    return meta


def read_page_xml(root: etree._Element, path: Path) -> Page:
    """Build a Page from a parsed PAGE-XML root (see :func:`engine.formats.read_document`)."""
    name = str(path)
    notes = Notes(name)
    ns = namespace(root)
    page_el = child(root, "Page")
    if page_el is None:
        raise FormatError(f"{name}: PAGE-XML without a <Page> element; nothing to read.")
    width = _positive_int(page_el.get("imageWidth"))
    height = _positive_int(page_el.get("imageHeight"))
    if width is None or height is None:
        raise FormatError(
            f"{name}: missing or invalid image size (imageWidth={page_el.get('imageWidth')!r}, "
            f"imageHeight={page_el.get('imageHeight')!r}); both must be positive whole numbers."
        )
    image = page_el.get("imageFilename") or ""
    if not image:
        notes.add("no imageFilename on <Page>; the image must be chosen by hand.")
    page = Page(image_filename=image, width=width, height=height, metadata=_metadata(root, ns))
    page.source_path = path

    regions: list[Region] = []
    found_lines = 0
    for reg_el in descendants(page_el, "TextRegion"):
        reg_id = reg_el.get("id") or ""
        polygon = _coords(child(reg_el, "Coords"), f"region {reg_id} Coords", notes)
        region = Region(id=reg_id, polygon=polygon or [], custom=reg_el.get("custom"))
        region.region_type = structure_type(region.custom) or reg_el.get("type")
        line_els = children(reg_el, "TextLine")
        found_lines += len(line_els)
        read = [(_read_line(el, notes), reading_order_index(el.get("custom"))) for el in line_els]
        region.lines = _order_lines([(ln, idx) for ln, idx in read if ln is not None])
        if not polygon and not region.lines:
            notes.add(f"region {reg_id}: no usable polygon and no lines; region skipped.")
            continue
        regions.append(region)

    return finish_page(page, regions, _reading_order_refs(page_el), found_lines, notes)
