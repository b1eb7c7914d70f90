"""Validate XML against an XSD, offline: imports resolve only to files beside the schema.

``validate_xml(data, xsd_path)`` returns the list of validation errors (empty when valid). The
schemas are not bundled with the engine; pass their path (the project keeps them in
``../shared/schemas`` during development).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lxml import etree

from engine.errors import FormatError
from engine.formats.xml_safe import parse_xml_bytes


class _LocalResolver(etree.Resolver):
    """Maps any schemaLocation to a file of the same name in the schema's folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, url, pubid, context):  # noqa: D401 - lxml API
        name = (url or "").rstrip("/").rsplit("/", 1)[-1]
        local = self.folder / name
        if name and local.is_file():
            return self.resolve_filename(str(local), context)
        return None


@functools.lru_cache(maxsize=8)
def load_schema(xsd_path: str | os.PathLike[str]) -> etree.XMLSchema:
    """Load (once) an XSD with network access off and imports resolved locally."""
    path = Path(xsd_path)
    if not path.is_file():
        raise FormatError(f"{path}: schema file not found.")
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_LocalResolver(path.parent))
    doc = etree.parse(str(path), parser)
    return etree.XMLSchema(doc)


def validate_xml(data: bytes, xsd_path: str | os.PathLike[str]) -> list[str]:
    """Errors of ``data`` against the schema at ``xsd_path`` ("line N: message"); [] if valid."""
    schema = load_schema(str(xsd_path))
    root = parse_xml_bytes(data)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
