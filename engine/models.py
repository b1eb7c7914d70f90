"""The model registry: bundled models (``resources/models``) and the user's own (platformdirs
user data folder). A model is a folder with ``model.onnx`` and ``card.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from engine.errors import ModelError

DEFAULT_MODEL = "htrjand-student"
APP_NAME = "htrjand-studio"
USER_MODELS_ENV = "HTRJAND_USER_MODELS"
POSTCORRECT_KIND = "postcorrect"  # card "kind" of post-correction models (engine.postcorrect)


def bundled_models_dir() -> Path:
    """``resources/models`` of the checkout or of the built application."""
    from engine.resources import resource_path

    return resource_path("models")


def user_models_dir() -> Path:
    """Where fine-tuned models are saved (created on demand by the writer, not here);
    ``$HTRJAND_USER_MODELS`` overrides it (tests, portable installs)."""
    override = os.environ.get(USER_MODELS_ENV)
    if override:
        return Path(override)
    return user_data_path(APP_NAME, appauthor=False) / "models"


def read_card_json(model_dir: str | os.PathLike[str], what: str = "model") -> tuple[Path, dict]:
    """``(card path, card)`` of a model folder's ``card.json``, read but not yet checked for a
    kind of model; ModelError (naming ``what``) when the folder, file or JSON is missing or bad."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{what} folder {folder} does not exist")
    path = folder / "card.json"
    if not path.is_file():
        raise ModelError(f"{folder} is not a {what} folder: card.json is missing")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is unreadable or not JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelError(f"{path}: a model card is a JSON object")
    return path, card


def load_card(model_dir: str | Path) -> dict:
    """The card of a model folder, checked for what the engine needs; ModelError otherwise."""
    folder = Path(model_dir)
    path, card = read_card_json(folder)
    if card.get("kind") == POSTCORRECT_KIND:
        raise ModelError(f"{folder} is a post-correction model, not a recognition model")
    charset = card.get("charset")
    if not isinstance(charset, list) or not charset or not all(
            isinstance(c, str) and len(c) == 1 for c in charset):
        raise ModelError(f"{path}: 'charset' must be a non-empty list of single characters")
    height = card.get("input", {}).get("height") if isinstance(card.get("input"), dict) else None
    if not isinstance(height, int) or height < 8:
        raise ModelError(f"{path}: 'input.height' is missing or invalid")
    if card.get("num_classes", len(charset) + 1) != len(charset) + 1:
        raise ModelError(f"{path}: num_classes {card.get('num_classes')} does not match the "
                         f"charset ({len(charset)} characters + blank)")
    card.setdefault("name", folder.name)
    return card


def is_postcorrect_folder(folder: Path) -> bool:
    """True when ``folder``'s card says it holds a post-correction model (listed apart from the
    recognition models); False for anything else, readable or not."""
    try:
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(card, dict) and card.get("kind") == POSTCORRECT_KIND


@dataclass
class ModelInfo:
    """One listed model: where it is, where it comes from, its card (or why it is unusable)."""

    name: str
    path: Path
    source: str  # "bundled" or "user"
    card: dict | None
    error: str | None = None


def list_models() -> list[ModelInfo]:
    """Bundled then user models; unusable folders are listed with their error."""
    found = []
    for source, base in (("bundled", bundled_models_dir()), ("user", user_models_dir())):
        if not base.is_dir():
            continue
        # Hidden folders are versions still being written by the model store: not models yet.
        for folder in sorted(p for p in base.iterdir()
                             if not p.name.startswith(".") and (p / "card.json").exists()
                             and not is_postcorrect_folder(p)):
            try:
                card = load_card(folder)
                found.append(ModelInfo(card["name"], folder, source, card))
            except ModelError as exc:
                found.append(ModelInfo(folder.name, folder, source, None, str(exc)))
    return found


def default_model_dir() -> Path:
    """The model chosen with ``htrjand models use`` if any, else the bundled default
    recognition model; ModelError if none is installed."""
    from engine.model_store import active_model_dir

    chosen = active_model_dir()
    if chosen is not None:
        return chosen
    preferred = bundled_models_dir() / DEFAULT_MODEL
    if (preferred / "model.onnx").is_file():
        return preferred
    for info in list_models():
        if info.card is not None and (info.path / "model.onnx").is_file():
            return info.path
    raise ModelError(f"no recognition model found in {bundled_models_dir()} or "
                     f"{user_models_dir()}; pass --model DIR")
