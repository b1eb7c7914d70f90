"""Recognizer output on real lines, with the ground truth: the post-corrector's real errors.

``recognized_lines`` runs a recognition model folder through the engine's own ``Recognizer``
(ONNX Runtime, exactly what the application runs) on the cached line images of a split
(``training.data.load_lines``), optionally degraded first by the base training's augmentation
made stronger, and returns each line's recognized text, character confidences, ground truth and
context (the previous line's recognized text on the same page). Results are cached as JSON lines.

Training pairs must carry errors the recognizer makes on lines it did not learn from. The base
model was trained on the train splits, so its clean output there is too good; the sources used
are (``training.postcorrect.train``): heavily augmented train lines read by the shipped model, and
the train lines read by earlier, weaker checkpoints of the base training (``checkpoint_model``).
The val splits are only ever used to tune and measure, never to train.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_text
from training.augment import AugmentConfig, augment
from training.data import REPO, load_lines

CACHE_DIR = REPO / "runs" / "cache"


def heavy_augment_config() -> AugmentConfig:
    """The base training's augmentation with every effect more likely and stronger."""
    cfg = AugmentConfig()
    values = asdict(cfg)
    changes = {k: min(1.0, v * 1.6) for k, v in values.items() if k.startswith("p_")}
    for k, scale in (("rotate_deg", 1.5), ("shear", 1.5), ("stretch", 1.5), ("elastic_px", 1.5)):
        if k in values:
            changes[k] = values[k] * scale
    return replace(cfg, **changes)


@dataclass
class RecognizedLine:
    """One line: where it is from, its ground truth and what the recognizer read."""

    collection: str
    page: str
    line_id: str
    gt: str
    text: str
    char_confidences: list[float] = field(default_factory=list)
    context: str = ""  # the previous line's recognized text on the same page ("" for the first)


def checkpoint_model(checkpoint: str | Path, folder: str | Path) -> Path:
    """A minimal recognition model folder (model.onnx + card.json) for a training checkpoint,
    so that an earlier checkpoint is read by exactly the engine's code path."""
    from training.export import load_checkpoint_model, onnx_bytes

    net, ck = load_checkpoint_model(checkpoint)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(onnx_bytes(net))
    card = {"name": f"checkpoint-{Path(checkpoint).parent.name}", "version": "0",
            "charset": ck["charset"], "num_classes": len(ck["charset"]) + 1,
            "input": {"height": net.cfg.input_height, "width_factor": net.cfg.width_factor}}
    (out / "card.json").write_text(json.dumps(card, ensure_ascii=False))
    return out


def _read_cache(path: Path) -> list[RecognizedLine]:
    return [RecognizedLine(**json.loads(row)) for row in path.read_text().splitlines() if row]


def recognized_lines(collection: str, split: str, model_dir: str | Path, *,
                     augment_seed: int | None = None, cache: str | Path | None = None,
                     threads: int = 0, limit: int | None = None) -> list[RecognizedLine]:
    """Every transcribed line of ``collection``/``split`` read by the model in ``model_dir``.

    ``augment_seed``: degrade each line image with the heavy augmentation (seeded) first.
    ``cache``: a JSON-lines file; read if present, else written (atomically) after the run.
    ``limit``: only the first ``limit`` lines (tests).
    """
    stamp = _model_stamp(model_dir)
    if cache is not None and Path(cache).is_file() and _stamp_path(cache).is_file() \
            and _stamp_path(cache).read_text().strip() == stamp:
        return _read_cache(Path(cache))
    from engine.recognition.recognizer import Recognizer

    recognizer = Recognizer(Path(model_dir), "cpu", threads=threads)
    lines = load_lines(collection, split, recognizer.height, CACHE_DIR)
    if limit is not None:
        lines = lines.subset(list(range(min(limit, len(lines)))))
    images = list(lines.images)
    if augment_seed is not None:
        rng = np.random.default_rng(augment_seed)
        cfg = heavy_augment_config()
        images = [augment(np.asarray(im), rng, cfg) for im in images]
    results = recognizer.recognize_images(images, pages=lines.pages)
    out: list[RecognizedLine] = []
    previous_page = None
    for source, gt, res in zip(lines.sources, lines.texts, results):
        coll, page, line_id = source.split("/", 2)
        context = out[-1].text if out and previous_page == page else ""
        out.append(RecognizedLine(coll, page, line_id, gt, res.text,
                                  [round(float(c), 4) for c in res.char_confidences], context))
        previous_page = page
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(cache), "".join(
            json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in out))
        atomic_write_text(_stamp_path(cache), stamp + "\n")
    return out


def _stamp_path(cache: str | Path) -> Path:
    return Path(str(cache) + ".model")


def _model_stamp(model_dir: str | Path) -> str:
    """What a cache of a model's readings is valid for: its ``model.onnx`` and how it decodes
    (the card's decoding settings and ``lm.json``); a cache made by an earlier version of the
    bundled model, or with other decoding, is read again, not reused."""
    import hashlib

    from engine.recognition.recognizer import default_beam

    folder = Path(model_dir)
    path = folder / "model.onnx"
    if not path.is_file():
        return "missing"
    digest = hashlib.sha256(path.read_bytes())
    card_path, lm_path = folder / "card.json", folder / "lm.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    if default_beam(card) > 1:
        settings = {k: card["decoding"].get(k) for k in ("beam", "lm_weight", "length_bonus", "lms")}
        digest.update(json.dumps(settings, sort_keys=True).encode())
        for path in [lm_path, *sorted(folder.glob("lm-*.json.gz"))]:
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def checkpoint_lines(collection: str, split: str, checkpoint: str | Path, *,
                     cache: str | Path | None = None, threads: int = 0) -> list[RecognizedLine]:
    """``recognized_lines`` for a training checkpoint (exported to a temporary folder)."""
    if cache is not None and Path(cache).is_file():
        return _read_cache(Path(cache))
    with tempfile.TemporaryDirectory(prefix="htrjand-ckpt-") as tmp:
        folder = checkpoint_model(checkpoint, tmp)
        return recognized_lines(collection, split, folder, cache=cache, threads=threads)
