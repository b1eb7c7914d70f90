"""``htrjand segment IMAGE... -o OUT``: find text regions and lines, write PAGE-XML per image.

Each image gets ``OUT/<image stem>.xml`` (written atomically) with its regions and lines in
reading order, each line with a baseline and a polygon. An image that cannot be read is
reported and skipped; the others are still written, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.errors import HtrError
from engine.formats import write_page_xml
from engine.segmentation import segment_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="find text regions and lines (baselines, polygons) in page images; write PAGE-XML",
        description="Segment page images into regions and lines in reading order; one PAGE-XML per image.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="DIR")
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="a segmentation model folder (default: the bundled baseline segmenter)")
    parser.add_argument("--classical", action="store_true",
                        help="use the classical (projection and ridge) segmenter, no learned model")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(args.images) == 1:  # one image: a bad one is simply the error
        return _one(args.images[0], args) or 0
    failed = 0
    for image in args.images:
        try:
            _one(image, args)
        except HtrError as exc:
            failed += 1
            print(f"htrjand: error: {exc}", file=sys.stderr)
    if failed and not args.quiet:
        print(f"{failed} of {len(args.images)} images failed.", file=sys.stderr)
    return 2 if failed else 0


def _one(image: Path, args: argparse.Namespace) -> int:
    start = time.perf_counter()
    page = segment_file(image, model_dir=args.model, classical=args.classical)
    target = args.out / f"{image.stem}.xml"
    write_page_xml(page, target)
    if not args.quiet:
        counts = page.counts()
        print(
            f"{image}: {counts['regions']} regions, {counts['lines']} lines -> {target} "
            f"({time.perf_counter() - start:.2f} s)"
        )
    return 0
