# SPDX-License-Identifier: GPL-3.0-or-later
"""What a node's Blender says it is, which decides who may denoise."""

from __future__ import annotations

import shutil

import pytest

from netrender.node import facts


def test_facts_argv_exact() -> None:
    assert facts.facts_argv("/opt/blender") == ["/opt/blender", "-b", "--factory-startup", "--python-expr",
                                                facts.FACTS_SCRIPT]


def test_parse_facts_reads_the_marked_line_among_blenders_chatter() -> None:
    output = ("Blender 4.5.3 LTS\nRead prefs: ...\n"
              'netrender facts: {"version": "4.5.3 LTS", "denoise": true}\n\nBlender quit\n')
    assert facts.parse_facts(output) == {"blender": "4.5.3 LTS", "capabilities": ["denoise"]}
    no_oidn = 'netrender facts: {"version": "3.4.1", "denoise": false}\n'
    assert facts.parse_facts(no_oidn) == {"blender": "3.4.1", "capabilities": []}


@pytest.mark.parametrize("output", ["", "Error: Python script failed\n", 'netrender facts: {"denoise": true}\n'])
def test_parse_facts_refuses_output_that_says_nothing(output: str) -> None:
    with pytest.raises(ValueError, match="did not say what it is"):
        facts.parse_facts(output)


def test_a_blender_that_cannot_be_asked_has_no_capabilities() -> None:
    assert facts.blender_facts("/nonexistent/blender-for-facts") == {"capabilities": []}


@pytest.mark.blender
def test_debians_blender_says_its_version_and_cannot_denoise() -> None:
    found = facts.blender_facts(shutil.which("blender") or "blender")
    assert found["blender"].startswith("3.4") and found["capabilities"] == []
