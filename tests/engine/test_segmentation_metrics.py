"""Segmentation metrics and the ``segment`` / ``eval-seg`` commands."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from app.cli import main
from engine.document import Line, Page, Region
from engine.formats import read_document, write_page_xml
from engine.segmentation.metrics import iou_matrix, match_lines, score_page


def box(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def page_with(lines: list[tuple[list, list]], w=1000, h=1000) -> Page:
    region = Region(id="r1", lines=[Line(id=f"l{i}", polygon=p, baseline=b) for i, (p, b) in enumerate(lines)])
    return Page(image_filename="x.png", width=w, height=h, regions=[region])


def test_iou_matrix_values():
    a = [box(0, 0, 100, 100)]
    b = [box(0, 0, 100, 100), box(50, 0, 150, 100), box(300, 300, 400, 400)]
    m = iou_matrix(a, b, scale=1.0)
    assert m[0, 0] == pytest.approx(1.0, abs=0.03)
    assert m[0, 1] == pytest.approx(1 / 3, abs=0.03)
    assert m[0, 2] == 0.0


def test_matching_is_one_to_one():
    iou = np.array([[0.9, 0.6], [0.7, 0.0]])
    matches = match_lines(iou)
    assert sorted((i, j) for i, j, _ in matches) == [(0, 1), (1, 0)]  # best total, not greedy


def test_perfect_split_and_missing_lines():
    gt = page_with([(box(100, 100 + 100 * i, 900, 160 + 100 * i), [(100, 150 + 100 * i), (900, 150 + 100 * i)]) for i in range(5)])
    s = score_page(gt, gt)
    assert (s.tp, s.fp, s.fn) == (5, 0, 0) and s.f1 == 1.0 and s.bl_f1 == 1.0
    # One line split in two halves (each IoU < 0.5), one line missing.
    lines = [(ln.polygon, ln.baseline) for ln in list(gt.lines())[:3]]
    lines += [(box(100, 400, 480, 460), [(100, 450), (480, 450)]), (box(520, 400, 900, 460), [(520, 450), (900, 450)])]
    s = score_page(page_with(lines), gt)
    assert (s.tp, s.fp, s.fn) == (3, 2, 2)
    assert s.bl_recall == pytest.approx(0.8 * 1 - 0.01, abs=0.03)  # line 5 not found, split gap small
    assert s.bl_precision == 1.0


def test_lines_outside_the_annotated_area_are_counted_apart():
    """A will transcribed without the registry's note below it: a line found in the note's
    (lineless) region is a false positive by the standard precision, not by the annotated one."""
    lines = [(box(100, 100 + 100 * i, 900, 160 + 100 * i), [(100, 150 + 100 * i), (900, 150 + 100 * i)])
             for i in range(3)]
    gt = page_with(lines)
    gt.regions[0].polygon = box(50, 50, 950, 450)
    gt.regions.append(Region(id="stamp", polygon=box(50, 700, 950, 900)))  # not transcribed
    found = lines + [(box(100, 750, 800, 810), [(100, 800), (800, 800)]),  # in the stamp
                     (box(100, 330, 900, 345), [(100, 340), (900, 340)])]  # a sliver inside
    s = score_page(page_with(found), gt)
    assert (s.tp, s.fp, s.fp_outside) == (3, 2, 1)
    assert s.precision == pytest.approx(0.6) and s.precision_annotated == pytest.approx(0.75)
    assert s.as_dict()["f1_annotated"] == pytest.approx(2 * 0.75 / 1.75, abs=1e-4)
    gt.regions[0].polygon = []  # no region polygon: the box around the lines is the area
    s = score_page(page_with(found), gt)
    assert s.fp_outside == 1


def test_thin_ground_truth_bands_are_counted_apart():
    """Ground truth that draws two of five lines as thin bands along the baseline: polygons
    around the writing miss them by the standard F1, not by the F1 without thin bands."""
    lines = [(box(100, 100 + 100 * i, 900, 160 + 100 * i), [(100, 150 + 100 * i), (900, 150 + 100 * i)])
             for i in range(5)]
    gt = page_with([(box(100, 140 + 100 * i, 900, 152 + 100 * i), b) if i in (1, 3) else (p, b)
                    for i, (p, b) in enumerate(lines)])
    s = score_page(page_with(lines), gt)
    assert (s.tp, s.fp, s.fn) == (3, 2, 2) and s.f1 == pytest.approx(0.6)
    assert (s.gt_thin, s.fn_thin, s.fp_on_thin) == (2, 2, 2)
    assert s.f1_without_thin == 1.0 and s.as_dict()["f1_without_thin"] == 1.0
    s = score_page(gt, gt)  # a thin band matched by itself stays a hit
    assert (s.gt_thin, s.fn_thin, s.fp_on_thin) == (2, 0, 0) and s.f1_without_thin == 1.0
    assert score_page(page_with(lines), page_with(lines)).gt_thin == 0


def test_empty_prediction_scores_zero():
    gt = page_with([(box(0, 0, 100, 50), [(0, 40), (100, 40)])])
    s = score_page(Page(image_filename="x.png", width=1000, height=1000), gt)
    assert (s.tp, s.fp, s.fn) == (0, 0, 1) and s.f1 == 0.0 and s.bl_recall == 0.0


def _write_synthetic(folder, name="synth"):
    from test_segmentation import synthetic_page

    img, _ = synthetic_page(width=900, height=1000, n_lines=6, spacing=100, left=100, right=800, top=200)
    path = folder / f"{name}.png"
    cv2.imwrite(str(path), img)
    return path


def test_cli_segment_then_eval_seg(tmp_path, capsys):
    image = _write_synthetic(tmp_path)
    out = tmp_path / "pred"
    # The learned default writes its PAGE-XML; the scribbled page's exact lines are the
    # classical segmenter's job (test_segmentation.py), so the rest uses --classical.
    assert main(["segment", str(image), "-o", str(tmp_path / "learned")]) == 0
    assert read_document(tmp_path / "learned" / "synth.xml").metadata.get("segmenter") == "htrjand-baselines"
    assert main(["segment", str(image), "-o", str(out), "--classical"]) == 0
    xml = out / "synth.xml"
    page = read_document(xml)
    assert page.image_filename == "synth.png" and len(list(page.lines())) == 6
    # Ground truth = the prediction itself: everything matches.
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    write_page_xml(page, gt_dir / "synth.xml")
    capsys.readouterr()
    assert main(["eval-seg", "--pred", str(out), "--gt", str(gt_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gt"]["f1"] == 1.0 and result["gt"]["baseline_f1"] == 1.0
    assert main(["eval-seg", "--pred", str(out), "--gt", str(gt_dir)]) == 0
    assert "gt" in capsys.readouterr().out


def test_cli_segment_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    good = _write_synthetic(tmp_path, "good")
    assert main(["segment", str(bad), "-o", str(tmp_path / "o1")]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["segment", str(bad), str(good), "-o", str(tmp_path / "o2")]) == 2
    assert (tmp_path / "o2" / "good.xml").exists() and not (tmp_path / "o2" / "bad.xml").exists()


def test_cli_eval_seg_bad_input(tmp_path, capsys):
    assert main(["eval-seg", "--pred", str(tmp_path / "none"), "--gt", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
