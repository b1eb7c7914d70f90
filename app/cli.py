"""The ``htrjand`` command line: a thin shell over the engine.

Each sub-command lives in ``app/commands/<name>.py`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func=run`` where ``run(args) -> int``. Engine errors become one clear
message on stderr and exit status 2; nothing prints a traceback at a person.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from engine import __version__
from engine.errors import CancelledError, HtrError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered sub-command."""
    from app.commands import COMMAND_MODULES

    parser = argparse.ArgumentParser(
        prog="htrjand",
        description="HTR-JAND Studio: transcribe historical handwriting on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"htrjand {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``htrjand`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except CancelledError:
        print("htrjand: cancelled.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("htrjand: interrupted; files already written are complete.", file=sys.stderr)
        return 130
    except HtrError as exc:
        print(f"htrjand: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
