# SPDX-License-Identifier: GPL-3.0-or-later
"""The browser monitor, end to end: Debian's Chromium (driven by Playwright) against a real master.

The first test follows a real render by a real slave and Blender, and saves the
screenshots under docs/screenshots/; the others fill a farm through the API (a
stand-in slave, no Blender) to click through every action. Each test fails if
the browser console shows an error or the page throws.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXR_BYTES, wait_until
from web_helpers import DESKTOP, PHONE, SCREENSHOTS, FarmApi

from netrender.client import Client, JobOptions
from netrender.master import MasterServer

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
RENDER_WAIT = 240.0  # seconds for a few real frames, Blender's start-up included




class Monitor:
    """One browser tab on the master's monitor, recording every console error and uncaught exception."""

    def __init__(self, browser: Any, master: MasterServer) -> None:
        self.url = master.url
        self.context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def open(self, route: str = "#/jobs") -> None:
        if self.page.url.startswith(self.url):
            self.page.evaluate("route => { location.hash = route; }", route)
        else:
            self.page.goto(f"{self.url}/{route}")
        expect(self.page.locator("#live")).to_have_attribute("data-state", "live")

    def expect_error(self, pattern: str) -> None:
        """A console error the test provokes on purpose (Chromium logs every 4xx answer)."""
        self.expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def quiet(self) -> None:
        """Clear the notices of earlier clicks, so a screenshot shows the page itself."""
        self.page.evaluate("for (const id of ['messages', 'toasts']) document.getElementById(id).replaceChildren()")
        self.page.mouse.move(0, self.page.viewport_size["height"] - 1)  # no hover effect either

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.quiet()
        self.page.wait_for_timeout(300)  # let bars and badges finish their transitions
        path = SCREENSHOTS / name
        self.page.screenshot(path=path)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def monitor(browser: Any, live_master: MasterServer) -> Iterator[Monitor]:
    """Closed before the master stops, so no poll meets a closed port."""
    tab = Monitor(browser, live_master)
    yield tab
    tab.close()
    assert tab.unexpected_errors() == [], "the browser console showed errors"


def job_row(monitor: Monitor, job_id: int) -> Any:
    return monitor.page.locator(f'tr[data-job="{job_id}"]')


def choose(monitor: Monitor, job_id: int, action: str) -> None:
    """Pick an entry of a job's "more actions" menu on the jobs page."""
    job_row(monitor, job_id).locator("[data-menu=more]").click()
    monitor.page.locator(f'.menu [data-action="{action}"]').click()


def confirm(monitor: Monitor, value: str = "yes") -> None:
    monitor.page.locator(f'dialog[open] button[value="{value}"]').click()
    expect(monitor.page.locator("dialog[open]")).to_have_count(0)


# -- a real render ------------------------------------------------------------------


@pytest.mark.blender
def test_the_monitor_follows_a_real_render(
    monitor: Monitor, live_master: MasterServer, spawn_slaves, sample_scene: Path
) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    monitor.open()
    expect(page.locator(".empty-state")).to_contain_text(
        f"No jobs yet: submit one with netrender submit FILE.blend --master {live_master.url}")

    client = Client(live_master.url)
    shot = client.submit(sample_scene, JobOptions(frames=[1, 2, 3], chunks=1, name="shot_010", category="shots",
                                                  priority=2)).job["id"]
    later = client.submit(sample_scene, JobOptions(frames=[4, 5, 6], chunks=1, name="lookdev_turntable",
                                                   category="lookdev")).job["id"]
    expect(job_row(monitor, shot)).to_contain_text("shot_010")

    # No slave yet: the jobs wait, so pause and resume meet no race with a finished job.
    job_row(monitor, shot).locator('[data-action="pause"]').click()
    wait_until(lambda: farm.job(shot)["status"] == "paused", what="pausing through the page")
    expect(job_row(monitor, shot).locator(".badge")).to_have_text("paused")
    job_row(monitor, shot).locator('[data-action="resume"]').click()
    wait_until(lambda: farm.job(shot)["status"] == "queued", what="resuming through the page")
    job_row(monitor, later).locator('[data-action="pause"]').click()
    wait_until(lambda: farm.job(later)["status"] == "paused", what="pausing the second job")

    monitor.open("#/slaves")
    expect(page.locator(".empty-state")).to_contain_text(
        f"No slaves yet: start one with netrender slave --master {live_master.url}")
    spawn_slaves(live_master.url)
    expect(page.locator("tr[data-slave]")).to_have_count(1, timeout=30_000)
    expect(page.locator("tr[data-slave]")).to_contain_text("slave-1")

    monitor.open("#/jobs")
    expect(job_row(monitor, shot).locator(".progress-text")).to_have_text("100 %", timeout=RENDER_WAIT * 1000)
    expect(job_row(monitor, shot).locator(".badge")).to_have_text("finished")
    assert farm.job(shot)["status"] == "finished"

    # A third job, caught while it renders, for a lively screenshot.
    fx = client.submit(sample_scene, JobOptions(frames=list(range(7, 13)), chunks=1, name="fx_smoke",
                                                category="fx")).job["id"]
    expect(job_row(monitor, fx).locator(".progress-text")).not_to_have_text("0 %", timeout=RENDER_WAIT * 1000)
    monitor.screenshot("jobs.png")
    monitor.open("#/slaves")
    expect(page.locator("tr[data-slave]")).to_contain_text("slave-1")
    monitor.screenshot("slaves.png")  # most likely while it renders fx_smoke
    monitor.open("#/jobs")
    expect(job_row(monitor, fx).locator(".progress-text")).to_have_text("100 %", timeout=RENDER_WAIT * 1000)

    monitor.open(f"#/jobs/{shot}")
    tiles = page.locator(".frame-done")
    expect(tiles).to_have_count(3)
    page.wait_for_function(
        """() => {
          const images = [...document.querySelectorAll('.frame-done .thumb img')];
          return images.length === 3 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""", timeout=30_000)
    expect(tiles.first).to_contain_text("slave-1")  # the slave's name, not its id
    expect(page.locator(".timeline")).to_contain_text("paused")
    expect(page.locator(".files-table")).to_contain_text("sample.blend")
    monitor.screenshot("job.png")

    page.locator('.frame[data-frame="2"]').click()
    drawer = page.locator("dialog.drawer[open]")
    expect(drawer.locator("pre.log")).to_contain_text("Blender", timeout=10_000)
    expect(drawer).to_contain_text("slave-1")
    href = drawer.locator('[data-action="download-frame"]').get_attribute("href")
    assert href is not None and href.endswith(f"/api/jobs/{shot}/frames/2/result")
    assert page.request.get(href).body()[:4] == b"\x76\x2f\x31\x01"  # the EXR itself
    drawer.locator('[data-action="close-panel"]').click()
    expect(drawer).to_have_count(0)
    with page.expect_download() as download:
        page.locator('[data-action="zip"]').click()
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"

    monitor.open("#/slaves")
    row = page.locator("tr[data-slave]")
    expect(row.locator(".badge").first).to_have_text("idle", timeout=30_000)
    expect(row.locator('td[data-label="Done"]')).to_have_text("9")
    expect(row).to_contain_text(re.compile(r"\d+ s ago|just now"))

    monitor.open("#/jobs")
    page.set_viewport_size(PHONE)
    expect(job_row(monitor, shot)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page overflows sideways"
    monitor.screenshot("jobs-phone.png")
    page.set_viewport_size(DESKTOP)

    choose(monitor, later, "remove")
    confirm(monitor, "delete")
    wait_until(lambda: farm.status(later) == 404, what="removing the job")
    expect(job_row(monitor, later)).to_have_count(0)
    assert sorted(j["id"] for j in farm.get("jobs")["jobs"]) == [shot, fx]


# -- every action, on a farm filled through the API -----------------------------------


def fill_farm(farm: FarmApi, retry: bool = True) -> dict[str, Any]:
    """Two slaves and three jobs: one with a finished and a failed frame, two untouched.

    With ``retry`` off the failed frame stays failed; with it on, it waits for a retry.
    """
    if not retry:
        farm.call("PATCH", "balancing", json={"retry": False})
    fast = farm.register("render-01", cores=16, gpu=["GPU 0: NVIDIA RTX A4000"])
    slow = farm.register("render-02", cores=8)
    comp = farm.submit("comp", [1, 2, 3, 4], category="shots")["id"]
    work = farm.take(fast)
    assert work and work["job_id"] == comp
    for frame in work["frames"]:
        farm.finish(fast, comp, frame)
    work = farm.take(slow)
    assert work and work["job_id"] == comp
    farm.fail(slow, comp, work["frames"][0], message="Blender quit with exit code 11")
    other = farm.submit("fx", [10, 11], chunks=2)["id"]
    spare = farm.submit("spare", [1])["id"]
    return {"fast": fast, "slow": slow, "comp": comp, "other": other, "spare": spare}


def test_job_actions_change_the_master(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    ids = fill_farm(farm)
    comp, other = ids["comp"], ids["other"]
    monitor.open()
    expect(page.locator("tr[data-job]")).to_have_count(3)

    # Priority and chunks: type, then Enter.
    priority = job_row(monitor, other).locator('input[aria-label="priority"]')
    priority.fill("7")
    priority.press("Enter")
    wait_until(lambda: farm.job(other)["priority"] == 7, what="changing the priority")
    chunks = job_row(monitor, other).locator('input[aria-label="chunks"]')
    chunks.fill("5")
    chunks.press("Enter")
    wait_until(lambda: farm.job(other)["chunks"] == 5, what="changing the chunks")

    choose(monitor, other, "cancel")
    confirm(monitor)
    wait_until(lambda: farm.job(other)["status"] == "cancelled", what="cancelling")
    # Cancelling is final on the master, so the page offers nothing that would bring the job back.
    expect(job_row(monitor, other).locator('[data-action="pause"]')).to_be_disabled()
    job_row(monitor, other).locator("[data-menu=more]").click()
    expect(page.locator('.menu [data-action="requeue"]')).to_be_disabled()
    page.keyboard.press("Escape")

    assert farm.job(comp)["frame_count"]["error"] == 0  # the failed frame went back for a retry
    choose(monitor, comp, "requeue")
    confirm(monitor)
    wait_until(lambda: farm.job(comp)["frame_count"]["done"] == 0, what="requeueing every frame")

    removed = ids["spare"]
    choose(monitor, removed, "remove")
    confirm(monitor, "keep")
    wait_until(lambda: farm.status(removed) == 404, what="removing a job, keeping its files")
    expect(job_row(monitor, removed)).to_have_count(0)


def test_job_page_frames_logs_and_blacklist(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    ids = fill_farm(farm, retry=False)
    comp, slow = ids["comp"], ids["slow"]
    monitor.open(f"#/jobs/{comp}")

    expect(page.locator(".frame-done")).to_have_count(1)
    expect(page.locator(".frame-error")).to_have_count(1)
    page.wait_for_function("() => [...document.querySelectorAll('.frame-done img')].every((i) => i.naturalWidth > 0)")
    expect(page.locator(".frame-done")).to_contain_text("render-01")
    expect(page.locator(".frame-error")).to_contain_text("render-02")

    page.locator(".frame-error").click()
    drawer = page.locator("dialog.drawer[open]")
    expect(drawer).to_contain_text("exit code 11")
    expect(drawer.locator('[data-action="download-frame"]')).to_be_hidden()
    page.keyboard.press("Escape")
    page.locator(".frame-done").click()
    expect(drawer.locator("pre.log")).to_contain_text("Blender")
    page.keyboard.press("Escape")

    page.locator('[data-action="reset"]').click()
    wait_until(lambda: farm.job(comp)["frame_count"]["error"] == 0, what="resetting the failed frames")

    page.locator('select[aria-label="Slave to blacklist for this job"]').select_option(slow)
    page.locator('[data-action="job-blacklist"]').click()
    wait_until(lambda: [e["slave_id"] for e in farm.get(f"jobs/{comp}/blacklist")["blacklist"]] == [slow],
               what="blacklisting a slave for the job")
    entry = page.locator(f'.blacklist-entry[data-slave="{slow}"]')
    expect(entry).to_contain_text("render-02")
    entry.locator('[data-action="job-unblacklist"]').click()
    wait_until(lambda: farm.get(f"jobs/{comp}/blacklist")["blacklist"] == [], what="taking it off the blacklist")
    expect(entry).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text("submitted")

    page.locator('[data-action="pause"]').click()
    wait_until(lambda: farm.job(comp)["status"] == "paused", what="pausing from the job page")


def test_slave_actions_change_the_master(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    monitor.open("#/slaves")
    expect(page.locator(".empty-state")).to_contain_text("netrender slave --master")
    ids = fill_farm(farm)  # appears without a reload
    slow, comp = ids["slow"], ids["comp"]
    row = page.locator(f'tr[data-slave="{slow}"]')
    expect(row).to_contain_text("render-02")
    expect(page.locator(f'tr[data-slave="{ids["fast"]}"]')).to_contain_text("NVIDIA RTX A4000")
    expect(row).to_contain_text(re.compile(r"\d+ s ago|just now"))

    row.locator('[data-action="blacklist"]').click()
    wait_until(lambda: farm.slave(slow)["blacklisted"], what="blacklisting farm-wide")
    expect(row.locator(".badge-blacklisted")).to_be_visible()
    row.locator('[data-action="unblacklist"]').click()
    wait_until(lambda: not farm.slave(slow)["blacklisted"], what="un-blacklisting")

    row.locator('[data-action="disable"]').click()
    wait_until(lambda: farm.slave(slow)["disabled"], what="disabling")
    expect(row.locator(".badge").first).to_have_text("disabled")
    row.locator('[data-action="enable"]').click()
    wait_until(lambda: not farm.slave(slow)["disabled"], what="enabling")

    row.locator('[data-action="job-blacklist"]').click()
    page.locator("dialog[open] select").select_option(str(comp))
    confirm(monitor)
    wait_until(lambda: [e["slave_id"] for e in farm.get(f"jobs/{comp}/blacklist")["blacklist"]] == [slow],
               what="blacklisting for one job")


def test_balancing_rules_are_saved_and_refusals_shown(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    monitor.open("#/balancing")
    rules = farm.get("balancing")
    for name, value in rules.items():  # every rule and threshold is on the page
        field = page.locator(f'input[name="{name}"]')
        if isinstance(value, bool):
            expect(field).to_be_checked(checked=value)
        else:
            expect(field).to_have_value(re.compile(rf"^{value:g}$"))

    page.locator('label[for="rule-new_first"]').click()
    page.locator('input[name="cap_percent"]').fill("50")
    page.locator('[data-action="save-rules"]').click()
    wait_until(lambda: farm.get("balancing")["cap_percent"] == 50 and not farm.get("balancing")["new_first"],
               what="saving the rules")
    expect(page.locator('[data-action="save-rules"]')).to_be_disabled()

    monitor.expect_error(r"status of 400")  # Chromium logs the refusal itself
    page.locator('input[name="max_retries"]').fill("2.5")
    page.locator('[data-action="save-rules"]').click()
    expect(page.locator(".message-error")).to_contain_text("'max_retries' must be an integer")
    expect(page.locator(".form-error")).to_contain_text("max_retries")
    assert farm.get("balancing")["max_retries"] == rules["max_retries"]
    assert len(monitor.errors) == 1, monitor.errors


def test_job_page_lists_the_files_the_client_did_not_have(monitor: Monitor, live_master: MasterServer) -> None:
    farm = FarmApi(live_master.url)
    gone = ["/nonexistent/old_server/textures/gone.png", "/home/artist/proj/assets/moved/gone.blend"]
    lacking = farm.submit("lacking", [1], missing=gone)["id"]
    whole = farm.submit("whole", [1])["id"]
    monitor.open(f"#/jobs/{lacking}")
    note = monitor.page.locator('[data-role="missing"]')
    expect(note).to_be_visible()
    expect(note).to_contain_text("2 missing files")
    for path in gone:
        expect(note.locator("li", has_text=path)).to_have_count(1)
    monitor.open(f"#/jobs/{whole}")
    expect(monitor.page.locator(".job-head")).to_contain_text("whole")
    expect(monitor.page.locator('[data-role="missing"]')).to_be_hidden()


# -- jobs of tiles, and each slave's Blender and speed ----------------------------------

TILES_SIZE = (1920, 1080)  # 16 tiles asked for make a 6×3 grid of 18 near-square tiles


def tile_colour(rect: list[int]) -> tuple[int, int, int]:
    """A colour by the tile's place, so that the thumbnails of a frame's tiles make one picture."""
    x = (rect[0] + rect[2]) / 2 / TILES_SIZE[0]
    y = (rect[1] + rect[3]) / 2 / TILES_SIZE[1]
    return int(40 + 160 * x), int(80 + 90 * (1 - y)), int(210 - 100 * y)


def fill_tiles(farm: FarmApi) -> dict[str, Any]:
    """A still of two frames in tiles, part-way: frame 1 has tiles 1-11 done, 12 failed, 13 and 14 rendering.

    Frame 1's stitch (37) failed with its tile, frame 2's (38) waits for its tiles; a job of frames waits,
    paused, beside it.
    """
    farm.call("PATCH", "balancing", json={"retry": False})
    fast = farm.register("render-01", cores=16, gpu=["GPU 0: NVIDIA RTX A4000"], blender="4.2.3 LTS",
                         capabilities=["denoise"])
    slow = farm.register("render-02", cores=8, blender="3.4.1", capabilities=[])
    job = farm.submit_tiles("hero_still", [1, 2], tiles=16, size=TILES_SIZE, denoise=True, category="stills")["id"]
    tasks = {t["number"]: t["task"] for t in farm.job(job)["frames"]}
    for number in range(1, 12):
        work = farm.take(fast)
        assert work and work["job_id"] == job and work["frames"] == [number]
        farm.finish(fast, job, number, rgb=tile_colour(tasks[number]["rect"]))
    work = farm.take(slow)
    assert work and work["frames"] == [12]
    farm.fail(slow, job, 12, message="Blender quit with exit code 11")
    assert (farm.take(slow) or {}).get("frames") == [13]
    assert (farm.take(fast) or {}).get("frames") == [14]
    comp = farm.submit("comp", [1, 2, 3, 4], category="shots")["id"]
    farm.call("POST", f"jobs/{comp}/pause")
    return {"fast": fast, "slow": slow, "job": job, "comp": comp, "tasks": tasks}


def tile_boxes(monitor: Monitor, frame: int) -> list[dict[str, float]]:
    """Each tile of a frame's mosaic: its task, and its box as fractions of the mosaic's."""
    return monitor.page.locator(f'.mosaic-card[data-frame="{frame}"]').evaluate(
        """(card) => {
          const box = card.querySelector('.mosaic').getBoundingClientRect();
          return [...card.querySelectorAll('.tile')].map((tile) => {
            const r = tile.getBoundingClientRect();
            return {task: Number(tile.dataset.task), x: (r.left - box.left) / box.width,
                    y: (r.top - box.top) / box.height, w: r.width / box.width, h: r.height / box.height,
                    width: box.width, height: box.height};
          });
        }""")


def test_tiles_job_shows_a_mosaic_per_frame(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    ids = fill_tiles(farm)
    job, fast, slow, tasks = ids["job"], ids["fast"], ids["slow"], ids["tasks"]

    # The jobs list: a chip with the tiles per frame, and tasks counted as tasks.
    monitor.open()
    row = job_row(monitor, job)
    expect(row.locator(".chip-tiles")).to_have_text("18 tiles · denoise")
    expect(row.locator('td[data-label="Progress"]')).to_contain_text("11 / 38 tasks done · 2 rendering · 2 failed")
    expect(job_row(monitor, ids["comp"]).locator(".chip-tiles")).to_have_count(0)
    expect(job_row(monitor, ids["comp"]).locator('td[data-label="Progress"]')).to_contain_text("0 / 4 frames done")

    monitor.open(f"#/jobs/{job}")
    expect(page.locator(".job-head .subtitle")).to_have_text("Job 1 · 2 frames · 38 tasks · stills")
    facts = page.locator(".summary-card .facts")
    expect(facts.locator("div", has=page.locator("dt", has_text="Tiles")).locator("dd")).to_have_text(
        "6×3 (18 per frame)")
    expect(facts.locator("div", has=page.locator("dt", has_text="Size")).locator("dd")).to_have_text("1920×1080 px")
    expect(facts.locator("div", has=page.locator("dt", has_text="Denoise")).locator("dd")).to_contain_text("yes")
    expect(page.locator(".number-mean")).to_contain_text("per task")

    # A mosaic per frame, each tile at its region and in its task's state.
    first, second = page.locator('.mosaic-card[data-frame="1"]'), page.locator('.mosaic-card[data-frame="2"]')
    expect(page.locator(".mosaic-card")).to_have_count(2)
    expect(first.locator(".tile")).to_have_count(18)
    expect(first.locator(".tile-done")).to_have_count(11)
    expect(first.locator(".tile-error")).to_have_count(1)
    expect(first.locator(".tile-dispatched")).to_have_count(2)
    expect(first.locator(".tile-queued")).to_have_count(4)
    expect(first.locator('.tile[data-task="12"]')).to_have_class(re.compile(r"\btile-error\b"))
    expect(first.locator('.tile[data-task="12"] .tile-no')).to_have_text("12")
    expect(first.locator('.tile[data-task="13"]')).to_have_attribute(
        "aria-label", "Tile 13 of frame 1: rendering on render-02")
    expect(second.locator(".tile-queued")).to_have_count(18)
    expect(second.locator('.tile[data-task="19"] .tile-no')).to_have_text("1")  # numbered within its frame
    page.wait_for_function(
        """() => {
          const images = [...document.querySelectorAll('.mosaic-card[data-frame="1"] .tile-done img')];
          return images.length === 11 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""")
    for frame, numbers in ((1, range(1, 19)), (2, range(19, 37))):
        boxes = {b["task"]: b for b in tile_boxes(monitor, frame)}
        assert sorted(boxes) == list(numbers)
        width, height = TILES_SIZE
        for number in numbers:
            box, (x0, y0, x1, y1) = boxes[number], tasks[number]["rect"]
            assert tasks[number]["frame"] == frame
            pixel = 1.01 / box["width"]  # a CSS pixel of the mosaic, as a fraction of it
            assert abs(box["x"] - x0 / width) <= pixel and abs(box["w"] - (x1 - x0) / width) <= pixel, (number, box)
            assert abs(box["y"] - y0 / height) <= pixel and abs(box["h"] - (y1 - y0) / height) <= pixel, (number, box)
        assert abs(box["width"] / box["height"] - width / height) < 0.01  # the frame's shape

    # The stitch is the frame's state: nothing to download yet.
    expect(first.locator(".mosaic-head .badge")).to_have_text("tile failed")
    expect(second.locator(".mosaic-head .badge")).to_have_text("queued")
    expect(first.locator(".mosaic-count")).to_have_text("11/18 tiles")
    expect(page.locator('[data-action="download-output"]:visible')).to_have_count(0)
    page.set_viewport_size({"width": DESKTOP["width"], "height": 900})  # the mosaics under the summary
    monitor.screenshot("job-tiles.png")
    page.set_viewport_size(DESKTOP)

    # The plain task grid is a click away.
    page.locator('[data-view="tasks"]').click()
    expect(page.locator(".frame-grid .frame")).to_have_count(38)
    expect(page.locator(".mosaics")).to_be_hidden()
    page.locator('[data-view="mosaic"]').click()
    expect(page.locator(".frame-grid")).to_be_hidden()

    # A tile opens its task's panel; the failed one renders again from there.
    first.locator('.tile[data-task="12"]').click()
    drawer = page.locator("dialog.drawer[open]")
    expect(drawer.locator("h2")).to_have_text("Tile 12 · frame 1")
    expect(drawer).to_contain_text("exit code 11")
    expect(drawer).to_contain_text("320×360 px at 1600, 360")
    expect(drawer.locator('[data-action="download-frame"]')).to_be_hidden()
    drawer.locator('[data-action="reset-frame"]').click()
    wait_until(lambda: farm.get(f"jobs/{job}/frames/12")["status"] == "queued", what="rendering the tile again")
    page.keyboard.press("Escape")
    expect(first.locator('.tile[data-task="12"]')).to_have_class(re.compile(r"\btile-queued\b"))

    # Every tile and both stitches done: each frame is done, and its download is the stitched EXR.
    farm.finish(slow, job, 13, rgb=tile_colour(tasks[13]["rect"]))
    farm.finish(fast, job, 14, rgb=tile_colour(tasks[14]["rect"]))
    for _ in range(40):
        work = farm.take(fast)
        if not work:
            break
        for number in work["frames"]:
            farm.finish(fast, job, number, rgb=tile_colour(tasks[number]["rect"]))
    assert farm.job(job)["status"] == "finished"
    expect(first.locator(".mosaic-head .badge")).to_have_text("done")
    expect(first.locator(".tile-done")).to_have_count(18)
    link = first.locator('[data-action="download-output"]')
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href is not None and href.endswith(f"/api/jobs/{job}/outputs/1")
    assert page.request.get(href).body() == EXR_BYTES
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".exr")
    assert Path(download.value.path()).read_bytes() == EXR_BYTES
    expect(second.locator('[data-action="download-output"]')).to_have_attribute(
        "href", re.compile(rf"/api/jobs/{job}/outputs/2$"))
    second.locator('[data-action="open-stitch"]').click()
    expect(drawer.locator("h2")).to_have_text("Stitch · frame 2")
    expect(drawer).to_contain_text("frame 2 from 18 tiles, denoised")
    expect(drawer.locator('[data-action="download-frame"]')).to_be_visible()


def test_a_frame_of_tiles_downloads_on_a_master_with_a_token(browser: Any, start_master: Any) -> None:
    """Links cannot send the token: a frame's download carries the media signature, as the other downloads do."""
    token = "the farm token of the browser test"
    master = start_master(token=token)
    farm = FarmApi(master.url)
    farm.http.headers["Authorization"] = f"Bearer {token}"
    slave = farm.register("render-01", capabilities=["denoise"])
    job = farm.submit_tiles("still", [1], tiles=2, size=(200, 100))["id"]
    while work := farm.take(slave):
        for number in work["frames"]:
            farm.finish(slave, job, number)
    tab = Monitor(browser, master)
    tab.expect_error(r"status of 401")  # the first calls, before the token is typed
    try:
        page = tab.page
        page.goto(f"{master.url}/#/jobs/{job}")
        page.locator("[data-token-input]").fill(token)
        page.locator("[data-token-submit]").click()
        page.wait_for_function(
            """() => {
              const images = [...document.querySelectorAll('.tile-done img')];
              return images.length === 2 && images.every((i) => i.complete && i.naturalWidth > 0);
            }""")  # the tiles' thumbnails open with the signature
        link = page.locator('.mosaic-card[data-frame="1"] [data-action="download-output"]')
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        assert href is not None and "auth=" in href
        answer = page.request.get(href)  # as the link is followed: the signature, not the token
        assert answer.status == 200 and answer.body() == EXR_BYTES
    finally:
        tab.close()
    assert tab.unexpected_errors() == []

SPEEDS = {
    "render-01": {"frame_seconds": 12.0, "tile_seconds_per_mpix": 4.0, "machine_seconds": 30.0, "file_seconds": 8.0,
                  "samples": 12},
    "render-02": {"frame_seconds": 24.0, "tile_seconds_per_mpix": None, "machine_seconds": 90.0,
                  "file_seconds": None, "samples": 3},
}


def test_slaves_page_shows_blender_capabilities_and_speed(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    fast = farm.register("render-01", cores=16, gpu=["GPU 0: NVIDIA RTX A4000"], blender="4.2.3 LTS",
                         capabilities=["denoise"])
    slow = farm.register("render-02", cores=8, blender="3.4.1", capabilities=[])
    old = farm.register("render-03", cores=4)  # says nothing of its Blender

    def with_speeds(route: Any) -> None:
        """The master's answer, with speed profiles as the lead's master will send them (none for render-03)."""
        response = route.fetch()
        data = response.json()
        for slave in data["slaves"]:
            slave.pop("speed", None)
            if slave["name"] in SPEEDS:
                slave["speed"] = SPEEDS[slave["name"]]
        route.fulfill(response=response, json=data)

    page.route(re.compile(r"/api/slaves$"), with_speeds)
    monitor.open("#/slaves")
    rows = {slave_id: page.locator(f'tr[data-slave="{slave_id}"]') for slave_id in (fast, slow, old)}
    machine = {k: row.locator('td[data-label="Machine"]') for k, row in rows.items()}
    expect(machine[fast]).to_contain_text("Blender 4.2.3 LTS")
    expect(machine[fast].locator(".chip-cap")).to_have_text(["denoise"])
    expect(machine[slow]).to_contain_text("Blender 3.4.1")
    expect(machine[slow].locator(".chip-cap")).to_have_count(0)
    expect(machine[old]).to_contain_text("Blender unknown")

    def speed(slave_id: str, metric: str) -> Any:
        return rows[slave_id].locator(f'.speed-row[data-metric="{metric}"]')

    shown = {
        fast: {"frame_seconds": "12 s", "tile_seconds_per_mpix": "4.0 s/Mpx", "machine_seconds": "30 s",
               "file_seconds": "8.0 s"},
        slow: {"frame_seconds": "24 s", "tile_seconds_per_mpix": "—", "machine_seconds": "1 min 30 s",
               "file_seconds": "—"},
    }
    for slave_id, metrics in shown.items():
        for metric, text in metrics.items():
            expect(speed(slave_id, metric).locator(".speed-value")).to_have_text(text)
    expect(rows[fast].locator(".speed-samples")).to_have_text("from 12 tasks")
    # Bars relative to the fastest slave: render-02 takes twice render-01's time per frame, thrice its machine test.
    for slave_id, metric, share in ((fast, "frame_seconds", 1.0), (slow, "frame_seconds", 0.5),
                                    (fast, "machine_seconds", 1.0), (slow, "machine_seconds", 1 / 3)):
        bar = speed(slave_id, metric).locator(".speed-bar")
        fill = bar.locator("i").bounding_box()
        whole = bar.bounding_box()
        assert fill and whole and abs(fill["width"] / whole["width"] - share) < 0.02, (slave_id, metric)
    expect(speed(slow, "tile_seconds_per_mpix").locator(".speed-bar")).to_be_hidden()
    expect(speed(fast, "frame_seconds")).to_have_attribute("title", re.compile("the fastest slave"))
    expect(speed(slow, "frame_seconds")).to_have_attribute("title", re.compile(r"2\.0× the fastest"))
    expect(rows[old].locator(".speed-none")).to_have_text("—")
    expect(rows[old].locator(".speeds")).to_be_hidden()
    monitor.screenshot("slaves-speed.png")

    page.set_viewport_size(PHONE)
    expect(speed(fast, "frame_seconds")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page overflows sideways"
    page.set_viewport_size(DESKTOP)



def test_ssh_nodes_are_added_and_removed_from_the_slaves_page(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    monitor.open("#/slaves")
    card = page.locator(".nodes-card")
    expect(card.locator(".nodes-none")).to_contain_text("No SSH node")
    with socket.socket() as probe:  # a loopback port nobody listens on: the node cannot be reached
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = f"anna@127.0.0.1:{port}"

    monitor.expect_error(r"status of 400")
    card.locator('input[name="target"]').fill("anna@ bad host")
    card.locator('button[type="submit"]').click()
    expect(page.locator("#messages .message-error").first).to_contain_text("is not an SSH node")
    assert farm.get("nodes")["nodes"] == []  # refused, nothing added

    card.locator('input[name="target"]').fill(target)
    card.locator('input[name="threads"]').fill("2")
    card.locator('input[name="tags"]').fill("gpu; big")
    card.locator('button[type="submit"]').click()
    wait_until(lambda: [n["name"] for n in farm.get("nodes")["nodes"]] == [target], what="adding a node")
    assert farm.get("nodes")["nodes"][0]["tags"] == ["gpu", "big"] and farm.get("nodes")["nodes"][0]["threads"] == 2
    row = card.locator(f'tr[data-node="{target}"]')
    expect(row).to_contain_text("gpu, big")
    expect(row.locator(".badge")).to_have_text("unreachable", timeout=30_000)  # the master tried, and says why
    expect(row.locator(".node-problem")).not_to_be_empty()
    monitor.screenshot("slaves-ssh-nodes.png")

    row.locator('[data-action="remove-node"]').click()
    wait_until(lambda: farm.get("nodes")["nodes"] == [], what="removing a node")
    expect(row).to_have_count(0)


def test_bakes_dependencies_and_versioned_jobs_show_what_they_are(monitor: Monitor,
                                                                   live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    bake = farm.submit("sim", [1, 2], kind="bake", caches=[["Cloth", "Cloth"], ["Emitter", "particles/P"]])
    render_job = farm.submit("sim", [1, 2, 3], after=bake["id"])
    versioned = farm.call("POST", "jobs", json={
        "name": "shot", "vcs": "git", "remote": "https://anna:s3cret@git.example.com/show.git",
        "revision": "0123abcd", "blend": "shots/shot.blend", "files": [], "frames": [1]})

    monitor.open()
    expect(job_row(monitor, bake["id"]).locator(".chip-tiles")).to_have_text("bake · 2 caches")
    expect(job_row(monitor, render_job["id"]).locator(".job-after")).to_have_text(f"after #{bake['id']}")
    expect(job_row(monitor, versioned["id"]).locator(".chip-tiles")).to_have_text("git")
    assert "s3cret" not in page.content()

    monitor.open(f"#/jobs/{render_job['id']}")
    facts = page.locator(".summary-card .facts")
    after = facts.locator("div", has=page.locator("dt", has_text="Runs after")).locator("dd a")
    expect(after).to_have_text(f"#{bake['id']} sim")
    after.click()
    expect(page).to_have_url(re.compile(f"#/jobs/{bake['id']}$"))
    expect(facts.locator("div", has=page.locator("dt", has_text="Files")).locator("dd")).to_have_text(
        "uploaded (1); bakes Cloth/Cloth, Emitter/particles/P")
    monitor.open(f"#/jobs/{versioned['id']}")
    expect(facts.locator("div", has=page.locator("dt", has_text="Files")).locator("dd")).to_have_text(
        "git https://anna:***@git.example.com/show.git at 0123abcd")
    assert "s3cret" not in page.content()


def test_a_slave_is_switched_off_for_one_job_and_on_again(monitor: Monitor, live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    ids = fill_farm(farm)
    slow, comp = ids["slow"], ids["comp"]
    monitor.open("#/slaves")
    page.locator(f'tr[data-slave="{slow}"] [data-action="job-switch-off"]').click()
    page.locator("dialog[open] select").select_option(str(comp))
    expect(page.locator("dialog[open]")).to_contain_text("renders every other job but not the chosen one")
    confirm(monitor)
    wait_until(lambda: farm.job(comp)["switched_off"] == [slow], what="switching off for one job")
    assert farm.job(comp)["blacklist"] == []  # not a blacklisting

    monitor.open(f"#/jobs/{comp}")
    switched = page.locator(".summary-card .facts div", has=page.locator("dt", has_text="Switched off"))
    expect(switched.locator("dd")).to_contain_text("render-02")
    switched.locator('[data-action="switch-on"]').click()
    wait_until(lambda: farm.job(comp)["switched_off"] == [], what="switching on again")
    expect(switched.locator("dd")).to_have_text("—")


def test_the_queue_is_turned_on_and_jobs_stopped_started_and_enqueued(monitor: Monitor,
                                                                       live_master: MasterServer) -> None:
    page = monitor.page
    farm = FarmApi(live_master.url)
    first, second = farm.submit("first", [1])["id"], farm.submit("second", [1])["id"]
    monitor.open("#/balancing")
    page.locator('label[for="rule-fifo"]').click()
    page.locator('[data-action="save-rules"]').click()
    wait_until(lambda: farm.get("queue") == {"mode": "fifo", "autostart": True}, what="turning the queue on")

    monitor.open()
    expect(job_row(monitor, first).locator(".job-after")).to_have_text("waiting")
    choose(monitor, second, "queue-start")
    wait_until(lambda: farm.job(second)["queue_state"] == "rendering", what="starting a job by hand")
    expect(job_row(monitor, second).locator(".job-after")).to_have_text("rendering")
    choose(monitor, second, "queue-stop")
    wait_until(lambda: farm.job(second)["queue_state"] == "stopped", what="stopping it")
    choose(monitor, second, "queue-enqueue")
    wait_until(lambda: farm.job(second)["queue_state"] == "waiting", what="enqueueing it")
    assert farm.job(second)["queued_at"] > farm.job(first)["queued_at"]  # at the end of the queue


def test_shared_storage_is_browsed_a_blend_rendered_in_place_and_frames_checked(
    browser: Any, start_master: Any, tmp_path: Path
) -> None:
    root = tmp_path / "projects"
    (root / "show" / "renders").mkdir(parents=True)
    (root / "show" / "sh010.blend").write_bytes(b"BLENDER-v304 stand-in")
    for frame in (1, 2, 4):
        (root / "show" / "renders" / f"{frame:06d}.exr").write_bytes(EXR_BYTES if frame != 4 else b"")
    master = start_master(storage_roots=(root,))
    tab = Monitor(browser, master)
    page = tab.page
    try:
        tab.open("#/storage")
        expect(page.locator(".crumbs")).to_contain_text(str(root))
        page.locator('tr[data-entry="show"] a').click()
        expect(page.locator('tr[data-entry="sh010.blend"]')).to_contain_text("21 B")
        page.locator('tr[data-entry="renders"] a').click()
        page.locator('input[name="frames"]').fill("1-5")
        page.locator('[data-action="check-frames"] button[type="submit"]').click()
        expect(page.locator(".check-result")).to_have_text("missing: 3, 5; empty: 4")
        tab.screenshot("storage.png")

        page.locator(".crumbs a", has_text="show").click()
        page.locator('tr[data-entry="sh010.blend"] [data-action="render-in-place"]').click()
        page.locator('dialog[open] input[name="frames"]').fill("1-3")
        tab.page.locator('dialog[open] button[value="yes"]').click()
        expect(page).to_have_url(re.compile(r"#/jobs/1$"))
        job = FarmApi(master.url).job(1)
        assert job["shared"] is True and job["blend"] == str(root / "show" / "sh010.blend")
        assert [f["number"] for f in job["frames"]] == [1, 2, 3] and job["files"] == []
    finally:
        tab.close()
    assert tab.unexpected_errors() == []


def test_a_master_without_shared_storage_says_so_on_the_storage_page(monitor: Monitor) -> None:
    monitor.expect_error(r"status of 404")
    monitor.open("#/storage")
    expect(monitor.page.locator(".empty-state")).to_contain_text("this master shares no storage")
