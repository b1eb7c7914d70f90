"""Warnings about document content that was skipped or repaired while reading or writing.

Readers collect their notes and store them, one per line, in ``page.metadata["warnings"]``; every
note is also issued as a :class:`FormatWarning` through :mod:`warnings` so a caller can log or
escalate them.
"""

from __future__ import annotations

import warnings

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
