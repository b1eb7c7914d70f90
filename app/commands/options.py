"""Command-line options shared by several ``htrjand`` sub-commands."""

from __future__ import annotations

import argparse


def beam_width(text: str) -> int:
    """argparse type of ``--beam``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the beam width is at least 1 (1 = greedy), not {value}")
    return value


def add_beam_argument(parser: argparse.ArgumentParser) -> None:
    """``--beam N``: CTC beam width; left out, the model's own tuned decoding (the bundled
    model: beam 80 with its character language models)."""
    parser.add_argument("--beam", type=beam_width, default=None, metavar="N",
                        help="CTC beam width; 1 = greedy (faster, more errors). Default: the "
                             "model's tuned decoding (bundled model: beam 80 + character LM)")
