"""Where the bundled resources are: ``resources/`` beside the packages in a checkout, or inside
the PyInstaller folder (``sys._MEIPASS``) in a built application. Read-only: never write here.

    models = resource_path("models")            # bundled recognition models
    sample = resource_path("samples", "poilus")  # the sample project
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Overrides the resources folder (tests, or a build whose resources lie elsewhere).
RESOURCES_ENV = "HTRJAND_RESOURCES"


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path:
    """The folder holding ``models/`` and ``samples/`` (it may be read-only)."""
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(*parts: str) -> Path:
    """A path inside the resources folder (not checked for existence)."""
    return resources_dir().joinpath(*parts)
