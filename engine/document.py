"""The document model: the one vocabulary of the code base.

A ``Page`` holds its image reference and size, text regions in reading order, and metadata.
A ``Region`` holds text lines in reading order. A ``Line`` holds geometry (polygon, baseline) in
integer page pixels, its text, confidences, a pending post-correction suggestion, and where its
text came from (nobody, a model, a person). Formats convert to and from this model; nothing else
parses XML.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterator

Point = tuple[int, int]


class Origin(str, Enum):
    """Who wrote a line's text: nobody yet, a recognition model, a post-correction suggestion
    applied unattended (``recognize --postcorrect``; the recognizer's text stays in
    ``Line.model_text``), or a person (ground truth, or a suggestion a person accepted)."""

    NONE = "none"
    MODEL = "model"
    SUGGESTION = "suggestion"
    PERSON = "person"


def normalize_text(text: str) -> str:
    """Unicode normalisation used everywhere text is stored or compared: NFC, NBSP -> space.

    Also turns other Unicode space characters into a plain space and strips line breaks, since a
    text line holds one line of text.
    """
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        if ch in "\r\n\t" or (unicodedata.category(ch) == "Zs" and ch != " "):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Line:
    """A text line: geometry in page pixels plus its transcription."""

    id: str
    polygon: list[Point] = field(default_factory=list)
    baseline: list[Point] = field(default_factory=list)
    text: str = ""
    confidence: float | None = None
    char_confidences: list[float] | None = None
    origin: Origin = Origin.NONE
    line_type: str | None = None
    suggestion: str | None = None
    model_text: str | None = None  # raw recognizer output kept when a person or a suggestion
    # replaced it
    custom: str | None = None  # e.g. Transkribus "readingOrder {index:0;}" kept for round trips

    def bbox(self) -> tuple[int, int, int, int]:
        """Bounding box (x0, y0, x1, y1) of polygon and baseline together."""
        pts = list(self.polygon) + list(self.baseline)
        if not pts:
            return (0, 0, 0, 0)
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass
class Region:
    """A text region with its lines in reading order."""

    id: str
    polygon: list[Point] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    region_type: str | None = None
    custom: str | None = None


@dataclass
class Page:
    """One page: image reference and size, regions in reading order, metadata."""

    image_filename: str
    width: int
    height: int
    regions: list[Region] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    source_path: Path | None = None  # the XML file this page was read from, if any

    def lines(self) -> Iterator[Line]:
        """All lines of the page in reading order."""
        for region in self.regions:
            yield from region.lines

    def line_by_id(self, line_id: str) -> Line | None:
        return next((ln for ln in self.lines() if ln.id == line_id), None)

    def region_of(self, line: Line) -> Region | None:
        return next((r for r in self.regions if any(ln is line for ln in r.lines)), None)

    def image_path(self) -> Path:
        """The image file this page refers to, resolved against the XML's folder.

        Projects keep XML in ``page/`` beside the images, so the parent folder is tried too.
        """
        name = Path(self.image_filename)
        if name.is_absolute() or self.source_path is None:
            return name
        base = self.source_path.parent
        for folder in (base, base.parent):
            candidate = folder / name
            if candidate.exists():
                return candidate
        return base / name

    def counts(self) -> dict[str, int]:
        """Numbers an archivist asks for first: regions, lines, characters."""
        lines = list(self.lines())
        return {
            "regions": len(self.regions),
            "lines": len(lines),
            "chars": sum(len(ln.text) for ln in lines),
        }

    def text(self) -> str:
        """Page text in reading order: one line per text line, a blank line between regions."""
        blocks = ["\n".join(ln.text for ln in r.lines) for r in self.regions if r.lines]
        return "\n\n".join(blocks)

    def unique_id(self, prefix: str = "l") -> str:
        """An id not used yet by any region or line of this page (NCName-safe)."""
        used = {r.id for r in self.regions} | {ln.id for ln in self.lines()}
        n = len(used) + 1
        while f"{prefix}{n}" in used:
            n += 1
        return f"{prefix}{n}"
