"""Post-processing of the baseline U-Net's maps: baselines and polygons from known maps."""

from __future__ import annotations

import cv2
import numpy as np

from engine.segmentation.heatmap import baselines_from_map, polygons_from_map

S = 24.0  # model-scale line spacing


def maps(ys: list[int], x0: int = 20, x1: int = 300, shape=(240, 340), gap: tuple[int, int] | None = None):
    """A baseline map with horizontal baselines at ``ys`` and a line-area map around them."""
    bl = np.zeros(shape, np.float32)
    area = np.zeros(shape, np.float32)
    for y in ys:
        cv2.line(bl, (x0, y), (x1, y), 0.9, 2)
        cv2.rectangle(area, (x0 - 2, y - 14), (x1 + 2, y + 6), 0.8, -1)
    if gap:
        bl[:, gap[0]:gap[1]] = 0
    return bl, area


def test_each_baseline_found_in_place():
    bl, _ = maps([40, 64, 88, 112])
    found = baselines_from_map(bl, S)
    assert len(found) == 4
    for line, y in zip(sorted(found, key=lambda b: b[0, 1]), [40, 64, 88, 112]):
        assert abs(np.median(line[:, 1]) - y) < 1.5
        assert line[0, 0] <= 22 and line[-1, 0] >= 298
        assert np.all(np.diff(line[:, 0]) > 0)


def test_small_gaps_are_bridged_and_specks_dropped():
    bl, _ = maps([60], gap=(150, 154))  # a gap of 4 px: one baseline
    bl[150:152, 10:14] = 0.95  # a speck shorter than a line spacing
    found = baselines_from_map(bl, S)
    assert len(found) == 1
    bl, _ = maps([60], gap=(150, 200))  # a gutter of two line spacings: two lines
    assert len(baselines_from_map(bl, S)) == 2


def test_pieces_broken_at_word_gaps_are_joined():
    bl, _ = maps([60, 100], gap=(150, 168))  # word gaps of 0.75 spacing on both lines
    found = sorted(baselines_from_map(bl, S), key=lambda b: b[0, 1])
    assert len(found) == 2
    assert all(b[0, 0] <= 22 and b[-1, 0] >= 298 for b in found)
    # A piece at another height is another line, however close.
    bl = np.zeros((240, 340), np.float32)
    cv2.line(bl, (20, 60), (140, 60), 0.9, 2)
    cv2.line(bl, (150, 75), (300, 75), 0.9, 2)
    assert len(baselines_from_map(bl, S)) == 2


def test_empty_map_gives_no_lines():
    assert baselines_from_map(np.zeros((50, 50), np.float32), S) == []
    assert polygons_from_map([], np.zeros((50, 50), np.float32), S) == []


def test_polygons_follow_the_area_and_do_not_overlap():
    ys = [40, 64, 88]
    bl, area = maps(ys)
    lines = sorted(baselines_from_map(bl, S), key=lambda b: b[0, 1])
    polys = polygons_from_map(lines, area, S)
    assert len(polys) == 3
    masks = []
    for poly, y in zip(polys, ys):
        assert poly[:, 1].min() < y - 5 and poly[:, 1].max() > y  # ascenders and descenders inside
        m = np.zeros(area.shape, np.uint8)
        cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
        masks.append(m)
    for a, b in zip(masks[:-1], masks[1:]):
        assert (a & b).sum() < 0.05 * min(a.sum(), b.sum())
    # A lone line reaches the whole predicted area, up to its limits.
    lone = polygons_from_map(lines[:1], area, S)[0]
    assert lone[:, 1].min() <= ys[0] - 13


def test_a_doubled_stroke_along_a_line_is_dropped():
    bl = np.zeros((240, 340), np.float32)
    cv2.line(bl, (20, 60), (300, 60), 0.9, 2)
    cv2.line(bl, (100, 64), (200, 64), 0.9, 1)  # 4 px below, half as long: the same line
    cv2.line(bl, (100, 80), (200, 80), 0.9, 2)  # 20 px below: a line of its own
    ys = sorted(float(np.median(b[:, 1])) for b in baselines_from_map(bl, S))
    assert len(ys) == 2 and abs(ys[0] - 60) < 2 and abs(ys[1] - 80) < 2
