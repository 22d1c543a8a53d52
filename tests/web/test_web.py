# SPDX-License-Identifier: GPL-3.0-or-later
"""The browser monitor, end to end: Debian's Chromium (driven by Playwright) against a real master.

The first test follows a real render by a real slave and Blender, and saves the
screenshots under docs/screenshots/; the others fill a farm through the API (a
stand-in slave, no Blender) to click through every action. Each test fails if
the browser console shows an error or the page throws.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
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
