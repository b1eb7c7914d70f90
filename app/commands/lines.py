"""``htrjand lines FILE.xml... --out DIR``: cut line images + ``.gt.txt`` (a training data set).

Each text line becomes ``<page stem>_<line id>.png`` (greyscale, fixed height, the same
engine function recognition and training use) with its transcription in ``.gt.txt`` beside it
(the layout kraken's ketos and Calamari read). A page whose image is missing or corrupt is
reported and skipped; the other pages are still written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import HtrError, ImageError
from engine.formats import read_document


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lines",
        help="cut line images with .gt.txt transcriptions out of pages (a training set)",
        description="Write one PNG per text line and its text as .gt.txt into DIR.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.xml")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="DIR")
    parser.add_argument("--height", type=int, default=64, help="line image height in pixels")
    parser.add_argument(
        "--all", action="store_true", help="also write lines without text (no .gt.txt for them)"
    )
    parser.set_defaults(func=run)


def safe_name(text: str) -> str:
    """A file-name-safe version of an id (letters, digits, '-', '_', '.')."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def export_page_lines(xml_path: Path, out: Path, height: int, include_empty: bool) -> int:
    """Write the line images of one page; return how many were written."""
    import cv2  # imported here: keeps `htrjand --help` fast

    from engine.imaging import load_image
    from engine.recognition.lines import cut_lines

    page = read_document(xml_path)
    image_path = page.image_path()
    if not image_path.exists():
        raise ImageError(f"{xml_path}: its image {page.image_filename} was not found at {image_path}.")
    image = load_image(image_path, mode="L")
    written = 0
    stem = safe_name(Path(xml_path).stem)
    lines = [ln for ln in page.lines() if ln.text or include_empty]
    # The recognizer's own cutting (line spacing of each region as scale), so a data set made
    # here matches what the recognizer sees.
    for line, crop in zip(lines, cut_lines(page, image, height, lines)):
        if crop is None:
            print(f"htrjand: skipped line {line.id} of {xml_path}: unusable geometry", file=sys.stderr)
            continue
        ok, png = cv2.imencode(".png", crop)
        if not ok:
            raise ImageError(f"Could not encode line {line.id} of {xml_path} as PNG.")
        base = out / f"{stem}_{safe_name(line.id)}"
        atomic_write_bytes(base.with_suffix(".png"), png.tobytes())
        if line.text:
            atomic_write_text(base.with_suffix(".gt.txt"), line.text + "\n")
        written += 1
    return written


def run(args: argparse.Namespace) -> int:
    if args.height < 8:
        raise HtrError("--height must be at least 8 pixels.")
    args.out.mkdir(parents=True, exist_ok=True)
    total, failed = 0, 0
    for xml_path in args.files:
        try:
            n = export_page_lines(xml_path, args.out, args.height, args.all)
        except HtrError as exc:
            failed += 1
            print(f"htrjand: error: {exc}", file=sys.stderr)
            continue
        total += n
        print(f"{xml_path}: {n} lines")
    print(f"{total} line images written to {args.out}" + (f"; {failed} files failed" if failed else ""))
    return 2 if failed and not total else (1 if failed else 0)
