"""Document formats: PAGE-XML and ALTO in and out, plain-text export.

``read_document(path)`` detects the format from the root element and namespace. Writers are
strict (PAGE-XML 2019-07-15 and ALTO v4 that validate against their schemas) and atomic.
Nothing else in the code base parses or writes these files.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.document import Page
from engine.errors import FormatError
from engine.formats.alto import alto_bytes, write_alto
from engine.formats.alto_read import is_alto_root, read_alto
from engine.formats.notes import FormatWarning
from engine.formats.page_read import is_page_root, read_page_xml
from engine.formats.page_xml import page_xml_bytes, write_page_xml
from engine.formats.txt import page_text, pages_text, write_txt
from engine.formats.xml_safe import local_name, namespace, parse_xml_file

FORMATS = ("page", "alto", "txt")
SUFFIXES = {"page": ".xml", "alto": ".xml", "txt": ".txt"}

__all__ = [
    "FORMATS", "SUFFIXES", "FormatWarning", "alto_bytes", "page_text", "page_xml_bytes",
    "pages_text", "read_document", "write_alto", "write_document", "write_page_xml", "write_txt",
]


def read_document(path: str | os.PathLike[str]) -> Page:
    """Read a PAGE-XML (any PRImA namespace) or ALTO file into a Page.

    Raises FormatError naming the file and the problem when it cannot be used. Parts that are
    unusable but not essential are skipped; their warnings are in ``page.metadata["warnings"]``
    and issued as :class:`FormatWarning`.
    """
    p = Path(path)
    root = parse_xml_file(p)
    if is_page_root(root):
        return read_page_xml(root, p)
    if is_alto_root(root):
        return read_alto(root, p)
    ns = namespace(root)
    raise FormatError(
        f"{p}: unknown document kind: root element <{local_name(root)}>"
        + (f" in namespace {ns!r}" if ns else " without namespace")
        + "; expected PAGE-XML (<PcGts>, PRImA namespace) or ALTO (<alto>)."
    )


def write_document(page: Page, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``page`` to ``path`` as ``fmt`` (one of FORMATS), atomically."""
    key = (fmt or "").lower().strip()
    if key in ("page", "pagexml", "page-xml", "xml"):
        return write_page_xml(page, path)
    if key == "alto":
        return write_alto(page, path)
    if key in ("txt", "text"):
        return write_txt(page, path)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
