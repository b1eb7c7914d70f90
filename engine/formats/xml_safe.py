"""Safe XML parsing for document files, with errors a person can act on.

Every XML file the engine reads goes through :func:`parse_xml_file` or :func:`parse_xml_bytes`:
entities are not expanded, no DTD is loaded, nothing is fetched from the network. Failures raise
:class:`engine.errors.FormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from engine.errors import FormatError

_NON_XML_CHARS = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (most control characters)."""
    return _NON_XML_CHARS.sub("", text)


def safe_parser() -> etree.XMLParser:
    """A parser that never expands entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def read_file_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a document file; FormatError if missing, unreadable or empty."""
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: file not found.")
    if p.is_dir():
        raise FormatError(f"{p}: is a folder, not a PAGE-XML or ALTO file.")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"{p}: cannot be read ({exc.strerror or exc}).") from exc
    if not data.strip():
        raise FormatError(f"{p}: the file is empty; expected a PAGE-XML or ALTO document.")
    return data


def parse_xml_bytes(data: bytes, name: str = "<document>") -> etree._Element:
    """Parse ``data`` safely and return the root element; ``name`` is used in messages."""
    if not data.strip():
        raise FormatError(f"{name}: the file is empty; expected a PAGE-XML or ALTO document.")
    head = data.lstrip()[:1]
    if head not in (b"<", b"\xef") and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormatError(
            f"{name}: not an XML file (it does not start with '<'); "
            "expected a PAGE-XML or ALTO document."
        )
    try:
        root = etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        msg = str(exc.msg if getattr(exc, "msg", None) else exc)
        hint = ""
        low = msg.lower()
        if "premature end" in low or "extra content" in low or "not properly terminated" in low:
            hint = " The file looks truncated or damaged (was it copied completely?)."
        elif "entity" in low:
            hint = " The file uses XML entities, which are not expanded for safety."
        raise FormatError(f"{name}: malformed XML ({msg}).{hint}") from exc
    except ValueError as exc:  # e.g. unicode strings with encoding declaration
        raise FormatError(f"{name}: cannot be parsed as XML ({exc}).") from exc
    if root is None:
        raise FormatError(f"{name}: no XML root element found.")
    return root


def parse_xml_file(path: str | os.PathLike[str]) -> etree._Element:
    """Read and safely parse a document file; return its root element."""
    return parse_xml_bytes(read_file_bytes(path), str(path))


def local_name(el: etree._Element) -> str:
    """The element's tag without namespace ('' for comments and processing instructions)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(el: etree._Element) -> str:
    """The element's namespace URI ('' when it has none)."""
    tag = el.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""


def children(el: etree._Element, name: str) -> list[etree._Element]:
    """Direct child elements with local name ``name`` (any namespace), in document order."""
    return [c for c in el if local_name(c) == name]


def child(el: etree._Element, name: str) -> etree._Element | None:
    """The first direct child element with local name ``name``, or None."""
    for c in el:
        if local_name(c) == name:
            return c
    return None


def descendants(el: etree._Element, name: str) -> list[etree._Element]:
    """All descendant elements with local name ``name`` (any namespace), in document order."""
    return [d for d in el.iter() if d is not el and local_name(d) == name]


def element_text(el: etree._Element) -> str:
    """The text directly inside ``el``, skipping child nodes such as unexpanded entity
    references (whose surrounding text is kept)."""
    parts = [el.text or ""]
    parts.extend(c.tail or "" for c in el)
    return "".join(parts)
