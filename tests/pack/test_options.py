# SPDX-License-Identifier: GPL-3.0-or-later
"""The request that creates a job, asserted exactly for each kind of job."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrender.pack.options import JobOptions, job_request

FILES = {"main": "shots/sh010/shot.blend", "files": []}
COMMON = {"after": 0, "category": "", "tags": [], "priority": 1, "chunks": 1, "engine": "CYCLES",
          "allow_scripts": False, "persistent": True, "persistent_data": False, "output_dir": ""}


def test_a_job_of_frames_names_itself_after_its_blend() -> None:
    request = job_request(Path("/p/shot.blend"), JobOptions(frames=range(1, 4)), FILES)
    assert request == {"name": "shot", **FILES, "frames": [1, 2, 3], **COMMON}


def test_options_travel_as_given() -> None:
    options = JobOptions(frames=[5], name="final", category="lighting", tags=("gpu",), priority=3, chunks=2,
                         engine="BLENDER_EEVEE", allow_scripts=True, persistent=False, persistent_data=True,
                         output_dir="/mnt/out", after=7)
    request = job_request(Path("/p/shot.blend"), options, {"shared": "/mnt/p/shot.blend"})
    assert request == {"name": "final", "shared": "/mnt/p/shot.blend", "frames": [5], "after": 7,
                       "category": "lighting", "tags": ["gpu"], "priority": 3, "chunks": 2, "engine": "BLENDER_EEVEE",
                       "allow_scripts": True, "persistent": False, "persistent_data": True, "output_dir": "/mnt/out"}


def test_a_bake_numbers_its_caches_as_frames() -> None:
    options = JobOptions(frames=[1, 2, 3, 4, 5], caches=[("Sim", "Cloth"), ("Fx", "Particles")])
    request = job_request(Path("/p/shot.blend"), options, FILES)
    assert request["kind"] == "bake" and request["caches"] == [["Sim", "Cloth"], ["Fx", "Particles"]]
    assert request["frames"] == [1, 2]


def test_a_speed_test_carries_its_scale() -> None:
    request = job_request(Path("/p/shot.blend"), JobOptions(frames=[1], speedtest=25), FILES)
    assert request["kind"] == "speedtest" and request["scale"] == 25


@pytest.mark.blender
def test_tiles_read_the_frame_size_and_denoising_from_the_blend(sample_scene: Path) -> None:
    request = job_request(sample_scene, JobOptions(frames=[1], tiles=6), FILES)
    assert (request["kind"], request["tiles"], request["size"], request["denoise"]) == ("tiles", 6, [96, 54], False)
    eevee = job_request(sample_scene, JobOptions(frames=[1], tiles=6, denoise=True, engine="BLENDER_EEVEE"), FILES)
    assert eevee["denoise"] is False  # only Cycles denoises a stitched frame
    asked = job_request(sample_scene, JobOptions(frames=[1], tiles=6, denoise=True), FILES)
    assert asked["denoise"] is True
