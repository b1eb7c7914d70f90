"""``htrjand train``: train a teacher or a (distilled) student recognizer (needs PyTorch).

One run: ``htrjand train --model student --run-dir runs/student --time-budget-min 60 --export
DIR``; distil with ``--teacher runs/teacher/best.pt``; re-run the same command to resume.
The shipped model comes from ``python -m training.recipe`` (two phases of such runs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a recognizer (teacher, student, distil)",
                                   description=__doc__)
    try:
        from training.train import add_arguments
    except ImportError as exc:  # the package is there, torch may not be
        reason = str(exc)  # `exc` itself is unbound once the except block ends
        parser.set_defaults(func=lambda _a: _missing(reason))
        return
    add_arguments(parser)
    parser.set_defaults(func=run)


def _missing(reason: str) -> int:
    from engine.errors import HtrError

    raise HtrError(f"training needs PyTorch (pip install 'htrjand-studio[train]'): {reason}")


def run(args: argparse.Namespace) -> int:
    try:  # checked here: training.train imports torch only when it runs
        import torch  # noqa: F401
    except ImportError as exc:  # e.g. the desktop build, which leaves torch out (build.spec)
        return _missing(exc)
    from training.train import run as train_run

    return train_run(args)
