"""engine.line_image: masking, local background, straightening, scale, bad geometry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from engine.document import Line
from engine.errors import GeometryError
from engine.line_image import LineImageConfig, baseline_row, extract_line, extract_lines

PAPER = 200  # paper is grey, not white: masked pixels must take this value, not 255
SPACING = 80.0
RAW = LineImageConfig(normalize_contrast=False)


def _page(h: int = 300, w: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(PAPER, 3, (h, w)), 0, 255).astype(np.uint8)


def _page_to_out(y: float, base_y: float, cfg: LineImageConfig = RAW, height: int = 64) -> float:
    """Output row of page height y for a horizontal baseline at base_y."""
    f = height / ((cfg.above + cfg.below) * SPACING)
    return (y - (base_y - cfg.above * SPACING)) * f - 0.5


def _line(base_y: int = 150, top: int = 110, bottom: int = 165, x0: int = 50, x1: int = 550) -> Line:
    return Line(
        id="l1",
        baseline=[(x0, base_y), (x1, base_y)],
        polygon=[(x0, top), (x1, top), (x1, bottom), (x0, bottom)],
    )


def test_stroke_inside_survives_and_outside_becomes_background():
    page = _page()
    page[130:150, 100:106] = 20  # a letter inside the polygon
    page[170:180, 300:340] = 20  # a neighbour's stroke below the polygon (inside the band)
    out = extract_line(page, _line(), context=SPACING, config=RAW)
    assert out.shape[0] == 64 and out.dtype == np.uint8
    assert out.min() < 60  # the letter
    row = int(round(_page_to_out(175, 150)))
    assert 0 <= row < 64
    f = 64 / ((RAW.above + RAW.below) * SPACING)
    cols = slice(int((300 - 50 + 0.1 * SPACING) * f) + 1, int((340 - 50 + 0.1 * SPACING) * f) - 1)
    patch = out[row - 1 : row + 2, cols]
    assert patch.min() > PAPER - 15 and abs(float(patch.mean()) - PAPER) < 6  # local background
    assert np.median(out) == pytest.approx(PAPER, abs=6)


def test_contrast_normalised_output_is_dark_on_white():
    page = _page()
    page[130:150, 100:106] = 60
    out = extract_line(page, _line(), context=SPACING)
    assert out.min() < 20 and np.median(out) > 240


def test_cut_stroke_is_recovered_but_neighbour_is_not():
    page = _page()
    page[130:150, 80:180:6] = 20  # some letters
    page[95:150, 200:205] = 20  # tall ascender: 15 px above the polygon top (110), mostly inside
    page[166:180, 400:440] = 20  # neighbour stroke entirely outside the polygon
    on = extract_line(page, _line(), context=SPACING, config=RAW)
    off = extract_line(page, _line(), context=SPACING, config=LineImageConfig(normalize_contrast=False, recover_strokes=False))
    f = 64 / ((RAW.above + RAW.below) * SPACING)
    col = int(round((202 - 50 + 0.1 * SPACING) * f))
    r_top = int(round(_page_to_out(100, 150)))
    assert on[r_top, col - 1 : col + 2].min() < 100  # ascender tip kept
    assert off[r_top, col - 1 : col + 2].min() > PAPER - 20  # cut without recovery
    r_nb = int(round(_page_to_out(173, 150)))
    c_nb = int(round((420 - 50 + 0.1 * SPACING) * f))
    assert on[r_nb, c_nb - 2 : c_nb + 3].min() > PAPER - 20


def _ink_rows(out: np.ndarray, thr: int = 100) -> np.ndarray:
    """Centroid row of ink per column (NaN where none)."""
    ink = (out < thr).astype(float)
    rows = np.arange(out.shape[0])[:, None]
    mass = ink.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ink * rows).sum(axis=0) / mass


def test_skewed_line_comes_out_straight():
    page = _page(400, 700)
    base_y = 200
    page[base_y - 4 : base_y, 100:600] = 20  # a bar resting on the baseline
    angle = 6.0
    centre = (350.0, 200.0)
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
    skewed = cv2.warpAffine(page, rot, (700, 400), flags=cv2.INTER_LINEAR, borderValue=PAPER)

    def tf(pts):
        arr = np.hstack([np.asarray(pts, float), np.ones((len(pts), 1))]) @ rot.T
        return [(int(round(x)), int(round(y))) for x, y in arr]

    line = Line(
        id="skew",
        baseline=tf([(90, base_y), (610, base_y)]),
        polygon=tf([(90, base_y - 40), (610, base_y - 40), (610, base_y + 15), (90, base_y + 15)]),
    )
    out = extract_line(skewed, line, context=SPACING, config=RAW)
    rows = _ink_rows(out)
    rows = rows[np.isfinite(rows)]
    assert len(rows) > 0.8 * 500 * 64 / (1.3 * SPACING)
    assert np.std(rows) < 0.6  # straight
    expected = baseline_row(RAW) - 2 * 64 / (1.3 * SPACING) - 0.5
    assert abs(np.median(rows) - expected) < 1.0  # baseline at the documented row
    # without straightening the same bar would span several rows
    assert abs(math.tan(math.radians(angle)) * 500 * 64 / (1.3 * SPACING)) > 20


def test_curved_baseline_is_dewarped():
    page = _page(400, 700)
    xs = np.arange(80, 621, 20)
    ys = 200 + 0.0003 * (xs - 350) ** 2  # sagging by up to 22 px
    for x in range(80, 620):
        y = 200 + 0.0003 * (x - 350) ** 2
        page[int(round(y)) - 4 : int(round(y)), x] = 20
    base = [(int(x), int(round(y))) for x, y in zip(xs, ys)]
    line = Line(id="curve", baseline=base)
    out = extract_line(page, line, context=SPACING, config=RAW)
    rows = _ink_rows(out)
    rows = rows[np.isfinite(rows)]
    assert np.ptp(rows) < 2.5
    straight = extract_line(page, line, context=SPACING, config=LineImageConfig(normalize_contrast=False, dewarp=False))
    rows2 = _ink_rows(straight)
    assert np.ptp(rows2[np.isfinite(rows2)]) > 5


def test_output_height_width_and_colour_input():
    page = _page()
    page[130:150, 100:300] = 30
    grey = extract_line(page, _line(), 48)
    assert grey.shape[0] == 48
    rgb = extract_line(cv2.cvtColor(page, cv2.COLOR_GRAY2RGB), _line(), 48)
    assert rgb.shape == grey.shape and np.abs(rgb.astype(int) - grey).max() <= 2
    # width follows the aspect ratio of the band
    wide = extract_line(page, _line(x1=550), context=SPACING)
    narrow = extract_line(page, _line(x1=300), context=SPACING)
    assert wide.shape[1] > 1.8 * narrow.shape[1]


def test_line_without_baseline_or_polygon():
    page = _page()
    page[130:150, 100:106] = 20
    no_base = Line(id="p", polygon=_line().polygon)
    assert extract_line(page, no_base).shape[0] == 64
    no_poly = Line(id="b", baseline=_line().baseline)
    out = extract_line(page, no_poly)
    assert out.shape[0] == 64 and out.min() < 60


def test_coordinates_outside_the_image_are_clamped():
    page = _page(200, 300)
    page[20:40, 10:200] = 20
    line = Line(id="o", baseline=[(-50, 40), (400, 40)], polygon=[(-50, -30), (400, -30), (400, 55), (-50, 55)])
    out = extract_line(page, line)
    assert out.shape[0] == 64 and out.min() < 60


def test_tiny_lines_and_minimum_width():
    page = _page(50, 50)
    one_px = Line(id="t", baseline=[(10, 10), (11, 10)])
    out = extract_line(page, one_px)
    assert out.shape[0] == 64 and out.shape[1] >= 16
    tiny_poly = Line(id="tp", polygon=[(5, 5), (6, 5), (6, 6), (5, 6)])
    assert extract_line(page, tiny_poly).shape[1] >= 16
    collapsed = Line(id="c", baseline=[(10, 10), (10, 10), (11, 10)])
    assert extract_line(page, collapsed).shape[0] == 64
    assert extract_line(page, one_px, config=LineImageConfig(min_width=40)).shape[1] >= 40
    assert extract_line(np.full((1, 1), 200, np.uint8), Line(id="1", baseline=[(0, 0), (1, 0)])).shape[0] == 64


@pytest.mark.parametrize(
    "line",
    [
        Line(id="empty"),
        Line(id="point", baseline=[(10, 10)]),
        Line(id="same", baseline=[(10, 10), (10, 10)]),
        Line(id="flat", polygon=[(0, 0), (10, 0), (20, 0)]),
        Line(id="away", baseline=[(1000, 1000), (1200, 1000)]),
        Line(id="above", baseline=[(10, -500), (200, -500)], polygon=[(10, -540), (200, -540), (200, -490)]),
    ],
)
def test_bad_geometry_raises(line):
    with pytest.raises(GeometryError):
        extract_line(_page(100, 100), line)


def test_bad_context_raises():
    with pytest.raises(GeometryError):
        extract_line(_page(), _line(), context=0)


def test_extract_lines():
    page = _page()
    lines = [_line(), _line(base_y=250, top=210, bottom=265)]
    outs = extract_lines(page, lines, 32, context=SPACING)
    assert len(outs) == 2 and all(o.shape[0] == 32 for o in outs)
    assert np.array_equal(outs[0], extract_line(page, lines[0], 32, context=SPACING))


def test_real_poilus_line(sample_xml, sample_image):
    if not sample_xml.is_file() or not sample_image.is_file():
        pytest.skip("bundled Poilus sample not present")
    from engine.formats import read_document
    from engine.geometry import line_height_estimate
    from engine.imaging import load_image

    page = read_document(sample_xml)
    image = load_image(sample_image)
    lines = [ln for ln in page.lines() if ln.text][:5]
    assert lines
    spacing = line_height_estimate(list(page.lines()))
    for ln in lines:
        for context in (None, spacing):
            out = extract_line(image, ln, context=context)
            assert out.shape[0] == 64 and out.shape[1] >= 64
            assert out.min() < 60  # ink
            assert np.median(out) > 200  # white background
            assert (out < 128).mean() < 0.4
