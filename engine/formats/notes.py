"""Warnings about document content that was skipped or repaired while reading or writing.

Readers collect their notes and store them, one per line, in ``page.metadata["warnings"]``; every
note is also issued as a :class:`FormatWarning` through :mod:`warnings` so a caller can log or
escalate them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from engine.errors import FormatError

if TYPE_CHECKING:
    from engine.document import Page, Region

WARNINGS_KEY = "warnings"


class FormatWarning(UserWarning):
    """Part of a document was unusable and was skipped or repaired."""


class Notes:
    """Collects warnings for one file; ``name`` prefixes every message."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        text = f"{self.name}: {message}"
        self.messages.append(text)
        warnings.warn(text, FormatWarning, stacklevel=3)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def store(self, metadata: dict[str, str]) -> None:
        """Put the collected messages into ``metadata['warnings']`` (nothing if none)."""
        if self.messages:
            metadata[WARNINGS_KEY] = "\n".join(self.messages)


def finish_page(page: "Page", regions: list["Region"], order: list[str], found_lines: int,
                notes: Notes) -> "Page":
    """Put ``regions`` into reading order, refuse a page whose lines were all unusable, and
    store the notes: the last step every reader shares.

    ``order`` lists region ids in reading order; regions not listed follow in document order.
    """
    rank = {ref: i for i, ref in reversed(list(enumerate(order)))}
    page.regions = sorted(regions, key=lambda r: rank.get(r.id, len(order)))  # stable sort
    if found_lines and not any(True for _ in page.lines()):
        raise FormatError(
            f"{notes.name}: none of the {found_lines} text lines has usable coordinates:\n"
            + "\n".join(notes.messages[:5])
        )
    notes.store(page.metadata)
    return page
