"""``htrjand finetune PROJECT_OR_PAGES... --minutes 5 --name NAME [--base MODEL]``: train the
recognizer further on the lines you corrected (and imported ground truth), on this machine.

Every 10th corrected line (at least 10) is held back to measure the character error rate before
and after; the result is a new model version in your model store (``htrjand models list``),
never an overwrite. Needs PyTorch."""

from __future__ import annotations

import argparse
import sys
import time

from engine.progress import format_duration


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="train on your corrected lines (new version)",
                                   description=__doc__)
    try:
        from training.finetune_config import add_arguments
    except ImportError as exc:  # torch missing (e.g. the desktop build)
        reason = str(exc)
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(func=lambda _a: _missing(reason))
        return
    add_arguments(parser)
    parser.set_defaults(func=run)


def _missing(reason: str) -> int:
    from engine.errors import HtrError

    raise HtrError(f"fine-tuning needs PyTorch (pip install 'htrjand-studio[train]'): {reason}")


class BarPrinter:
    """One progress line on stderr, rewritten in place on a terminal."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty, self.last = self.stream.isatty(), 0.0
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 2.0 and done < total:
            return
        self.last = now
        frac = done / total if total else 0.0
        bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
        line = f"[{bar}] {format_duration(now - self.start)} {message}"
        self.stream.write(("\r" + line[:110].ljust(110)) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def result_table(result: dict) -> str:
    """The before/after table printed at the end of a run."""
    rows = [("held-back lines", str(result["held_back_lines"]), ""),
            ("CER", f"{result['cer_before']:.2%}", f"{result['cer_after']:.2%}"),
            ("WER", f"{result['wer_before']:.2%}", f"{result['wer_after']:.2%}")]
    out = [f"{'':<16} {'before':>9} {'after':>9}"]
    out += [f"{name:<16} {a:>9} {b:>9}" for name, a, b in rows]
    rel = (1 - result["cer_after"] / result["cer_before"]) if result["cer_before"] else 0.0
    readings = result.get("reading_lines", 0)
    out.append(f"relative CER change: {-rel:+.0%}; {result['lines_used']} corrected lines"
               + (f" and {readings} read ones" if readings else "")
               + f" ({result['train_lines']} trained on), {result['seconds']:.0f} s of training on "
               f"the {result['path']} path, guard {result['guard']} ({result['stopped']})"
               + (f"; weights {result['interpolate']:.0%} fine-tuned, the rest the base's"
                  if result.get("interpolate", 1.0) < 1 else ""))
    if result.get("held_back_of") == "readings":
        out.append("the held-back lines are read, not corrected ones: their CER measures "
                   "agreement with the model's own readings, not accuracy")
    if result.get("new_characters"):
        out.append(f"new characters learnt: {''.join(result['new_characters'])}")
    out.append(f"new model version: {result['name']} ({result['model_dir']})")
    out.append(f"use it: htrjand models use {result['name']}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return _missing(str(exc))
    from training.finetune import resolve_base, run_finetune
    from training.finetune_config import config_from_args

    bar = BarPrinter()
    try:
        result = run_finetune(args.inputs, config_from_args(args), args.name,
                              resolve_base(args.base), args.teacher, bar)
    finally:
        bar.close()
    print(result_table(result))
    return 0
