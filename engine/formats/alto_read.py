"""Read ALTO (v4 as eScriptorium writes it; v2/v3 alike) into a :class:`Page`.

``TextBlock`` → Region (polygon from ``Shape/Polygon``, else the HPOS/VPOS/WIDTH/HEIGHT box),
``TextLine`` → Line (``@BASELINE`` points, ``Shape/Polygon@POINTS``, text from the ``String``
contents joined by spaces, ``String@WC`` → confidence), ``@TAGREFS`` → ``Tags/*Tag@LABEL`` for
region and line types, ``sourceImageInformation/fileName`` → image file name. The image size is
``Layout/Page@WIDTH,@HEIGHT``; only pixel measurements are supported.
"""

from __future__ import annotations

import math
from pathlib import Path

from lxml import etree

from engine.document import Line, Origin, Page, Region, normalize_text
from engine.errors import FormatError
from engine.formats.geometry import PointsError, parse_points, rectangle
from engine.formats.notes import Notes, finish_page
from engine.formats.xml_safe import child, children, descendants, local_name, namespace

ALTO_NS_PREFIX = "http://www.loc.gov/standards/alto/"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2", ".webp")


def is_alto_root(root: etree._Element) -> bool:
    return local_name(root) == "alto" and (
        namespace(root).startswith(ALTO_NS_PREFIX) or namespace(root) == ""
    )


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _size(page_el: etree._Element, name: str) -> tuple[int, int]:
    w, h = _float(page_el.get("WIDTH")), _float(page_el.get("HEIGHT"))
    if w is None or h is None or round(w) < 1 or round(h) < 1:
        raise FormatError(
            f"{name}: missing or invalid image size on ALTO <Page> (WIDTH={page_el.get('WIDTH')!r},"
            f" HEIGHT={page_el.get('HEIGHT')!r}); both must be positive numbers of pixels."
        )
    return int(round(w)), int(round(h))


def _box(el: etree._Element) -> list | None:
    vals = [_float(el.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
    if any(v is None for v in vals):
        return None
    return rectangle(*vals)


def _polygon(el: etree._Element, what: str, notes: Notes) -> list | None:
    """Shape/Polygon points, else the element's box; None when nothing usable."""
    shape = child(el, "Shape")
    poly = child(shape, "Polygon") if shape is not None else None
    if poly is not None:
        try:
            points = parse_points(poly.get("POINTS"))
            if points:
                return points
        except PointsError as exc:
            notes.add(f"{what}: unusable polygon ({exc}); using its box if any.")
    return _box(el)


def _baseline(el: etree._Element, what: str, notes: Notes) -> list:
    raw = el.get("BASELINE")
    if raw is None or not raw.strip():
        return []
    single = _float(raw.strip())
    if single is not None:  # ALTO 2/3: a y position
        x, w = _float(el.get("HPOS")), _float(el.get("WIDTH"))
        if x is None or w is None:
            return []
        return parse_points(f"{x},{single} {x + w},{single}")
    try:
        return parse_points(raw)
    except PointsError as exc:
        notes.add(f"{what}: unusable BASELINE ({exc}); ignored.")
        return []


def _tag_label(el: etree._Element, tags: dict[str, str]) -> str | None:
    for ref in (el.get("TAGREFS") or "").split():
        if ref in tags:
            return tags[ref]
    return None


def _read_line(el: etree._Element, tags: dict[str, str], notes: Notes) -> Line | None:
    line_id = el.get("ID") or ""
    what = f"line {line_id or '(without ID)'}"
    polygon = _polygon(el, what, notes)
    baseline = _baseline(el, what, notes)
    if not polygon and not baseline:
        notes.add(f"{what}: no usable polygon, box or baseline; line skipped.")
        return None
    strings = children(el, "String")
    text = " ".join(s.get("CONTENT") or "" for s in strings)
    hyp = child(el, "HYP")
    if hyp is not None and hyp.get("CONTENT"):
        text += hyp.get("CONTENT")
    text = normalize_text(text)
    wcs = [v for v in (_float(s.get("WC")) for s in strings) if v is not None]
    line = Line(id=line_id, polygon=polygon or [], baseline=baseline, text=text)
    line.confidence = min(max(sum(wcs) / len(wcs), 0.0), 1.0) if wcs else None
    line.origin = Origin.PERSON if text else Origin.NONE
    line.line_type = _tag_label(el, tags)
    return line


def _image_name(root: etree._Element, path: Path, notes: Notes) -> str:
    desc = child(root, "Description")
    info = child(desc, "sourceImageInformation") if desc is not None else None
    fname = child(info, "fileName") if info is not None else None
    if fname is not None and fname.text and fname.text.strip():
        return fname.text.strip()
    for suffix in IMAGE_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.exists():
            return candidate.name
    notes.add("no sourceImageInformation/fileName; the image must be chosen by hand.")
    return ""


def _reading_order(root: etree._Element) -> list[str]:
    ro = child(root, "ReadingOrder")
    if ro is None:
        return []
    return [el.get("REF") for el in ro.iter() if local_name(el) == "ElementRef" and el.get("REF")]


def read_alto(root: etree._Element, path: Path) -> Page:
    """Build a Page from a parsed ALTO root (see :func:`engine.formats.read_document`)."""
    name = str(path)
    notes = Notes(name)
    desc = child(root, "Description")
    unit = child(desc, "MeasurementUnit") if desc is not None else None
    if unit is not None and (unit.text or "").strip() not in ("", "pixel"):
        raise FormatError(f"{name}: ALTO measurement unit {unit.text.strip()!r} is not "
                          "supported; only 'pixel' coordinates can be read.")
    layout = child(root, "Layout")
    pages = children(layout, "Page") if layout is not None else []
    if not pages:
        raise FormatError(f"{name}: ALTO file without Layout/Page; nothing to read.")
    if len(pages) > 1:
        notes.add(f"{len(pages)} pages in one ALTO file; only the first is read.")
    width, height = _size(pages[0], name)
    tags: dict[str, str] = {}
    tags_el = child(root, "Tags")
    if tags_el is not None:
        for tag in tags_el:
            if tag.get("ID") and tag.get("LABEL"):
                tags[tag.get("ID")] = tag.get("LABEL")

    page = Page(image_filename=_image_name(root, path, notes), width=width, height=height,
                metadata={"format": "alto", "namespace": namespace(root)})
    page.source_path = path
    regions, found_lines = [], 0
    for block in descendants(pages[0], "TextBlock"):
        block_id = block.get("ID") or ""
        region = Region(id=block_id, polygon=_polygon(block, f"block {block_id}", notes) or [])
        region.region_type = _tag_label(block, tags)
        line_els = children(block, "TextLine")
        found_lines += len(line_els)
        region.lines = [ln for ln in (_read_line(el, tags, notes) for el in line_els) if ln]
        if not region.polygon and not region.lines:
            notes.add(f"block {block_id}: no usable polygon and no lines; block skipped.")
            continue
        regions.append(region)
    return finish_page(page, regions, _reading_order(root), found_lines, notes)
