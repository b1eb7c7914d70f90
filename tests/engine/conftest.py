"""Fixtures for engine tests: the XSDs the formats must validate against."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_schemas_path() -> Path:
    """``$HTRJAND_SHARED_SCHEMAS``, else ``schemas`` beside ``$HTRJAND_SHARED_DATA``, else
    ``../shared/schemas`` beside the checkout (the first that exists)."""
    if os.environ.get("HTRJAND_SHARED_SCHEMAS"):
        return Path(os.environ["HTRJAND_SHARED_SCHEMAS"])
    candidates = [REPO.parent / "shared" / "schemas"]
    if os.environ.get("HTRJAND_SHARED_DATA"):
        candidates.insert(0, Path(os.environ["HTRJAND_SHARED_DATA"]).parent / "schemas")
    return next((c for c in candidates if c.is_dir()), candidates[0])


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    path = shared_schemas_path()
    if not (path / "pagecontent-2019-07-15.xsd").is_file():
        pytest.skip(f"XSD schemas not found at {path} (set HTRJAND_SHARED_SCHEMAS)")
    return path


@pytest.fixture(scope="session")
def page_xsd(schemas_dir: Path) -> Path:
    return schemas_dir / "pagecontent-2019-07-15.xsd"


@pytest.fixture(scope="session")
def alto_xsd(schemas_dir: Path) -> Path:
    path = schemas_dir / "alto-4-4.xsd"
    if not path.is_file():
        pytest.skip(f"ALTO schema not found at {path}")
    return path
