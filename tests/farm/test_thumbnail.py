# SPDX-License-Identifier: GPL-3.0-or-later
"""Frame thumbnails: the master's EXR-to-PNG fallback, the slave's in-Blender script, and the upload.

Brightness is compared with PNGs Blender renders itself, decoded here by a small
reader, because "looks right" is what a thumbnail is for: the master's plain sRGB
against Blender's Standard view transform, the slave's against the scene's own
(Filmic here), which is what the in-Blender script applies.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import pytest
from conftest import BLENDER, EXR_BYTES, render_locally
from pixels import differences

from netrender.client import Client, JobOptions, LocalFile
from netrender.common.blobs import file_sha256
from netrender.common.errors import ApiError, MasterUnreachable
from netrender.farm.thumbnail import ThumbnailError, downscale, fit, from_exr, pick_channels, png_bytes, to_srgb8
from netrender.master import MasterServer
from netrender.node import blender
from netrender.slave import Slave, SlaveConfig

#: Mean brightness (0..255, over R, G and B) a thumbnail may differ from Blender's own PNG.
#: Measured: 0.15 (master, vs Standard; 1.4 at 64 px, averaged in linear light) and 0.48 (slave, vs Filmic).
#: Blender dithers its 8-bit output, hence no exact match.
LEVELS = 2.0
#: The in-Blender script's full-size intermediate (see netrender/node/in_blender/thumbnails.py).
FULL_SIZE_SUFFIX = ".thumb.full.png"


# -- a PNG reader for the tests, so no imaging library is needed ------------------------------


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced PNG (any row filter) to a ``height × width × channels`` array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw, stride = zlib.decompress(idat), width * channels
    assert len(raw) == height * (stride + 1)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            line[x] = (line[x] + _predict(kind, a, b, c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, channels)


def _predict(kind: int, a: int, b: int, c: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return a
    if kind == 2:
        return b
    if kind == 3:
        return (a + b) // 2
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def brightness(pixels: np.ndarray) -> float:
    return float(pixels[..., :3].mean())


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {name: pixels.astype(np.float32) for name, pixels in channels.items()}).write(str(path))
    return path


# -- master side, without Blender ----------------------------------------------------------------


def test_png_bytes_round_trips_through_a_reader(tmp_path: Path) -> None:
    pixels = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(3, 5, 4) * 4
    data = png_bytes(5, 3, 4, pixels.tobytes())
    assert data[12:16] == b"IHDR" and struct.unpack(">IIBB", data[16:26]) == (5, 3, 8, 6)
    (tmp_path / "p.png").write_bytes(data)
    assert np.array_equal(read_png(tmp_path / "p.png"), pixels)
    with pytest.raises(ValueError):
        png_bytes(5, 3, 4, b"short")


@pytest.mark.parametrize(("size", "image", "expected"), [
    ((96, 54), 256, (96, 54)), ((96, 54), 64, (64, 36)), ((1920, 1080), 256, (256, 144)),
    ((10, 1000), 256, (3, 256)), ((4000, 1), 256, (256, 1)),
])
def test_fit_keeps_the_aspect_within_the_size(size: tuple[int, int], image: int, expected: tuple[int, int]) -> None:
    assert fit(*size, image) == expected


def test_downscale_averages_the_area_under_each_pixel() -> None:
    square = np.array([[0, 2, 4, 6], [2, 4, 6, 8], [1, 1, 1, 1], [3, 3, 3, 3]], dtype=np.float32)
    assert np.allclose(downscale(square, 2, 2), [[2, 6], [2, 2]])
    # 3 → 2: the middle pixel is shared half and half.
    assert np.allclose(downscale(np.array([[3.0, 6.0, 9.0]]), 2, 1), [[(3 + 3) / 1.5, (3 + 9) / 1.5]])


def test_pick_channels_prefers_the_combined_pass() -> None:
    blender_names = sorted(f"{layer}.{p}.{c}" for layer in ("ViewLayer", "Other") for p in ("AO", "Combined")
                           for c in "RGBA" if not (p == "AO" and c == "A"))
    assert pick_channels(blender_names) == [f"Other.Combined.{c}" for c in "RGBA"]
    assert pick_channels(["ViewLayer.AO.B", "ViewLayer.AO.G", "ViewLayer.AO.R", "ViewLayer.Depth.Z"]) == [
        "ViewLayer.AO.R", "ViewLayer.AO.G", "ViewLayer.AO.B"]
    assert pick_channels(["B", "G", "R"]) == ["R", "G", "B"]
    assert pick_channels(["ViewLayer.Depth.Z", "Y"]) == ["ViewLayer.Depth.Z"]


def test_to_srgb8_uses_the_srgb_curve_and_unpremultiplies() -> None:
    pixels = np.array([[[0.0, 0.5, 1.0, 1.0], [0.25, 2.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]]], dtype=np.float32)
    assert to_srgb8(pixels).tolist() == [[[0, 188, 255, 255], [188, 255, 0, 128], [0, 0, 0, 0]]]
    assert to_srgb8(np.array([[[0.002]]], dtype=np.float32)).tolist() == [[[7]]]  # the linear toe: 0.002 × 12.92


def test_from_exr_makes_a_png_of_the_combined_pass(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 40, dtype=np.float32), (20, 1))
    exr = write_exr(tmp_path / "f.exr", {
        "ViewLayer.Combined.R": ramp, "ViewLayer.Combined.G": ramp * 0, "ViewLayer.Combined.B": ramp * 0,
        "ViewLayer.Combined.A": np.ones_like(ramp), "ViewLayer.Depth.Z": ramp * 100,
    })
    dest = tmp_path / "thumbs" / "000001.png"
    assert from_exr(exr, dest, size=10) == dest
    pixels = read_png(dest)
    assert pixels.shape == (5, 10, 4)
    assert (pixels[..., 1:3] == 0).all() and (pixels[..., 3] == 255).all()
    assert list(pixels[0, :, 0]) == sorted(pixels[0, :, 0]) and pixels[0, 0, 0] < 80 < 240 < pixels[0, -1, 0]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["000001.png"]  # no temporary file left


def test_from_exr_shows_a_lone_channel_as_grey(tmp_path: Path) -> None:
    exr = write_exr(tmp_path / "z.exr", {"Y": np.full((4, 6), 0.5)})
    pixels = read_png(from_exr(exr, tmp_path / "z.png"))
    assert pixels.shape == (4, 6, 1) and (pixels == 188).all()


def test_a_non_exr_file_raises_thumbnail_error(tmp_path: Path) -> None:
    fake = tmp_path / "000001.exr"
    fake.write_bytes(EXR_BYTES)
    dest = tmp_path / "thumbs" / "000001.png"
    with pytest.raises(ThumbnailError) as caught:
        from_exr(fake, dest)
    assert caught.value.code == "thumbnail_unavailable" and caught.value.status == 404
    assert "000001.exr" in caught.value.message
    assert not dest.exists()
    with pytest.raises(ThumbnailError):
        from_exr(tmp_path / "missing.exr", dest)


def test_missing_openexr_raises_thumbnail_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # makes `import OpenEXR` fail
    with pytest.raises(ThumbnailError, match="OpenEXR"):
        from_exr(tmp_path / "f.exr", tmp_path / "f.png")


# -- the slave sends what Blender made -------------------------------------------------------------


class ThumbnailBlender:
    """Stands in for Blender: writes each frame and, when our script is on the command line, its thumbnail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], log_path: Path, **_: Any) -> blender.RunResult:
        self.calls.append(list(argv))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("rendered\n")
        output = Path(argv[argv.index("-o") + 1]).parent
        frames = [int(f) for f in argv[argv.index("-f") + 1].split(",")]
        for frame in frames:
            blender.frame_file(output, frame).write_bytes(EXR_BYTES)
            if str(blender.THUMBNAIL_SCRIPT) in argv:
                blender.thumbnail_file(output, frame).write_bytes(png_bytes(1, 1, 3, b"\x10\x20\x30"))
        return blender.RunResult(0, False, [str(blender.frame_file(output, f)) for f in frames], None, 0.1)


def make_job(tmp_path: Path, master: MasterServer, frames: list[int]) -> int:
    blend = tmp_path / "shot.blend"
    blend.write_bytes(b"BLEND")
    files = [LocalFile(blend, "shot.blend", file_sha256(blend), 5)]
    return int(Client(master.url).submit(blend, JobOptions(frames=frames, chunks=2), files=files).job["id"])


def spy_uploads(slave: Slave, fail_thumbnails: Exception | None = None) -> list[tuple[str, Path, Any]]:
    calls: list[tuple[str, Path, Any]] = []
    original = slave.conn.put_file

    def put_file(path: str, file: Path, **kwargs: Any) -> Any:
        calls.append((path, file, kwargs.get("params")))
        if fail_thumbnails is not None and path.endswith("/thumbnail"):
            raise fail_thumbnails
        return original(path, file, **kwargs)

    slave.conn.put_file = put_file  # type: ignore[method-assign]
    return calls


def test_a_slave_with_thumbnails_uploads_each_after_its_frame(tmp_path: Path, live_master: MasterServer) -> None:
    fake = ThumbnailBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", thumbnails=True), run_blender=fake)
    calls = spy_uploads(slave)
    job_id = make_job(tmp_path, live_master, [1, 2])
    assert slave.run_once()
    assert "--python" in fake.calls[0]
    assert slave.reports[-1].done == [1, 2]
    sent = [(path, file.name, params) for path, file, params in calls if path.endswith("/thumbnail")]
    assert sent == [(f"/api/jobs/{job_id}/frames/{f}/thumbnail", f"{f:06d}.thumb.png", {"slave": slave.id})
                    for f in (1, 2)]
    order = [path.rsplit("/", 1)[1] for path, _, _ in calls]
    assert order == ["log", "result", "thumbnail"] * 2


def test_a_slave_without_thumbnails_neither_asks_nor_sends(tmp_path: Path, live_master: MasterServer) -> None:
    fake = ThumbnailBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=fake)
    calls = spy_uploads(slave)
    make_job(tmp_path, live_master, [1])
    assert slave.run_once()
    assert str(blender.THUMBNAIL_SCRIPT) not in fake.calls[0] and str(blender.MISSING_SCRIPT) in fake.calls[0]
    assert not [path for path, _, _ in calls if path.endswith("/thumbnail")]


@pytest.mark.parametrize("failure", [
    ApiError(404, "not_found", "no such endpoint"), MasterUnreachable("the master went away"),
])
def test_a_failed_thumbnail_upload_only_warns(
    tmp_path: Path, live_master: MasterServer, caplog: pytest.LogCaptureFixture, failure: Exception
) -> None:
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", thumbnails=True),
                  run_blender=ThumbnailBlender())
    spy_uploads(slave, fail_thumbnails=failure)
    job_id = make_job(tmp_path, live_master, [1, 2])
    with caplog.at_level(logging.WARNING, logger="netrender.slave"):
        assert slave.run_once()
    assert slave.reports[-1].done == [1, 2] and slave.reports[-1].failed == []
    assert Client(live_master.url).job(job_id)["status"] == "finished"
    assert sum("thumbnail of job" in r.getMessage() for r in caplog.records) == 2


# -- with Blender ------------------------------------------------------------------------------------

FRAMES = [1, 2]


def render_png(blend: Path, output: Path, *, view_transform: str | None = None) -> dict[int, Path]:
    """Blender's own 8-bit PNG of FRAMES: the scene's colour management, or ``view_transform`` instead."""
    assert BLENDER
    expr = [] if view_transform is None else [
        "--python-expr", f"import bpy; bpy.context.scene.view_settings.view_transform = {view_transform!r}"]
    subprocess.run([BLENDER, "-b", str(blend), *expr, "-o", str(output / "######"), "-F", "PNG", "-x", "1",
                    "-f", ",".join(map(str, FRAMES))], check=True, capture_output=True, timeout=600)
    return {f: output / f"{f:06d}.png" for f in FRAMES}


@pytest.fixture(scope="module")
def blender_pngs(sample_scene: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, Path]]:
    return {"scene": render_png(sample_scene, tmp_path_factory.mktemp("png_scene")),
            "standard": render_png(sample_scene, tmp_path_factory.mktemp("png_standard"), view_transform="Standard")}


@pytest.mark.blender
def test_from_exr_on_a_blender_frame_looks_like_blenders_standard_png(
    sample_scene: Path, blender_pngs: dict[str, dict[int, Path]], tmp_path: Path
) -> None:
    exr = render_locally(sample_scene, [1], tmp_path / "exr")[1]
    big = read_png(from_exr(exr, tmp_path / "256.png"))
    small = read_png(from_exr(exr, tmp_path / "64.png", size=64))
    assert big.shape == (54, 96, 4) and small.shape == (36, 64, 4)
    reference = read_png(blender_pngs["standard"][1])
    assert abs(brightness(big) - brightness(reference)) < LEVELS
    assert abs(brightness(small) - brightness(reference)) < LEVELS
    assert np.abs(big.astype(int) - reference).max() <= 3  # per pixel: only Blender's dither differs


@pytest.mark.blender
def test_the_slave_script_writes_thumbnails_like_blenders_png(
    sample_scene: Path, blender_pngs: dict[str, dict[int, Path]], tmp_path: Path
) -> None:
    assert BLENDER
    output = tmp_path / "out"
    argv = blender.render_argv(BLENDER, sample_scene, output, "CYCLES", 2, FRAMES, thumbnails=True)
    assert "--disable-autoexec" in argv  # our --python script must run all the same
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "netrender thumbnail failed" not in proc.stdout
    reference_exrs = render_locally(sample_scene, FRAMES, tmp_path / "reference")
    for frame in FRAMES:
        thumb = read_png(blender.thumbnail_file(output, frame))
        assert thumb.shape[0] <= 54 and thumb.shape[1] <= 96 and thumb.shape[2] in (3, 4)
        assert abs(brightness(thumb) - brightness(read_png(blender_pngs["scene"][frame]))) < LEVELS
        # The thumbnails leave the farm's frames exactly as a plain render writes them.
        assert differences(blender.frame_file(output, frame), reference_exrs[frame]) == []
    assert sorted(p.name for p in output.iterdir()) == [
        "000001.exr", "000001.thumb.png", "000002.exr", "000002.thumb.png"]


@pytest.mark.blender
def test_a_failing_thumbnail_never_fails_the_render(sample_scene: Path, tmp_path: Path) -> None:
    assert BLENDER
    output = tmp_path / "out"
    (output / f"000001{FULL_SIZE_SUFFIX}").mkdir(parents=True)  # where the script must write: it cannot
    argv = blender.render_argv(BLENDER, sample_scene, output, "CYCLES", 2, FRAMES, thumbnails=True)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    failures = [line for line in proc.stdout.splitlines() if line.startswith("netrender thumbnail failed:")]
    assert len(failures) == 1 and "frame 1" in failures[0]
    assert blender.frame_file(output, 1).is_file() and not blender.thumbnail_file(output, 1).exists()
    assert blender.frame_file(output, 2).is_file() and blender.thumbnail_file(output, 2).is_file()
    assert not [line for line in proc.stdout.splitlines() if blender.load_error(line)]
