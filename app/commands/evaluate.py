"""``htrjand eval --model DIR PAGES...``: CER and WER of a model on transcribed pages.

PAGES are PAGE-XML/ALTO files, or split lists (``.txt``, one page path per line relative to
the list). Rates are printed per file set (the split list, or the folder of the files) and
in total; the reference is each line's existing text. ``--by-page`` also lists every page,
worst first, with its share of all the character errors: where a model (or a hand) needs
the most correction."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.commands.options import add_beam_argument

from engine.formats import read_document
from engine.metrics import ErrorRates


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="CER and WER of a model on transcribed pages",
                                   description=__doc__)
    parser.add_argument("pages", nargs="+", type=Path, metavar="PAGES")
    parser.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    add_beam_argument(parser)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--by-page", action="store_true",
                        help="also list each page's CER, worst first, with its share of the errors")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def file_sets(paths: list[Path]) -> dict[str, list[Path]]:
    """Group page files by the split list that names them, or else by their folder."""
    sets: dict[str, list[Path]] = {}
    for p in paths:
        if p.suffix.lower() == ".txt":
            names = [n.strip() for n in p.read_text().splitlines() if n.strip()]
            sets.setdefault(f"{p.parent.name}/{p.stem}", []).extend(p.parent / n for n in names)
        else:
            sets.setdefault(p.parent.name or ".", []).append(p)
    return sets


def run(args: argparse.Namespace) -> int:
    from engine.imaging import load_image
    from engine.recognition import Recognizer
    from engine.recognition.lines import cut_lines

    recognizer = Recognizer(args.model, args.device, beam=args.beam)
    report: dict[str, dict] = {}
    total = ErrorRates()
    by_page: list[tuple[str, ErrorRates]] = []
    for name, files in file_sets(args.pages).items():
        rates = ErrorRates()
        for path in files:
            page = read_document(path)
            lines = [ln for ln in page.lines() if ln.text.strip()]
            crops = cut_lines(page, load_image(page.image_path()), recognizer.height, lines)
            usable = [(ln, c) for ln, c in zip(lines, crops) if c is not None]
            results = recognizer.recognize_images([c for _, c in usable])
            own = ErrorRates()
            for (ln, _), res in zip(usable, results):
                for each in (rates, total, own):
                    each.add(ln.text, res.text)
            by_page.append((str(path), own))
        report[name] = {"pages": len(files), "lines": rates.lines, "cer": rates.cer,
                        "wer": rates.wer}
    report["total"] = {"pages": sum(r["pages"] for r in report.values()), "lines": total.lines,
                       "cer": total.cer, "wer": total.wer}
    pages = page_rows(by_page, total.char_errors) if args.by_page else []
    if args.json:
        out = {"model": recognizer.card["name"], "sets": report}
        if args.by_page:
            out["pages"] = pages
        print(json.dumps(out, indent=1))
        return 0
    print(f"model {recognizer.card['name']} ({recognizer.model.dir}), "
          f"{recognizer.decoding} decoding")
    for name, r in report.items():
        print(f"{name:30s} {r['pages']:4d} pages {r['lines']:5d} lines  "
              f"CER {r['cer']:7.2%}  WER {r['wer']:7.2%}")
    if pages:
        print("\npages, worst first (share: of all the character errors)")
        for r in pages:
            print(f"{r['page']}  {r['lines']:4d} lines  CER {r['cer']:7.2%}  "
                  f"WER {r['wer']:7.2%}  share {r['share']:6.1%}")
    return 0


def page_rows(by_page: list[tuple[str, ErrorRates]], all_errors: int) -> list[dict]:
    """One row per page, the most character errors first: lines, CER, WER and the page's
    share of ``all_errors``."""
    rows = [{"page": path, "lines": r.lines, "cer": r.cer, "wer": r.wer,
             "char_errors": r.char_errors, "share": r.char_errors / max(1, all_errors)}
            for path, r in by_page]
    return sorted(rows, key=lambda r: (-r["char_errors"], r["page"]))
