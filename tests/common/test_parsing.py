"""What users type for frames and the master's address must parse the same every time."""

from __future__ import annotations

import pytest

from netrender.common.connection import master_url
from netrender.common.errors import InvalidRequest
from netrender.common.frames import parse_frames


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1-3,5", [1, 2, 3, 5]),
        ("3", [3]),
        ("1-3,2", [1, 2, 3]),
        ("10,1-2", [10, 1, 2]),
        (" 1 - 2 , 4 ", [1, 2, 4]),
    ],
)
def test_parse_frames(text: str, expected: list[int]) -> None:
    assert parse_frames(text) == expected


@pytest.mark.parametrize("text", ["5-3", "a", "", ",", "1-x"])
def test_parse_frames_rejects(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_frames(text)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("[default]", "http://localhost:8000"),
        ("", "http://localhost:8000"),
        ("host", "http://host:8000"),
        ("host:9000", "http://host:9000"),
        ("https://h:1/", "https://h:1"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_master_url(address: str, expected: str) -> None:
    assert master_url(address) == expected
