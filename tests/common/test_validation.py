"""Input checks keep unsafe paths and mistyped JSON fields out of the master."""

from __future__ import annotations

from typing import Any

import pytest

from netrender.common.errors import InvalidRequest
from netrender.common.validation import field, safe_relpath, string_list


@pytest.mark.parametrize("path", ["scene.blend", "textures/a.png", "a/b/c.exr"])
def test_safe_relpath_accepts(path: str) -> None:
    assert safe_relpath(path) == path


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "C:/x", "c:x", "a\\b", "a\x00b", "a" * 2000, None, 3],
    ids=repr,
)
def test_safe_relpath_rejects(path: Any) -> None:
    with pytest.raises(InvalidRequest):
        safe_relpath(path)


def test_field_refuses_bool_for_int() -> None:
    with pytest.raises(InvalidRequest, match="'count' must be an integer"):
        field({"count": True}, "count", int)


def test_field_returns_int() -> None:
    assert field({"count": 4}, "count", int) == 4


def test_field_accepts_int_as_float() -> None:
    value = field({"ratio": 2}, "ratio", float)
    assert value == 2.0
    assert isinstance(value, float)


def test_field_refuses_bool_for_float() -> None:
    with pytest.raises(InvalidRequest):
        field({"ratio": False}, "ratio", float)


def test_field_missing_required_names_the_field() -> None:
    with pytest.raises(InvalidRequest, match="'frames' is required"):
        field({}, "frames", list)


def test_field_missing_uses_default() -> None:
    assert field({"frames": None}, "frames", list, []) == []


def test_string_list_strips_and_deduplicates_in_order() -> None:
    assert string_list({"tags": [" gpu", "linux ", "gpu", "linux", "big"]}, "tags") == ("gpu", "linux", "big")


def test_string_list_absent_is_empty() -> None:
    assert string_list({}, "tags") == ()


@pytest.mark.parametrize("bad", [["ok", ""], ["  "], [3], "gpu"], ids=repr)
def test_string_list_rejects(bad: Any) -> None:
    with pytest.raises(InvalidRequest):
        string_list({"tags": bad}, "tags")
