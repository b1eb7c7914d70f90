"""``segment_page`` / ``segment_file``: run a segmenter and write its lines into a ``Page``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.document import Line, Page, Region
from engine.errors import ImageError
from engine.progress import CancelToken, ProgressCallback, no_progress
from engine.segmentation.binarize import to_grey
from engine.segmentation.polygons import line_polygons
from engine.segmentation.reading_order import group_lines, order_groups

if TYPE_CHECKING:
    from engine.segmentation.baseline_model import BaselineModel
    from engine.segmentation.learned import LineVerifierModel

MIN_SIDE = 16  # pages smaller than this hold no readable line: an empty page, not an error


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def _as_points(arr: np.ndarray, width: int, height: int) -> list[tuple[int, int]]:
    pts = np.round(arr).astype(int)
    pts[:, 0] = np.clip(pts[:, 0], 0, max(width - 1, 0))
    pts[:, 1] = np.clip(pts[:, 1], 0, max(height - 1, 0))
    out: list[tuple[int, int]] = []
    for x, y in pts.tolist():
        if not out or out[-1] != (x, y):
            out.append((x, y))
    return out


def _hull_points(polys: list[np.ndarray], width: int, height: int) -> list[tuple[int, int]]:
    import cv2

    pts = np.concatenate(polys).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    return _as_points(hull, width, height)


def build_page(
    baselines: list[np.ndarray],
    heights: list[float],
    width: int,
    height: int,
    image_filename: str = "",
    metadata: dict[str, str] | None = None,
    polygons: list[np.ndarray] | None = None,
) -> Page:
    """A ``Page`` from baselines and local line heights given in page pixels.

    Without ``polygons`` (one per baseline, page pixels) each line gets a band polygon.
    """
    page = Page(image_filename=image_filename, width=width, height=height, metadata=dict(metadata or {}))
    if not baselines:
        return page
    polys = polygons if polygons is not None else line_polygons(baselines, heights, width, height)
    groups = order_groups(group_lines(baselines, heights))
    widest = max(g.box[2] - g.box[0] for g in groups)
    for gi, group in enumerate(groups, start=1):
        region = Region(id=f"r{gi}")
        gw = group.box[2] - group.box[0]
        beside = any(
            other is not group
            and min(group.box[3], other.box[3]) - max(group.box[1], other.box[1]) > 0
            and (other.box[2] - other.box[0]) > 2.5 * gw
            for other in groups
        )
        region.region_type = "marginalia" if beside and gw < 0.4 * widest else "paragraph"
        for li, k in enumerate(group.members, start=1):
            baseline = _as_points(baselines[k], width, height)
            if len(baseline) < 2:
                x, y = baseline[0]
                baseline = [(x, y), (min(x + 1, width - 1), y)]
            region.lines.append(
                Line(id=f"r{gi}l{li}", polygon=_as_points(polys[k], width, height), baseline=baseline)
            )
        region.polygon = _hull_points([polys[k] for k in group.members], width, height)
        page.regions.append(region)
    return page


def segment_page(
    image: np.ndarray,
    *,
    image_filename: str = "",
    model_dir: str | os.PathLike[str] | None = None,
    classical: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Page:
    """Text regions and lines of a page image, in reading order.

    ``image`` is greyscale or colour (uint8, as ``engine.imaging.load_image`` gives). The model
    is ``model_dir``, else the bundled one: a learned baseline segmenter finds the lines itself; a
    line verifier drops the classical segmenter's candidates that are not wanted text; with
    neither — or with ``classical`` — the classical segmenter alone runs. A page without visible writing —
    blank, tiny, all dark — yields a ``Page`` with no regions. Raises ``ImageError`` for something that is not an image.
    """
    progress = progress or no_progress
    arr = np.asarray(image) if image is not None else None
    if arr is None or arr.ndim not in (2, 3) or arr.size == 0:
        raise ImageError("Segmentation needs a 2-D image (greyscale or colour).")
    height, width = int(arr.shape[0]), int(arr.shape[1])
    progress(0, 3, "preparing the image")
    _check(cancel)
    if min(width, height) < MIN_SIDE:
        progress(3, 3, "image too small to hold text")
        return Page(image_filename=image_filename, width=width, height=height, metadata={"segmenter": "none"})
    grey = to_grey(arr)
    progress(1, 3, "finding text lines")
    _check(cancel)
    from engine.segmentation.baseline_model import BaselineModel
    from engine.segmentation.learned import resolve_model

    model = None if classical else resolve_model(model_dir)
    if isinstance(model, BaselineModel):
        baselines, heights, polygons = learned_lines(grey, model)
        method = model.name
    else:
        baselines, heights, polygons = classical_lines(grey, model)
        method = f"classical+{model.name}" if model is not None else "classical"
    progress(2, 3, "building polygons and reading order")
    _check(cancel)
    page = build_page(baselines, heights, width, height, image_filename, {"segmenter": method}, polygons)
    progress(3, 3, f"{sum(1 for _ in page.lines())} lines")
    return page


def classical_lines(
    grey: np.ndarray, verifier: LineVerifierModel | None = None
) -> tuple[list[np.ndarray], list[float], None]:
    """Baselines and line heights in page pixels from the classical segmenter.

    With a ``verifier`` the candidate lines it rejects (bleed-through, print, flourishes) are
    dropped. Polygons are left to ``build_page`` (None).
    """
    from engine.segmentation.classical import analyse

    result = analyse(grey)
    lines = result.lines
    if verifier is not None and lines and result.ink is not None and result.grey is not None:
        from engine.segmentation.verify import line_features

        keep = verifier.keep(line_features(lines, result.grey, result.ink, result.spacing))
        lines = [ln for ln, k in zip(lines, keep) if k]
    if not lines:
        return [], [], None
    inv = 1.0 / result.scale
    return [ln.baseline * inv for ln in lines], [ln.height * inv for ln in lines], None


def learned_lines(
    grey: np.ndarray, model: BaselineModel
) -> tuple[list[np.ndarray], list[float], list[np.ndarray]]:
    """Baselines, line heights and polygons in page pixels from the learned baseline segmenter."""
    from engine.segmentation.heatmap import lines_from_maps

    probs, scale = model.predict(grey)
    return lines_from_maps(probs, scale, model.spacing, model.post)


def _load(path: Path) -> np.ndarray:
    try:
        from engine.imaging import load_image
    except ImportError:  # imaging not available yet: read with OpenCV
        import cv2

        if not path.is_file():
            raise ImageError(f"{path}: no such image file.")
        data = np.fromfile(str(path), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
        if img is None:
            raise ImageError(f"{path}: not an image file OpenCV can read.")
        return img
    return load_image(path, mode="L")


def segment_file(
    path: str | os.PathLike[str],
    *,
    model_dir: str | os.PathLike[str] | None = None,
    classical: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Page:
    """Load an image file and segment it; the page refers to the image by its file name."""
    path = Path(path)
    image = _load(path)
    return segment_page(image, image_filename=path.name, model_dir=model_dir, classical=classical,
                        progress=progress, cancel=cancel)
