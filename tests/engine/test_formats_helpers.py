"""Small helpers of the formats package: points, Transkribus custom strings, markers."""

from __future__ import annotations

import pytest

from engine.document import Origin
from engine.formats.custom import custom_get, custom_set, reading_order_index, structure_type
from engine.formats.geometry import PointsError, parse_points
from engine.geometry import clamp_points
from engine.formats.markers import parse_char_confidences, parse_origin
from engine.formats.prepare import is_ncname


@pytest.mark.parametrize("text,expected", [
    ("1,2 3,4", [(1, 2), (3, 4)]),
    ("1 2 3 4", [(1, 2), (3, 4)]),
    (" 1.5,2.49\n3 , 4 ", [(2, 2), (3, 4)]),
    ("", []),
    (None, []),
])
def test_parse_points(text, expected) -> None:
    assert parse_points(text) == expected


@pytest.mark.parametrize("text", ["1,2 3", "a,b c,d", "1,inf 2,2", "1;2 3;4"])
def test_parse_points_errors(text) -> None:
    with pytest.raises(PointsError):
        parse_points(text)


def test_clamp_points() -> None:
    assert clamp_points([(-1, 5), (10.6, 20)], 10, 8) == [(0, 5), (9, 7)]


def test_custom_get_and_set() -> None:
    custom = "readingOrder {index:3;} structure {type:heading;} textStyle {bold:true;}"
    assert reading_order_index(custom) == 3 and structure_type(custom) == "heading"
    assert custom_set(custom, "readingOrder", "index", "0").startswith("readingOrder {index:0;}")
    removed = custom_set(custom, "structure", "type", None)
    assert removed == "readingOrder {index:3;} textStyle {bold:true;}"
    added = custom_set(None, "structure", "type", "a;b{c}")
    assert custom_get(added, "structure", "type") == "a;b{c}"
    assert custom_set("structure {type:x;}", "structure", "type", None) is None
    assert custom_get("structure {type:HeadingLine:title;}", "structure", "type") == \
        "HeadingLine:title"
    assert reading_order_index("readingOrder {index:x;}") is None


def test_markers() -> None:
    assert parse_origin("model", "") is Origin.MODEL
    assert parse_origin("bogus", "text") is Origin.PERSON
    assert parse_origin(None, "") is Origin.NONE
    assert parse_char_confidences("0.5 1.0") == [0.5, 1.0]
    assert parse_char_confidences("0.5 x") is None


@pytest.mark.parametrize("value,ok", [("a1", True), ("_x.y-z", True), ("1a", False),
                                      ("a b", False), ("", False), ("a:b", False)])
def test_is_ncname(value, ok) -> None:
    assert is_ncname(value) is ok
