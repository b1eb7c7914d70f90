"""Fixtures shared by every test package: where the real data and the sample live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "resources" / "samples" / "poilus"
SAMPLE_XML = SAMPLE_DIR / "ground-truth" / "TestamentsDePoilus_will_AN_0191-0.xml"
SAMPLE_IMAGE = SAMPLE_DIR / "TestamentsDePoilus_will_AN_0191-0.jpg"


def shared_data_path() -> Path:
    """``../shared/data`` beside the checkout, or ``$HTRJAND_SHARED_DATA``."""
    return Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set HTRJAND_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sample_xml() -> Path:
    return SAMPLE_XML


@pytest.fixture(scope="session")
def sample_image() -> Path:
    return SAMPLE_IMAGE
