"""Segmentation matching without scipy (the desktop build leaves it out) fails with a clear error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from engine.errors import HtrError
from engine.segmentation.metrics import match_lines


def test_match_lines_without_scipy_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import now raises ImportError
    with pytest.raises(HtrError, match="needs scipy"):
        match_lines(np.array([[0.9]]))


def test_match_lines_pairs_best_overlaps() -> None:
    iou = np.array([[0.6, 0.7], [0.8, 0.1]])
    assert sorted(match_lines(iou)) == [(0, 1, 0.7), (1, 0, 0.8)]
