"""``htrjand recognize PAGE.xml [-o OUT] [--model DIR] [--beam N] [--postcorrect]``: fill in
the text of a page's existing lines with a recognition model and write PAGE-XML atomically (in
place, an ALTO input stays ALTO).

Lines a person transcribed or corrected (origin "person") are kept unless ``--overwrite``.
``--postcorrect`` then applies the post-correction suggestions that pass the model's thresholds
(origin "suggestion"; the recognizer's own text is kept as a second TextEquiv, index 2, in
PAGE-XML). Asking for it without a usable post-correction model is an error (exit 2) before
anything is recognised."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.options import add_beam_argument

from engine.formats import read_document, write_alto, write_page_xml


def _is_alto(path: Path) -> bool:
    from engine.formats.alto_read import is_alto_root
    from engine.formats.xml_safe import parse_xml_file

    return is_alto_root(parse_xml_file(path))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recognize", help="fill in the text of a page's lines with a recognition model",
        description=__doc__)
    parser.add_argument("page", type=Path, metavar="PAGE.xml", help="PAGE-XML or ALTO file")
    parser.add_argument("-o", "--output", type=Path,
                        help="PAGE-XML to write (default: the input file, in place)")
    parser.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    add_beam_argument(parser)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--overwrite", action="store_true",
                        help="also replace text a person wrote or corrected")
    parser.add_argument("--postcorrect", action="store_true",
                        help="apply the post-correction suggestions that pass the thresholds")
    parser.add_argument("--postcorrect-model", type=Path, metavar="DIR",
                        help="post-correction model folder (default: the bundled one; "
                             "implies --postcorrect)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.recognition import Recognizer

    page = read_document(args.page)
    corrector = None
    if args.postcorrect or args.postcorrect_model is not None:
        from engine.postcorrect import PostCorrector, resolve_postcorrect_dir

        corrector = PostCorrector(resolve_postcorrect_dir(args.postcorrect_model),
                                  device=args.device)
        if corrector.silent:
            from engine.postcorrect.corrector import SILENT_NOTE

            print(SILENT_NOTE, file=sys.stderr)
            corrector = None
    recognizer = Recognizer(args.model, args.device, beam=args.beam)
    lines = list(page.lines())
    kept = sum(1 for ln in lines if ln.origin.value == "person") if not args.overwrite else 0
    recognizer.recognize_page(page, overwrite=args.overwrite)
    applied = None
    if corrector is not None:
        from engine.postcorrect import apply_suggestions

        applied = apply_suggestions(page, corrector)
    out = args.output or args.page
    if args.output is None and _is_alto(args.page):
        write_alto(page, out)  # in place: keep the file's format
    else:
        write_page_xml(page, out)
    skipped = page.metadata.get("recognition_skipped", "0")
    print(f"{out}: {len(lines) - kept - int(skipped)} lines recognised with "
          f"{recognizer.card['name']} ({recognizer.decoding}), "
          f"{kept} person-corrected lines kept, "
          f"{skipped} lines without usable geometry"
          + (f", {applied} post-correction suggestions applied with {corrector.name}"
             if corrector is not None else ""), file=sys.stderr)
    return 0
