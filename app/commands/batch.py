"""``htrjand batch IN... -o OUT [--segment] [--recognize] [--model NAME_OR_DIR]
[--workers N | --scheduler tcp://HOST:8786]``: process whole collections of page images.
``htrjand batch PROJECT --in-place ...`` updates a project's own ``page/`` folder instead.

Every image of the input folders (and every image file named) gets PAGE-XML in ``OUT/page/``
and plain text in ``OUT/txt/``, starting from its existing PAGE-XML where there is one
(``page/<stem>.xml`` or ground truth ``<stem>.xml`` beside the image). ``--segment`` segments
pages that have no lines yet; ``--recognize`` fills in the text of every line a person did not
write. Pages run on a local Dask cluster (one process per core by default) or on an existing
Dask cluster. Re-running skips finished pages and redoes changed ones (``OUT/manifest.jsonl``).
Ctrl-C stops after the pages being written (nothing partial is left); a re-run completes the
rest. The JSON summary (also in ``OUT/summary.json``) is printed at the end.

``--in-place``: the input is one project folder (images + ``page/<stem>.xml``); each page's
PAGE-XML is updated where it lies (lines a person corrected are kept), no text files are
written, and the manifest and summary live in ``PROJECT/.htrjand/``.

Exit status: 0 all pages done or skipped, 1 some pages failed (see the summary), 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from app.commands.options import add_beam_argument

from engine.progress import CancelToken


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="process whole collections of pages, resumable, locally or on Dask",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN",
                        help="folders of page images, or image files")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="output folder (page/, txt/, manifest.jsonl, summary.json)")
    parser.add_argument("--in-place", action="store_true",
                        help="update the PAGE-XML of one project folder where it lies "
                             "(instead of -o OUT)")
    parser.add_argument("--segment", action="store_true",
                        help="segment pages that have no lines yet")
    parser.add_argument("--recognize", action="store_true",
                        help="recognise the text of the lines (person-written lines are kept)")
    parser.add_argument("--postcorrect", action="store_true",
                        help="apply the post-correction suggestions that pass the model's "
                             "thresholds (the recognizer's text is kept in the PAGE-XML)")
    parser.add_argument("--postcorrect-model", metavar="DIR",
                        help="post-correction model folder (default: the bundled one; "
                             "implies --postcorrect)")
    parser.add_argument("--model", metavar="NAME_OR_DIR",
                        help="recognition model: folder or registered name (default: bundled)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                        help="where recognition runs on each worker (default: cpu)")
    add_beam_argument(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: one per CPU core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="an existing Dask scheduler; its workers must see the input paths")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.batch import BatchOptions, run_batch
    from engine.batch.layout import Layout
    from engine.errors import FormatError

    if args.in_place == (args.output is not None):
        raise FormatError("give an output folder (-o OUT) or --in-place, one of the two.")
    if args.in_place and (len(args.inputs) != 1 or not args.inputs[0].is_dir()):
        raise FormatError("--in-place takes one project folder (its images and page/ folder).")
    out = args.inputs[0] if args.in_place else args.output
    options = BatchOptions(in_place=args.in_place, segment=args.segment, recognize=args.recognize,
                           postcorrect=args.postcorrect or args.postcorrect_model is not None,
                           model=args.model, device=args.device, beam=args.beam,
                           postcorrect_model=args.postcorrect_model,
                           workers=args.workers, scheduler=args.scheduler)
    cancel = CancelToken()
    bar = ProgressBar(sys.stderr)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame) -> None:
        # First Ctrl-C: stop cleanly after the pages being written; a second one quits now.
        cancel.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        bar.note("stopping: no new pages; Ctrl-C again to quit at once")

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        summary = run_batch(args.inputs, out, options, progress=bar, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish()
    print(summary.to_json())
    if summary.cancelled:
        print(f"htrjand: stopped; {summary.done} pages written. Run the same command again to "
              "complete the rest.", file=sys.stderr)
        return 130
    if summary.failed:
        print(f"htrjand: {summary.failed} of {summary.total} pages failed; their reasons are in "
              f"{Layout(out, args.in_place).summary_path}.", file=sys.stderr)
        return 1
    return 0


class ProgressBar:
    """A one-line bar on a terminal; on a pipe or file, a plain line every few seconds."""

    WIDTH = 28

    def __init__(self, stream, every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, message: str = "") -> None:
        fraction = done / total if total else 1.0
        now = time.monotonic()
        if self.tty:
            filled = int(round(fraction * self.WIDTH))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} {message[:70]:<70}")
            self.drawn = True
        elif done == total or now - self.last >= self.every_s:
            self.stream.write(f"{done}/{total} pages ({fraction:.0%}) {message}\n")
            self.last = now
        self.stream.flush()

    def note(self, text: str) -> None:
        self.finish()
        self.stream.write(f"htrjand: {text}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
