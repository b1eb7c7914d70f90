"""engine.geometry: clamping, bands around baselines, baselines in polygons, spacing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import geometry
from engine.document import Line
from engine.errors import GeometryError
from engine.geometry import (
    baseline_from_polygon,
    clamp_points,
    line_height_estimate,
    polygon_area,
    polygon_from_baseline,
    polygon_iou,
)

RECT = [(0, 10), (100, 10), (100, 50), (0, 50)]


def test_clamp_points():
    assert clamp_points([(-5, 3), (12.6, 99), (4.5, 4.4)], 10, 20) == [(0, 3), (9, 19), (5, 4)]
    assert clamp_points([], 10, 10) == []
    with pytest.raises(GeometryError):
        clamp_points([(1, 1)], 0, 10)
    with pytest.raises(GeometryError):
        clamp_points([(float("nan"), 1)], 10, 10)


def test_polygon_from_horizontal_baseline():
    poly = polygon_from_baseline([(10, 100), (210, 100)], 30, 10)
    assert poly == [(10, 70), (210, 70), (210, 110), (10, 110)]
    # a baseline drawn right to left gives the same band (top stays above)
    assert sorted(polygon_from_baseline([(210, 100), (10, 100)], 30, 10)) == sorted(poly)


def test_polygon_from_sloped_baseline_offsets_along_normal():
    angle = math.radians(10)
    base = [(0, 0), (100 * math.cos(angle), 100 * math.sin(angle))]
    poly = polygon_from_baseline(base, 20, 5)
    top_left, bottom_left = np.array(poly[0]), np.array(poly[-1])
    assert np.allclose(top_left, [20 * math.sin(angle), -20 * math.cos(angle)], atol=1)
    assert np.allclose(bottom_left, [-5 * math.sin(angle), 5 * math.cos(angle)], atol=1)
    assert polygon_area(poly) == pytest.approx(100 * 25, rel=0.03)


def test_polygon_from_curved_baseline_and_clamping():
    base = [(0, 50), (50, 40), (100, 50)]
    poly = polygon_from_baseline(base, 30, 10, width=90, height=60)
    xs, ys = zip(*poly)
    assert min(xs) >= 0 and max(xs) <= 89 and min(ys) >= 0 and max(ys) <= 59
    assert len(poly) == 6


@pytest.mark.parametrize(
    "base,asc,desc",
    [([(5, 5)], 10, 10), ([(5, 5), (5, 5)], 10, 10), ([(0, 0), (9, 0)], 0, 0),
     ([(0, 0), (9, 0)], -1, 5), ([(0, 0), (9, 0)], float("inf"), 5), ([], 3, 3)],
)
def test_polygon_from_baseline_rejects(base, asc, desc):
    with pytest.raises(GeometryError):
        polygon_from_baseline(base, asc, desc)


def test_baseline_from_rectangle():
    base = baseline_from_polygon(RECT)
    assert base[0][0] == 0 and base[-1][0] == 100
    assert all(y == 40 for _, y in base)  # 3/4 of the way down from 10 to 50


def test_baseline_from_sloped_zigzag_polygon():
    # zig-zag top edge, sloped band: the baseline is calm and follows the slope
    top = [(x, 20 + x // 10 + (8 if (x // 20) % 2 else 0)) for x in range(0, 401, 20)]
    bottom = [(x, 60 + x // 10) for x in range(400, -1, -20)]
    base = baseline_from_polygon(top + bottom)
    ys = np.interp([50, 200, 350], [p[0] for p in base], [p[1] for p in base])
    expected = np.array([50, 200, 350]) / 10 + 20 + 0.75 * 40
    assert np.abs(ys - expected).max() < 6
    assert len(base) <= 8


@pytest.mark.parametrize(
    "poly", [[], [(1, 1), (2, 2)], [(1, 1), (1, 1), (2, 2)], [(5, 0), (5, 10), (5, 20)]]
)
def test_baseline_from_polygon_rejects(poly):
    with pytest.raises(GeometryError):
        baseline_from_polygon(poly)


def test_baseline_from_tiny_polygon():
    base = baseline_from_polygon([(5, 5), (6, 5), (6, 6), (5, 6)])
    assert len(base) == 2 and base[0] != base[1]


def test_polygon_area():
    assert polygon_area(RECT) == 4000
    assert polygon_area(list(reversed(RECT))) == 4000
    assert polygon_area([(0, 0), (1, 1)]) == 0.0


def test_polygon_iou():
    a = [(0, 0), (10, 0), (10, 10), (0, 10)]
    b = [(5, 0), (15, 0), (15, 10), (5, 10)]
    assert polygon_iou(a, a) == pytest.approx(1.0)
    assert polygon_iou(a, b) == pytest.approx(1 / 3)
    assert polygon_iou(a, [(20, 20), (30, 20), (30, 30)]) == 0.0
    assert polygon_iou(a, []) == 0.0
    bowtie = [(0, 0), (10, 10), (10, 0), (0, 10)]  # self-intersecting: repaired, no crash
    assert 0.0 <= polygon_iou(a, bowtie) <= 1.0


def _lines(spacing: float, n: int = 6, x0: int = 100, slope: float = 0.02) -> list[Line]:
    lines = []
    for i in range(n):
        y = 200 + i * spacing
        base = [(x0, round(y)), (x0 + 800, round(y + 800 * slope))]
        lines.append(Line(id=f"l{i}", baseline=base, polygon=polygon_from_baseline(base, 30, 10)))
    return lines


def test_line_height_estimate_from_baselines():
    assert line_height_estimate(_lines(95)) == pytest.approx(95, abs=1)
    # two columns side by side and a paragraph gap do not disturb the median
    lines = _lines(95) + _lines(95, n=5, x0=1200)
    lines[3].baseline = [(p[0], p[1] + 60) for p in lines[3].baseline]
    assert line_height_estimate(lines) == pytest.approx(95, abs=2)


def test_line_height_estimate_fallbacks():
    single = _lines(95, n=1)
    assert line_height_estimate(single) == pytest.approx(40 / geometry.POLYGON_HEIGHT_PER_SPACING, rel=0.05)
    no_baseline = [Line(id="a", polygon=RECT)]
    assert line_height_estimate(no_baseline) > 0
    with pytest.raises(GeometryError):
        line_height_estimate([])
    with pytest.raises(GeometryError):
        line_height_estimate([Line(id="x")])
