"""Make a page safe to write: valid unique ids, clamped geometry, no degenerate shapes.

Both XML writers call :func:`prepare_page`, which returns a cleaned *copy* (the caller's page is
never changed) plus the warnings about what was repaired or dropped:

- points are rounded and clamped into the image;
- a line polygon with fewer than 3 distinct points is replaced by a band around the baseline
  (height from the page's median line height); with no usable baseline either, the line is
  dropped; a baseline with fewer than 2 distinct points is omitted;
- a region polygon with fewer than 3 distinct points becomes its lines' bounding box; a region
  with neither is dropped;
- ids are kept when they are valid, unique NCNames, otherwise replaced.
"""

from __future__ import annotations

import numbers
import re
import statistics
import warnings
from dataclasses import dataclass, replace

from engine.document import Line, Page, Region
from engine.errors import FormatError
from engine.formats.geometry import bbox_polygon, usable_baseline, usable_polygon
from engine.geometry import clamp_points, polygon_from_baseline
from engine.formats.notes import FormatWarning

_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
DEFAULT_LINE_HEIGHT = 48


def is_ncname(value: str | None) -> bool:
    """True for ids usable as xsd:ID (ASCII subset of NCName)."""
    return bool(value) and bool(_NCNAME.match(value))


class IdMaker:
    """Hands out unique NCName ids, keeping wanted ones when they are valid and free."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def reserve(self, value: str) -> None:
        self.used.add(value)

    def make(self, wanted: str | None, prefix: str) -> str:
        base = _BAD_CHARS.sub("_", wanted or "")
        if not base or not _NCNAME.match(base):
            base = f"{prefix}_{base}" if base else prefix
        candidate, n = base, 1
        while candidate in self.used:
            n += 1
            candidate = f"{base}_{n}"
        self.used.add(candidate)
        return candidate


def _median_line_height(page: Page) -> float:
    heights = []
    for line in page.lines():
        if usable_polygon(line.polygon):
            ys = [p[1] for p in line.polygon]
            if max(ys) > min(ys):
                heights.append(max(ys) - min(ys))
    return float(statistics.median(heights)) if heights else float(DEFAULT_LINE_HEIGHT)


@dataclass
class Prepared:
    """A cleaned page copy, what was repaired, and the id maker (for writer-only ids)."""

    page: Page
    warnings: list[str]
    ids: IdMaker


def prepare_page(page: Page) -> Prepared:
    """A cleaned copy of ``page`` ready for a strict writer, and the warnings raised."""
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
               for v in (page.width, page.height)):
        raise FormatError(
            f"cannot write page {page.image_filename!r}: invalid image size "
            f"{page.width!r} x {page.height!r} (both must be positive integers)."
        )
    notes: list[str] = []
    w, h = int(page.width), int(page.height)
    band = _median_line_height(page)

    regions: list[Region] = []
    for region in page.regions:
        lines: list[Line] = []
        for line in region.lines:
            baseline = clamp_points(line.baseline, w, h)
            if not usable_baseline(baseline):
                baseline = []
            polygon = clamp_points(line.polygon, w, h)
            if not usable_polygon(polygon):
                if baseline:
                    polygon = polygon_from_baseline(baseline, 0.75 * band, 0.25 * band, w, h)
                if not usable_polygon(polygon):
                    notes.append(f"line {line.id!r}: no usable polygon or baseline; not written"
                                 f" (text: {(line.text or '')[:40]!r}).")
                    continue
                notes.append(f"line {line.id!r}: polygon derived from its baseline.")
            chars = list(line.char_confidences) if line.char_confidences is not None else None
            lines.append(replace(line, polygon=polygon, baseline=baseline, char_confidences=chars))
        polygon = clamp_points(region.polygon, w, h)
        if not usable_polygon(polygon):
            if not lines:
                notes.append(f"region {region.id!r}: no usable polygon and no lines; not written.")
                continue
            polygon = bbox_polygon([p for ln in lines for p in ln.polygon], w, h)
            notes.append(f"region {region.id!r}: polygon set to its lines' bounding box.")
        regions.append(replace(region, polygon=polygon, lines=lines))
    out = replace(page, width=w, height=h, regions=regions, metadata=dict(page.metadata))

    ids = IdMaker()
    items = [(r, "r") for r in regions] + [(ln, "l") for r in regions for ln in r.lines]
    keep = set()
    for obj, _ in items:  # first pass: valid unique ids win, in document order
        if is_ncname(obj.id) and obj.id not in ids.used:
            ids.reserve(obj.id)
            keep.add(id(obj))
    for obj, prefix in items:
        if id(obj) not in keep:
            new = ids.make(obj.id, prefix)
            notes.append(f"id {obj.id!r} is not a valid unique XML id; written as {new!r}.")
            obj.id = new
    for message in notes:
        warnings.warn(message, FormatWarning, stacklevel=3)
    return Prepared(out, notes, ids)
