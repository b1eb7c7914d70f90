"""Transkribus-style ``custom`` attributes: ``readingOrder {index:0;} structure {type:heading;}``.

Only the entries we understand are read or changed; everything else in the string is kept
verbatim so round trips through our writer do not lose other tools' data. Values containing
``; { } : \\`` are escaped as ``\\uXXXX`` (as Transkribus does) when written.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"([A-Za-z_][\w.-]*)\s*\{([^}]*)\}")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SPECIAL = set(";{}\\")


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def _escape(value: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if c in _SPECIAL else c for c in value)


def _parse_body(body: str) -> list[tuple[str, str]]:
    items = []
    for part in body.split(";"):
        if ":" not in part:
            continue
        key, value = part.split(":", 1)
        if key.strip():
            items.append((key.strip(), value.strip()))
    return items


def custom_get(custom: str | None, tag: str, key: str) -> str | None:
    """The (unescaped) value of ``key`` in the first ``tag {...}`` entry, or None."""
    if not custom:
        return None
    for m in _TAG.finditer(custom):
        if m.group(1) == tag:
            for k, v in _parse_body(m.group(2)):
                if k == key:
                    return _unescape(v)
    return None


def custom_set(custom: str | None, tag: str, key: str, value: str | None) -> str | None:
    """Return ``custom`` with ``tag {key:value;}`` set (or removed when value is None).

    Other entries and keys are kept as they were. Returns None when nothing is left.
    """
    text = custom or ""
    for m in _TAG.finditer(text):
        if m.group(1) != tag:
            continue
        items = _parse_body(m.group(2))
        keys = [k for k, _ in items]
        if value is None:
            items = [(k, v) for k, v in items if k != key]
        elif key in keys:
            items = [(k, _escape(value) if k == key else v) for k, v in items]
        else:
            items.append((key, _escape(value)))
        if items:
            entry = f"{tag} {{" + "".join(f"{k}:{v};" for k, v in items) + "}"
        else:
            entry = ""
        text = text[: m.start()] + entry + text[m.end():]
        return _tidy(text)
    if value is None:
        return _tidy(text)
    entry = f"{tag} {{{key}:{_escape(value)};}}"
    return _tidy(f"{text} {entry}" if text.strip() else entry)


def _tidy(text: str) -> str | None:
    text = re.sub(r"\s{2,}", " ", text).strip()
    return text or None


def reading_order_index(custom: str | None) -> int | None:
    """The ``readingOrder {index:N;}`` value as an int, or None if absent or not a number."""
    value = custom_get(custom, "readingOrder", "index")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def structure_type(custom: str | None) -> str | None:
    """The ``structure {type:...;}`` value, or None."""
    value = custom_get(custom, "structure", "type")
    return value or None
