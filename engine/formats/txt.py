"""Plain-text export: UTF-8, NFC, one line per text line in reading order.

A blank line separates regions, and also pages when several are written to one file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from engine.atomic import atomic_write_text
from engine.document import Page, normalize_text


def page_text(page: Page) -> str:
    """The page's text: lines in reading order, a blank line between regions (no final newline)."""
    blocks = [
        "\n".join(normalize_text(ln.text or "") for ln in region.lines)
        for region in page.regions
        if region.lines
    ]
    return "\n\n".join(blocks)


def pages_text(pages: Iterable[Page]) -> str:
    """Several pages' text separated by a blank line, ending with one newline."""
    texts = [page_text(p) for p in pages]
    body = "\n\n".join(t for t in texts if t)
    return body + "\n" if body else ""


def write_txt(page_or_pages: Page | Iterable[Page], path: str | os.PathLike[str]) -> Path:
    """Write one page or several to ``path`` (UTF-8, Unix newlines) atomically."""
    pages = [page_or_pages] if isinstance(page_or_pages, Page) else list(page_or_pages)
    return atomic_write_text(path, pages_text(pages))
