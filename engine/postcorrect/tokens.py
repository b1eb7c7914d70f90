"""Byte-level token ids of the post-corrector (ByT5 convention, no vocabulary file).

Ids: 0 pad (also the decoder's start token), 1 end of sequence, 2 unknown, 3..258 the UTF-8
bytes 0..255, and 259 the separator between the context (the previous line) and the line to
correct. The input is ``context bytes + [SEP] + line bytes + [EOS]``; the target is
``corrected line bytes + [EOS]``. The context keeps its last ``max_context`` bytes (cut at a
character boundary); a line longer than ``max_line`` bytes gets no input at all (None), so very
long lines are left alone rather than truncated.
"""

from __future__ import annotations

PAD, EOS, UNK = 0, 1, 2
OFFSET = 3
SEP = 259
VOCAB_SIZE = 260
MAX_CONTEXT_BYTES = 96
MAX_LINE_BYTES = 320


def _bytes_ids(text: str) -> list[int]:
    return [b + OFFSET for b in text.encode("utf-8")]


def _tail(text: str, max_bytes: int) -> bytes:
    """The last ``max_bytes`` bytes of ``text`` in UTF-8, never starting inside a character."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return data
    data = data[len(data) - max_bytes:]
    while data and (data[0] & 0xC0) == 0x80:  # a continuation byte: drop it
        data = data[1:]
    return data


def encode_input(line: str, context: str = "", *, max_context: int = MAX_CONTEXT_BYTES,
                 max_line: int = MAX_LINE_BYTES) -> list[int] | None:
    """Encoder ids for ``line`` with ``context`` before it; None when the line is too long."""
    body = line.encode("utf-8")
    if len(body) > max_line:
        return None
    ctx = _tail(context, max_context) if max_context > 0 else b""
    return [b + OFFSET for b in ctx] + [SEP] + [b + OFFSET for b in body] + [EOS]


def encode_target(text: str) -> list[int]:
    """Decoder labels for ``text``: its bytes and EOS."""
    return _bytes_ids(text) + [EOS]


def decode(ids: list[int] | tuple[int, ...]) -> str | None:
    """Text of generated ids up to the first EOS; None if the bytes are not valid UTF-8 (a
    model that produced broken characters suggests nothing)."""
    out = bytearray()
    for i in ids:
        if i == EOS:
            break
        if OFFSET <= i < OFFSET + 256:
            out.append(i - OFFSET)
        elif i == PAD:
            continue
        else:
            return None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None
