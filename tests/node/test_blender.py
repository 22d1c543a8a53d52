"""Blender's command line, output parsing and the kill-on-cancel deadline must stay right."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import netrender
from netrender.node.blender import (
    CACHES_SCRIPT,
    CLAIM_SCRIPT,
    MISSING_SCRIPT,
    caches_argv,
    claim_argv,
    frame_file,
    load_error,
    missing_message,
    missing_path,
    missing_sent,
    render_argv,
    run,
    saved_path,
    thumbnail_file,
)


def test_render_argv_exact() -> None:
    argv = render_argv("blender", "/j/files/scene.blend", "/j/out", "CYCLES", 2, [1, 2, 3])
    assert argv == [
        "blender",
        "-b", "/j/files/scene.blend",
        "--disable-autoexec",
        "-noaudio",
        "-E", "CYCLES",
        "-t", "2",
        "-o", "/j/out/######",
        "-F", "OPEN_EXR_MULTILAYER",
        "-x", "1",
        "--python", str(MISSING_SCRIPT),
        "-f", "1,2,3",
    ]
    assert MISSING_SCRIPT.is_absolute() and MISSING_SCRIPT.is_file()


def test_caches_argv_exact() -> None:
    """A bake: the file's scripts off, the slave's threads, missing files reported first, our script last."""
    argv = caches_argv("blender", "/j/files/shots/shot.blend", 1, ["bake", "Cloth", "Cloth"], "/j/out/r.json")
    assert argv == [
        "blender", "-b", "/j/files/shots/shot.blend", "--disable-autoexec", "-noaudio", "-t", "1",
        "--python-exit-code", "1", "--python", str(MISSING_SCRIPT), "--python", str(CACHES_SCRIPT),
        "--", "bake", "Cloth", "Cloth", "--report", "/j/out/r.json",
    ]
    assert CACHES_SCRIPT.is_file()
    assert caches_argv("b", "f.blend", 2, ["list"], "r", allow_scripts=True)[3] == "--enable-autoexec"


def test_claim_argv_exact() -> None:
    """A render-local worker: the file's scripts off, its threads, our claiming renderer with folder and frames."""
    assert claim_argv("blender", "/p/shot.blend", 1, "/p/render", [3, 4]) == [
        "blender", "-b", "/p/shot.blend", "--disable-autoexec", "-noaudio", "-t", "1", "--python-exit-code", "1",
        "--python", str(CLAIM_SCRIPT), "--", "/p/render", "3", "4",
    ]
    assert CLAIM_SCRIPT.is_file()


def test_render_argv_with_thumbnails_runs_our_script_after_the_file_and_before_rendering() -> None:
    script = Path(netrender.__file__).resolve().parent / "node" / "in_blender" / "thumbnails.py"
    argv = render_argv("blender", "/j/files/scene.blend", "/j/out", "CYCLES", 2, [1, 2, 3], thumbnails=True)
    assert argv == [
        "blender",
        "-b", "/j/files/scene.blend",
        "--disable-autoexec",
        "-noaudio",
        "-E", "CYCLES",
        "-t", "2",
        "-o", "/j/out/######",
        "-F", "OPEN_EXR_MULTILAYER",
        "-x", "1",
        "--python", str(MISSING_SCRIPT),
        "--python", str(script),
        "-f", "1,2,3",
    ]
    assert script.is_absolute() and script.is_file()


def test_thumbnail_file_sits_next_to_its_frame() -> None:
    assert thumbnail_file(Path("/j/out"), 7) == Path("/j/out/000007.thumb.png")
    assert thumbnail_file(Path("/j/out"), 7).parent == frame_file(Path("/j/out"), 7).parent


SAVED = "Saved: '/tmp/out/000003.exr'"
TIME = " Time: 00:00.03 (Saving: 00:00.00)"
UNSUPPORTED = "Error: File format is not supported in file '/tmp/bad.blend'"
NO_DNA = "Error: Failed to read blend file '/tmp/x.blend': Missing DNA block"
MISSING = "Error: Cannot read file '/tmp/m.blend': No such file or directory"
FRA = "Fra:1 Mem:12.34M (Peak 15.00M) | Time:00:00.01 | Syncing Cube"


@pytest.mark.parametrize(
    ("line", "expected"),
    [(SAVED + "\n", "/tmp/out/000003.exr"), (TIME, None), (UNSUPPORTED, None), (NO_DNA, None),
     (MISSING, None), (FRA, None)],
)
def test_saved_path(line: str, expected: str | None) -> None:
    assert saved_path(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [(SAVED, None), (TIME, None), (UNSUPPORTED + "\n", UNSUPPORTED), (NO_DNA, NO_DNA), (MISSING, MISSING),
     (FRA, None)],
)
def test_load_error(line: str, expected: str | None) -> None:
    assert load_error(line) == expected


def fake_blender(script: str) -> list[str]:
    return [sys.executable, "-c", script]


def test_run_success_records_saved_frames_and_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "render.log"
    script = "print('Fra:1 rendering'); print(\"Saved: '/x/000001.exr'\")"
    result = run(fake_blender(script), log, poll=0.2)
    assert result.returncode == 0
    assert not result.cancelled
    assert result.saved == ["/x/000001.exr"]
    assert result.error is None
    text = log.read_text(encoding="utf-8")
    assert "Fra:1 rendering" in text
    assert "Saved: '/x/000001.exr'" in text


def test_run_reports_load_error(tmp_path: Path) -> None:
    script = f"print({MISSING!r}); raise SystemExit(1)"
    result = run(fake_blender(script), tmp_path / "log.txt", poll=0.2)
    assert result.returncode == 1
    assert result.error == MISSING


def test_run_passes_exit_code(tmp_path: Path) -> None:
    result = run(fake_blender("raise SystemExit(3)"), tmp_path / "log.txt", poll=0.2)
    assert result.returncode == 3
    assert not result.cancelled


def test_cancel_kills_blender_within_two_seconds(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    script = "import sys, time; print('started'); sys.stdout.flush(); time.sleep(60)"
    started = time.monotonic()
    result = run(fake_blender(script), log, should_stop=lambda: True, poll=0.2)
    elapsed = time.monotonic() - started
    assert result.cancelled
    assert result.returncode != 0
    assert elapsed < 2.0


# Blender's own lines, as 3.4 and 4.5 print them (report_missing_files, and a library at load time).
NOT_FOUND_34 = "Warning: Path '/s/job_1/files/assets/props/textures/skin.png' not found"
NOT_FOUND_45 = ("Warning: Path '/s/job_1/files/assets/it's here.png' not found, from linked data-block "
                "'IMskin.png' (from library '/s/job_1/files/assets/props/props.blend')")
UNABLE = "Warning: Unable to open '/s/job_1/files/assets/props/props.blend': No such file or directory"
LIBRARIES = "Warning: 1 libraries and 1 linked data-blocks are missing (including 0 ObjectData and 0 Proxies)"


@pytest.mark.parametrize(
    ("line", "expected"),
    [(NOT_FOUND_34 + "\n", "/s/job_1/files/assets/props/textures/skin.png"),
     (NOT_FOUND_45, "/s/job_1/files/assets/it's here.png"),
     (UNABLE, "/s/job_1/files/assets/props/props.blend"),
     (LIBRARIES, None), (SAVED, None), (MISSING, None), (FRA, None),
     ("Info: Path '/x.png' not found", None)],
)
def test_missing_path(line: str, expected: str | None) -> None:
    assert missing_path(line) == expected


def test_only_missing_files_the_job_carries_count() -> None:
    sent = {"/s/job_1/files/assets/props/textures/skin.png", "/s/job_1/files/assets/props/props.blend"}
    client_missing = "Warning: Path '/nonexistent/old_server/gone.png' not found"
    lines = [FRA, client_missing, NOT_FOUND_34, UNABLE, NOT_FOUND_34, LIBRARIES]
    assert missing_sent(lines, sent) == [NOT_FOUND_34, UNABLE]
    assert missing_sent([client_missing, FRA], sent) == []
    # Blender prints paths resolved against the file that wrote them: compare normalised
    assert missing_sent(["Warning: Path '/s/job_1/files/shots/../assets/props/props.blend' not found"], sent)
    message = missing_message([NOT_FOUND_34])
    assert message.startswith(NOT_FOUND_34) and "incomplete" in message


@pytest.mark.parametrize(("lines", "seconds"), [
    ([" Time: 00:00.22 (Saving: 00:00.00)"], 0.22),
    ([" Time: 00:00.22 (Saving: 00:00.00)", FRA, " Time: 01:02.35 (Saving: 00:00.10)"], 62.35),  # the last one
    ([" Time: 1:01:02.50 (Saving: 00:00.10)"], 3662.5),
    ([FRA, SAVED], None),  # the progress lines' "Time:" is not the render's
])
def test_render_seconds(lines: list[str], seconds: float | None) -> None:
    from netrender.node.blender import render_seconds

    assert render_seconds(lines) == seconds
