"""The user's model store: fine-tuned model versions in the platformdirs user data folder.

    >>> from engine import model_store
    >>> for info in model_store.list_all(): print(info.name)      # doctest: +SKIP
    >>> model_store.set_active("abrege-v1")                         # doctest: +SKIP
    >>> model_store.export_zip("abrege-v1", Path("abrege.zip"))      # doctest: +SKIP

Every training run writes a *new* folder (``model.onnx``, ``model.pt``, ``card.json``): it is
built in a hidden staging folder of the store and renamed into place only when complete, so a
cancelled or failed run leaves nothing half written, and no name is ever reused — bundled models
and earlier versions are never overwritten. The model chosen with ``use`` is remembered in
``active.json`` of the store. No torch here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from engine.atomic import atomic_write_text
from engine.errors import HtrError, ModelError, StorageError
from engine.models import ModelInfo, list_models, load_card

ACTIVE_FILE = "active.json"
LOCK_FILE = ".training.lock"
STAGING_PREFIX = ".staging-"
#: What a model folder (and so a model .zip) may hold; anything else in a zip is refused.
MODEL_FILES = ("model.onnx", "card.json", "card.md", "model.pt", "lm.json")
REQUIRED_FILES = ("model.onnx", "card.json")
MIN_FREE_BYTES = 200 * 1024 * 1024  # room for a version (a few MB) with a wide margin
MAX_ZIP_BYTES = 2 * 1024 ** 3  # uncompressed size accepted from a zip


def is_model_file(name: str) -> bool:
    """Whether a model folder (and so a model .zip) may hold a file of this name: the
    ``MODEL_FILES`` and per-language LMs (``lm-<name>.json.gz``, card ``decoding.lms``)."""
    from engine.recognition.lm import LANGUAGE_LM_FILE  # (not at import: the window starts lighter)

    return name in MODEL_FILES or LANGUAGE_LM_FILE.fullmatch(name) is not None


def store_dir() -> Path:
    """The folder of the user's model versions (``engine.models.user_models_dir``)."""
    from engine import models

    return models.user_models_dir()


def slug(name: str) -> str:
    """A folder name from a model name: letters, digits, ``._-``; never empty or hidden."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-")
    return text[:80] or "model"


# -- writing versions -------------------------------------------------------------------------
def ensure_writable(min_free: int = MIN_FREE_BYTES) -> Path:
    """The store folder, created if needed; StorageError if it is read-only or (nearly) full."""
    folder = store_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StorageError(f"The model store {folder} is not writable ({exc.strerror or exc}); "
                           "free it or choose another user data folder.") from exc
    free = shutil.disk_usage(folder).free
    if free < min_free:
        raise StorageError(f"The disk of the model store {folder} is full ({free // 2**20} MB "
                           f"free, {min_free // 2**20} MB needed).")
    return folder


def unique_name(name: str) -> str:
    """``slug(name)`` or, if taken in the store (or by a bundled model), ``name-2``, ``-3``…"""
    from engine.models import bundled_models_dir

    base = slug(name)
    taken = {p.name for d in (store_dir(), bundled_models_dir()) if d.is_dir() for p in d.iterdir()}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@contextlib.contextmanager
def staging() -> Iterator[Path]:
    """A hidden, empty folder inside the store; removed on leaving unless committed."""
    folder = ensure_writable()
    path = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def check_model_folder(folder: Path) -> dict:
    """The card of a complete model folder; ModelError if a required file is missing."""
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"{folder}: {name} is missing")
    return load_card(folder)


def commit(staged: Path, name: str) -> Path:
    """Move a complete staged folder into the store under a new, unused name; returns it.

    The card's ``name`` is set to the folder name, so names in lists are unique.
    """
    card = check_model_folder(staged)
    final_name = unique_name(name)
    card["name"] = final_name
    atomic_write_text(staged / "card.json", json.dumps(card, ensure_ascii=False, indent=1))
    target = store_dir() / final_name
    try:
        os.rename(staged, target)  # same folder: atomic; fails rather than replace a folder
    except OSError as exc:
        raise StorageError(f"Could not store the model as {target}: {exc.strerror}") from exc
    return target


def clean_stale_staging() -> int:
    """Remove staging folders of processes that no longer run (a killed training)."""
    folder, removed = store_dir(), 0
    if not folder.is_dir():
        return 0
    for path in folder.glob(f"{STAGING_PREFIX}*"):
        pid = path.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if not (pid.isdigit() and pid_alive(int(pid))):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@contextlib.contextmanager
def training_lock() -> Iterator[Path]:
    """One training at a time per user: HtrError when another one runs."""
    folder = ensure_writable()
    lock = folder / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid_alive(pid) and pid != os.getpid():
                raise HtrError(f"A training is already running (process {pid}); wait for it "
                               "to end or cancel it.") from None
            lock.unlink(missing_ok=True)  # left by a training that was killed
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise HtrError(f"Could not take the training lock {lock}")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


# -- reading and choosing ---------------------------------------------------------------------
def list_all() -> list[ModelInfo]:
    """Bundled and user models (the engine's registry), hidden folders left out."""
    return [m for m in list_models() if not m.path.name.startswith(".")]


def resolve(name_or_path: str | os.PathLike[str]) -> ModelInfo:
    """A listed model by folder name or card name, or a model folder by path; ModelError."""
    text = str(name_or_path)
    models = list_all()
    for info in models:
        if text in (info.path.name, info.name):
            return info
    path = Path(text).expanduser()
    if path.is_dir():
        card = load_card(path)
        return ModelInfo(card["name"], path.resolve(), "folder", card)
    names = ", ".join(m.path.name for m in models) or "none"
    raise ModelError(f"No model named {text!r} (known: {names}).")


def active_model_dir() -> Path | None:
    """The model chosen with ``use`` if it still exists and has a model.onnx, else None."""
    path = store_dir() / ACTIVE_FILE
    try:
        chosen = Path(json.loads(path.read_text(encoding="utf-8"))["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return chosen if (chosen / "model.onnx").is_file() else None


def set_active(name_or_path: str | os.PathLike[str] | None) -> Path | None:
    """Make a model the default for recognition; None goes back to the bundled default."""
    folder = ensure_writable(0)
    if name_or_path is None:
        (folder / ACTIVE_FILE).unlink(missing_ok=True)
        return None
    info = resolve(name_or_path)
    check_model_folder(info.path)
    chosen = {"path": str(info.path), "chosen": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(folder / ACTIVE_FILE, json.dumps(chosen))
    return info.path


def remove(name: str) -> Path:
    """Delete a user model version; bundled models cannot be removed. Returns its old path."""
    info = resolve(name)
    if info.source != "user" or info.path.parent.resolve() != store_dir().resolve():
        raise ModelError(f"{info.name} is not a model of your store ({info.path}); only "
                         "fine-tuned versions can be removed.")
    if active_model_dir() is not None and active_model_dir().resolve() == info.path.resolve():
        set_active(None)
    # rename first, so a half-deleted folder is never listed as a model
    trash = info.path.with_name(f"{STAGING_PREFIX}0-removed-{info.path.name}")
    try:
        os.rename(info.path, trash)
        shutil.rmtree(trash)
    except OSError as exc:
        raise StorageError(f"Could not remove {info.path}: {exc.strerror}") from exc
    return info.path


# -- sharing as .zip --------------------------------------------------------------------------
def export_zip(name: str, destination: str | os.PathLike[str]) -> Path:
    """Write a model as one .zip (``<name>/model.onnx``, card, weights); returns the path."""
    info = resolve(name)
    check_model_folder(info.path)
    dest = Path(destination)
    if dest.is_dir():
        dest = dest / f"{info.path.name}.zip"
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(info.path.iterdir()):
                if path.is_file() and is_model_file(path.name):
                    zf.write(path, f"{info.path.name}/{path.name}")
        os.replace(tmp, dest)
    except OSError as exc:
        raise StorageError(f"Could not write {dest}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _zip_members(zf: zipfile.ZipFile, source: Path) -> dict[str, zipfile.ZipInfo]:
    """Model file name -> member; ModelError for anything unsafe or unexpected."""
    members: dict[str, zipfile.ZipInfo] = {}
    folders: set[str] = set()
    total = 0
    for info in zf.infolist():
        raw = info.filename
        parts = PurePosixPath(raw.replace("\\", "/")).parts
        if raw.startswith(("/", "\\")) or any(p in ("..", "") for p in parts) or \
                (parts and ":" in parts[0]):
            raise ModelError(f"{source}: unsafe path {raw!r} in the zip; not imported.")
        if info.is_dir():
            continue
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ModelError(f"{source}: {raw!r} is a symbolic link; not imported.")
        if len(parts) > 2 or not is_model_file(parts[-1]):
            raise ModelError(f"{source}: unexpected file {raw!r}; a model zip holds only "
                             f"{', '.join(MODEL_FILES)} and lm-<name>.json.gz (optionally in one folder).")
        folders.add(parts[0] if len(parts) == 2 else "")
        if parts[-1] in members:
            raise ModelError(f"{source}: {parts[-1]} appears twice.")
        members[parts[-1]] = info
        total += info.file_size
    if len(folders) > 1:
        raise ModelError(f"{source}: holds several models; import them one by one.")
    if total > MAX_ZIP_BYTES:
        raise ModelError(f"{source}: too large once unpacked ({total // 2**20} MB).")
    missing = [n for n in REQUIRED_FILES if n not in members]
    if missing:
        raise ModelError(f"{source}: not a model zip ({', '.join(missing)} missing).")
    return members


def import_zip(source: str | os.PathLike[str], name: str | None = None) -> Path:
    """Add a model shared as .zip to the store under a new name; returns its folder.

    Only the known model files are read (no path from the zip is used to write), the card is
    checked, and the ONNX file must load with the card's charset.
    """
    src = Path(source)
    try:
        zf = zipfile.ZipFile(src)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{src} is not a readable .zip: {exc}") from exc
    with zf, staging() as staged:
        members = _zip_members(zf, src)
        for fname, info in members.items():
            with zf.open(info) as fin, open(staged / fname, "wb") as fout:
                copied = shutil.copyfileobj(fin, fout, 1 << 20)  # noqa: F841
            if (staged / fname).stat().st_size != info.file_size:
                raise ModelError(f"{src}: {fname} is damaged.")
        card = check_model_folder(staged)
        _check_onnx(staged)
        folder_name = next(iter(PurePosixPath(members["card.json"].filename).parts[:-1]), "")
        return commit(staged, name or card.get("name") or folder_name or src.stem)


def _check_onnx(folder: Path) -> None:
    """The ONNX file loads and matches the card (the recognizer's own checks)."""
    try:
        from engine.recognition.onnx_model import OnnxLineModel
    except ImportError:  # onnxruntime missing: the card check above is what we can do
        return
    OnnxLineModel(folder, device="cpu", threads=1)


def finetune_lines_text(ft: dict) -> str:
    """What a fine-tuned version learnt from, e.g. "24 corrected lines (14 trained on, 10 held
    back)"; with self-training the read lines too, and what the held-back lines were."""
    read = int(ft.get("reading_lines") or 0)
    held = f"{ft['held_back_lines']} held back"
    if ft.get("held_back_of") == "readings":
        held = (f"{ft['held_back_lines']} read ones held back: their CER is agreement with the "
                "model's own readings")
    return (f"{ft['lines_used']} corrected" + (f" and {read} read" if read else "")
            + f" lines ({ft['train_lines']} trained on, {held})")


def card_summary(card: dict) -> str:
    """One line: parent, lines and CER before -> after of a fine-tuned version."""
    ft = card.get("finetune")
    if not isinstance(ft, dict):
        val = (card.get("metrics") or {}).get("val", {}).get("all", {})
        return f"val CER {val['cer']:.1%}" if isinstance(val.get("cer"), (int, float)) else ""
    read = f" + {ft['reading_lines']} read" if ft.get("reading_lines") else ""
    return (f"from {ft.get('parent', {}).get('name', '?')}, {ft.get('lines_used', '?')}{read} lines, "
            f"held-back CER {ft.get('cer_before', 0):.1%} -> {ft.get('cer_after', 0):.1%}, "
            f"{ft.get('training_s', 0) / 60:.1f} min, {card.get('created', '')}")
