"""``htrjand export FILE.xml --format page|txt|alto -o OUT``: convert a transcription."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.formats import FORMATS, read_document, write_document

SUFFIX = {"page": ".xml", "alto": ".xml", "txt": ".txt"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export PAGE-XML/ALTO files to PAGE-XML 2019, ALTO v4 or plain text",
        description=(
            "Convert one or more transcription files. With one input, OUT may be a file name; "
            "with several, OUT is a folder and each output is named after its input."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.xml")
    parser.add_argument("--format", "-f", choices=FORMATS, default="page", help="output format")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="file or folder")
    parser.set_defaults(func=run)


def output_path(source: Path, out: Path, fmt: str, several: bool) -> Path:
    """Where one input's export goes: OUT itself, or OUT/<stem><suffix> for a folder."""
    if several or out.is_dir() or str(out).endswith(("/", "\\")):
        return out / (source.stem + SUFFIX[fmt])
    return out


def run(args: argparse.Namespace) -> int:
    several = len(args.files) > 1
    for source in args.files:
        page = read_document(source)
        target = output_path(source, args.output, args.format, several)
        if target.resolve() == source.resolve():
            from engine.errors import StorageError

            raise StorageError(f"Refusing to overwrite the input {source}; choose another output.")
        write_document(page, target, args.format)
        print(f"{source} -> {target}")
    return 0
