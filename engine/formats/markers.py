"""How our own fields, which PAGE-XML has no element for, are stored and read back.

- ``Line.model_text`` (the raw recognizer text, kept when a person or a suggestion replaced
  it): a ``TextEquiv index="2" comments="htrjand:model-output"``.
- ``Line.suggestion`` (a pending post-correction suggestion): a ``TextEquiv index="1"
  comments="htrjand:suggestion"``.
- ``Line.origin``: ``UserDefined/UserAttribute name="htrjand:origin"`` (none / model /
  suggestion / person).
- ``Line.char_confidences``: ``UserAttribute name="htrjand:char-confidences"``, space-separated
  floats (Python ``repr``, so they read back exactly).
- ``Line.line_type`` / ``Region.region_type``: Transkribus ``custom="structure {type:...;}"``
  (regions also get PAGE's ``@type`` when the value is one PAGE knows).

The main text is always ``TextEquiv index="0"`` (first), so other tools read it as usual. Our
TextEquivs are recognised by their comments, not their index: files written before the indexes
were swapped (model output at 1, suggestion at 2) read the same.
"""

from __future__ import annotations

import math

from engine.document import Origin

PREFIX = "htrjand:"
MODEL_TEXT = "model-output"
SUGGESTION = "suggestion"
ORIGIN_ATTR = PREFIX + "origin"
CHAR_CONF_ATTR = PREFIX + "char-confidences"
TEXT_EQUIV_INDEX = {SUGGESTION: 1, MODEL_TEXT: 2}


def comment_kind(comments: str | None) -> str | None:
    """``model-output`` / ``suggestion`` for our marked TextEquivs, None for ordinary ones."""
    if comments and comments.startswith(PREFIX):
        kind = comments[len(PREFIX):].strip()
        if kind in TEXT_EQUIV_INDEX:
            return kind
    return None


def comment_for(kind: str) -> str:
    return PREFIX + kind


def parse_origin(value: str | None, text: str) -> Origin:
    """Our marker if present and valid; else PERSON for a line with text, NONE without."""
    if value is not None:
        try:
            return Origin(value.strip().lower())
        except ValueError:
            pass
    return Origin.PERSON if text else Origin.NONE


def format_char_confidences(values: list[float]) -> str:
    return " ".join(repr(float(v)) for v in values)


def parse_char_confidences(value: str) -> list[float] | None:
    try:
        out = [float(v) for v in value.split()]
    except ValueError:
        return None
    return out if all(math.isfinite(v) for v in out) else None
