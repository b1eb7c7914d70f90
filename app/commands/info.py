"""``htrjand info FILE.xml...``: pages, regions, lines and characters of PAGE-XML / ALTO files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.formats import read_document


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="count pages, regions, lines and characters in PAGE-XML/ALTO files",
        description="Read PAGE-XML (2013/2019) or ALTO v4 files and print what they hold.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.xml")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for path in args.files:
        page = read_document(path)
        counts = page.counts()
        lines = list(page.lines())
        rows.append(
            {
                "file": str(path),
                "image": page.image_filename,
                "size": f"{page.width}x{page.height}",
                "regions": counts["regions"],
                "lines": counts["lines"],
                "lines_with_text": sum(1 for ln in lines if ln.text),
                "chars": counts["chars"],
            }
        )
    totals = {k: sum(r[k] for r in rows) for k in ("regions", "lines", "lines_with_text", "chars")}
    if args.json:
        print(json.dumps({"pages": len(rows), **totals, "files": rows}, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(
            f"{r['file']}: image {r['image']} ({r['size']}), {r['regions']} regions, "
            f"{r['lines']} lines ({r['lines_with_text']} with text), {r['chars']} chars"
        )
    if len(rows) > 1:
        print(
            f"total: {len(rows)} pages, {totals['regions']} regions, {totals['lines']} lines, "
            f"{totals['chars']} chars"
        )
    return 0
