"""What the window needs at start: where the user's data lives (platformdirs, never the install
folder), the sample project copied there, and whether a recognition model is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

from platformdirs import user_data_path

from engine.errors import ModelError, StorageError
from engine.resources import resource_path

APP_DIR_NAME = "htrjand-studio"  # the same folder name as engine.models uses for user models
SAMPLE_NAME = "poilus"


def user_data_dir() -> Path:
    """The user's data folder of the application (created by whoever writes into it)."""
    return user_data_path(APP_DIR_NAME, appauthor=False)


def bundled_sample() -> Path:
    """The sample project as installed (possibly read-only): a Poilus will, CC-BY 4.0."""
    return resource_path("samples", SAMPLE_NAME)


def sample_project(data_dir: Path | None = None) -> Path:
    """The user's writable copy of the sample project, made on first use.

    Files already in the copy are kept (they may hold the person's corrections); missing ones
    are copied again. StorageError when the sample is not installed or cannot be copied.
    """
    source = bundled_sample()
    if not source.is_dir():
        raise StorageError(f"The sample project is not installed (looked in {source}).")
    target = (data_dir or user_data_dir()) / "samples" / SAMPLE_NAME
    try:
        for path in sorted(source.rglob("*")):
            dest = target / path.relative_to(source)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            elif not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
    except OSError as exc:
        raise StorageError(f"Could not copy the sample project into {target}: "
                           f"{exc.strerror or exc}") from exc
    return target


def model_problem() -> str | None:
    """None when a recognition model is installed; else a message a person can act on."""
    try:
        from engine.models import bundled_models_dir, default_model_dir, user_models_dir
    except ImportError as exc:
        return f"The recognition engine is not available ({exc})."
    try:
        default_model_dir()
    except ModelError:
        return ("No recognition model is installed (looked in "
                f"{bundled_models_dir()} and {user_models_dir()}). Pages can be segmented and "
                "corrected; to transcribe them, choose a model folder in Settings.")
    except OSError as exc:
        return f"The recognition models cannot be read: {exc}"
    return None
