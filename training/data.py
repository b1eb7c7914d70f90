"""Real training lines: read the split lists of ``shared/data``, cut every line once with the
engine's ``extract_line`` (the same preprocessing as recognition) and cache them under ``runs/``.

A cache is three files per (collection, split, height): ``.u8`` (all line pixels, concatenated
column-major blocks), ``.json`` (texts, widths, offsets, source). Loading it is a memory map.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_text
from engine.document import normalize_text
from engine.errors import HtrError

REPO = Path(__file__).resolve().parents[1]
# Folder of the pages listed in each collection's split files (paths are relative to it).
COLLECTIONS = {"hooker": "hooker", "poilus": "poilus", "cremma-abrege": "cremma-abrege"}
FORBIDDEN_FOR_BASE = {"cremma-abrege"}  # the fine-tuning set: never used to train the base model


def shared_data_dir() -> Path:
    """``$HTRJAND_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))


def split_pages(collection: str, split: str, root: Path | None = None) -> list[Path]:
    """XML files of one split of a collection, in the order of its split list."""
    base = (root or shared_data_dir()) / COLLECTIONS[collection]
    listing = base / f"split_{split}.txt"
    if not listing.is_file():
        raise HtrError(f"no split list {listing}")
    return [base / name.strip() for name in listing.read_text().splitlines() if name.strip()]


@dataclass
class LineSet:
    """Line images (uint8, ink dark, fixed height) with their texts and origins."""

    images: list[np.ndarray]
    texts: list[str]
    sources: list[str]  # "<collection>/<page stem>/<line id>"

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def collections(self) -> list[str]:
        return [s.split("/", 1)[0] for s in self.sources]

    @property
    def pages(self) -> list[str]:
        """The page of each line ("<collection>/<page stem>"): the unit the recognizer reads
        with one language LM (``Recognizer.recognize_images(..., pages=...)``)."""
        return [s.rsplit("/", 1)[0] for s in self.sources]

    def subset(self, keep: list[int]) -> "LineSet":
        return LineSet([self.images[i] for i in keep], [self.texts[i] for i in keep],
                       [self.sources[i] for i in keep])

    @staticmethod
    def concat(sets: list["LineSet"]) -> "LineSet":
        return LineSet([i for s in sets for i in s.images], [t for s in sets for t in s.texts],
                       [x for s in sets for x in s.sources])


def cut_page_lines(xml_path: Path, height: int, collection: str) -> tuple[LineSet, int]:
    """All transcribed lines of one page as line images; returns them and the number skipped."""
    from engine.formats import read_document
    from engine.imaging import load_image
    from engine.recognition.lines import cut_lines

    page = read_document(xml_path)
    image = load_image(page.image_path())
    out, skipped = LineSet([], [], []), 0
    lines = [ln for ln in page.lines() if normalize_text(ln.text).strip()]
    for line, img in zip(lines, cut_lines(page, image, height, lines)):
        text = normalize_text(line.text).strip()
        if img is None or img.ndim != 2 or img.shape[1] < 2:
            skipped += 1
            continue
        out.images.append(np.ascontiguousarray(img, dtype=np.uint8))
        out.texts.append(text)
        out.sources.append(f"{collection}/{xml_path.stem}/{line.id}")
    return out, skipped


def cache_paths(cache_dir: Path, collection: str, split: str, height: int) -> tuple[Path, Path]:
    stem = cache_dir / f"{collection}-{split}-h{height}"
    return stem.with_suffix(".u8"), stem.with_suffix(".json")


def build_cache(collection: str, split: str, height: int, cache_dir: Path,
                root: Path | None = None) -> None:
    """Cut every line of a split once and write the cache (atomic for the index file)."""
    pages = split_pages(collection, split, root)
    sets, skipped = [], 0
    for i, xml in enumerate(pages):
        ls, sk = cut_page_lines(xml, height, collection)
        sets.append(ls)
        skipped += sk
        if (i + 1) % 25 == 0:
            print(f"[cache] {collection}/{split}: {i + 1}/{len(pages)} pages", file=sys.stderr)
    write_cache(LineSet.concat(sets), collection, split, height, cache_dir,
                {"pages": len(pages), "skipped_lines": skipped})


def write_cache(lines: LineSet, collection: str, split: str, height: int, cache_dir: Path,
                extra: dict | None = None) -> None:
    """Write ``lines`` as the cache of (collection, split, height); pixels first, then the
    index (each atomically), so a half-written cache is never read as complete."""
    pix_path, index_path = cache_paths(cache_dir, collection, split, height)
    cache_dir.mkdir(parents=True, exist_ok=True)
    widths = [int(im.shape[1]) for im in lines.images]
    offsets = np.cumsum([0] + [height * w for w in widths]).tolist()
    tmp = pix_path.with_suffix(".u8.tmp")
    with open(tmp, "wb") as fh:
        for im in lines.images:
            fh.write(np.ascontiguousarray(im, dtype=np.uint8).tobytes())
    os.replace(tmp, pix_path)
    index = {"collection": collection, "split": split, "height": height, "widths": widths,
             "offsets": offsets[:-1], "texts": lines.texts, "sources": lines.sources,
             **(extra or {})}
    atomic_write_text(index_path, json.dumps(index, ensure_ascii=False))


def load_lines(collection: str, split: str, height: int, cache_dir: Path,
               root: Path | None = None) -> LineSet:
    """Lines of a split from the cache, building it first if needed."""
    pix_path, index_path = cache_paths(cache_dir, collection, split, height)
    if not index_path.is_file() or not pix_path.is_file():
        build_cache(collection, split, height, cache_dir, root)
    index = json.loads(index_path.read_text())
    flat = np.memmap(pix_path, dtype=np.uint8, mode="r")
    images = [np.asarray(flat[o:o + height * w]).reshape(height, w)
              for o, w in zip(index["offsets"], index["widths"])]
    return LineSet(images, index["texts"], index["sources"])
