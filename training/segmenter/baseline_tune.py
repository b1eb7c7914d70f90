"""Choose the baseline segmenter's post-processing settings on the val splits; write them to its card.

    python -m training.segmenter.baseline_tune --model resources/models/segmentation/baselines

The network runs once per val page; then each setting of a small grid turns the same maps into
lines, scored by ``engine.segmentation.metrics.score_page`` (line F1 at IoU >= 0.5, as
``htrjand eval-seg``). The setting with the best mean line F1 over the collections wins — first
the baseline settings (threshold, shortest line), then the gap joined along a line, then the
polygon ones. The card's ``metrics``
get the winner's scores per collection.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, replace
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.formats import read_document
from engine.imaging import load_image
from engine.segmentation.baseline_model import BaselineModel
from engine.segmentation.heatmap import PostProcess, lines_from_maps
from engine.segmentation.metrics import SegScores, score_page
from engine.segmentation.page_builder import build_page
from training.segmenter.baseline_export import card_markdown
from training.segmenter.baseline_train import COLLECTIONS, REPO

GRID_BASELINE = {"baseline_threshold": (0.3, 0.4, 0.5, 0.6, 0.7),
                 "min_length": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}
GRID_MERGE = {"merge_gap": (0.5, 1.0, 1.5, 2.5)}
GRID_POLYGON = {"descent_share": (0.1, 0.2, 0.3, 0.4), "line_threshold": (0.35, 0.5, 0.65)}


def collect(model: BaselineModel, data: Path, limit: int = 0) -> dict[str, list]:
    """Per collection: (ground-truth page, probability maps, scale) of each val page."""
    out: dict[str, list] = {}
    for name in COLLECTIONS:
        names = (data / name / "split_val.txt").read_text(encoding="utf-8").split()
        if limit:
            names = names[:limit]
        items = []
        for n in names:
            gt = read_document(data / name / n)
            probs, scale = model.predict(load_image(gt.image_path(), mode="L"))
            items.append((gt, probs, scale))
        out[name] = items
    return out


def score(pages: dict[str, list], model: BaselineModel, post: PostProcess) -> dict[str, SegScores]:
    result = {}
    for name, items in pages.items():
        total = SegScores()
        for gt, probs, scale in items:
            baselines, heights, polygons = lines_from_maps(probs, scale, model.spacing, post)
            pred = build_page(baselines, heights, gt.width, gt.height, polygons=polygons)
            total.add(score_page(pred, gt))
        result[name] = total
    return result


def search(pages: dict[str, list], model: BaselineModel, start: PostProcess, grid: dict, log=print
           ) -> tuple[PostProcess, dict[str, SegScores]]:
    best, best_scores, best_f1 = start, None, -1.0
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        post = replace(start, **dict(zip(keys, values)))
        scores = score(pages, model, post)
        f1 = sum(s.f1 for s in scores.values()) / len(scores)
        log(f"{dict(zip(keys, values))}: " + ", ".join(f"{n} {s.f1:.4f}" for n, s in scores.items()))
        if f1 > best_f1:
            best, best_scores, best_f1 = post, scores, f1
    return best, best_scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.segmenter.baseline_tune", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="baseline segmenter folder (its card is updated)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=0, help="only the first N val pages per collection")
    args = parser.parse_args(argv)
    card_path = args.model / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    model = BaselineModel(args.model, card)
    pages = collect(model, args.data, args.limit)
    post, _ = search(pages, model, PostProcess(), GRID_BASELINE)
    post, _ = search(pages, model, post, GRID_MERGE)
    post, scores = search(pages, model, post, GRID_POLYGON)
    card["postprocess"] = asdict(post)
    card["metrics"] = {name: {"pages": s.pages, "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                              "f1": round(s.f1, 4), "f1_annotated": round(s.f1_annotated, 4),
                              "f1_without_thin": round(s.f1_without_thin, 4),
                              "baseline_f1": round(s.bl_f1, 4)}
                       for name, s in scores.items()}
    card["metrics_note"] = "val splits, the pages these settings were chosen on"
    atomic_write_text(card_path, json.dumps(card, indent=1) + "\n")
    atomic_write_text(args.model / "card.md", card_markdown(card))
    print(json.dumps({"postprocess": card["postprocess"], "metrics": card["metrics"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
