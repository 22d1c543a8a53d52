# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm token: every /api route refuses a request without it and changes nothing, with it everything works.

Route by route through Flask's test client (the url_map, so a new route is
covered the day it is added), then over a real socket for uploads, through a
real slave and client, in the logs, and in the browser monitor.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import EXR_BYTES, FakeClock
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import DESKTOP, FarmApi, png_bytes

from netrender.client import Client, JobOptions, LocalFile
from netrender.common import token
from netrender.common.blobs import file_sha256
from netrender.common.connection import Access, Connection
from netrender.common.errors import ApiError, InvalidConfig
from netrender.master import MasterConfig, MasterServer, create_app
from netrender.node import blender
from netrender.server import auth
from netrender.server.auth import Guard
from netrender.slave import Slave, SlaveConfig

TOKEN = "farm-token-7b1e2c9d4f60a8e3"
StartMaster = Callable[..., MasterServer]


class CountingStream(io.BytesIO):
    """A request body that remembers whether anyone read it."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        CountingStream.reads += 1
        return super().read(size)

    def readinto(self, buffer: Any) -> int:
        CountingStream.reads += 1
        return super().readinto(buffer)


@pytest.fixture
def guarded(tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    app = create_app(MasterConfig(path=tmp_path / "master", clock=clock, token=TOKEN))
    yield app
    app.extensions["netrender.farm"].close()


def client_with(app: Flask, authorization: str | None) -> FlaskClient:
    client = app.test_client()
    if authorization is not None:
        client.environ_base["HTTP_AUTHORIZATION"] = authorization
    return client


def populate(client: FlaskClient) -> dict[str, str]:
    """A farm with a job, a slave, a delivered frame with its thumbnail and log: real ids for every route."""
    blend = b"BLENDER-v304 pretend blend bytes"
    sha = hashlib.sha256(blend).hexdigest()
    assert client.put(f"/api/files/{sha}", data=blend).status_code == 201
    job = client.post("/api/jobs", json={"name": "shot", "blend": "scene.blend", "frames": [1, 2, 3],
                                         "files": [{"path": "scene.blend", "sha256": sha, "size": len(blend)}]}).json
    slave = client.post("/api/slaves", json={"name": "node", "tags": [], "facts": {}}).json["id"]
    assert client.post(f"/api/slaves/{slave}/work").json["work"]["frames"] == [1]
    assert client.put(f"/api/jobs/{job['id']}/frames/1/log", data=b"Saved: 000001.exr\n").status_code == 200
    assert client.put(f"/api/jobs/{job['id']}/frames/1/result?slave={slave}", data=EXR_BYTES).status_code == 200
    thumb = client.put(f"/api/jobs/{job['id']}/frames/1/thumbnail?slave={slave}", data=png_bytes(8, 8, (1, 2, 3)))
    assert thumb.status_code == 200
    assert client.post("/api/nodes", json={"target": "render@render-07:2222"}).status_code == 201
    return {"job_id": str(job["id"]), "number": "1", "frame": "1", "slave_id": slave, "sha256": sha,
            "action": "cancel", "name": "render@render-07:2222"}


def api_calls(app: Flask, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(method, URL) for every /api rule and method, with real ids and the most harmful query each takes."""
    calls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: ids[m.group(1)], rule.rule)
        url += f"?slave={ids['slave_id']}&delete_files=true&render_time=1&frames=true"
        calls += [(method, url) for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return calls


def send(client: FlaskClient, method: str, url: str) -> Any:
    """The request with a body its view would act on, which must not even be read when refused."""
    body = b'{"priority": 99, "chunks": 7, "hashes": [], "job_id": 1, "frames": [1], "message": "x"}'
    return client.open(url, method=method, input_stream=CountingStream(body), content_length=len(body),
                       content_type="application/json")


def state(app: Flask) -> Any:
    """Everything a request could change: the farm's records and every file under the master's folder."""
    farm = app.extensions["netrender.farm"]
    now = app.config["NETRENDER_CLOCK"]()
    root = Path(farm.root).parent
    files = {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
             if p.is_file() and ".sqlite" not in p.name}
    jobs = [(j.to_json(), [f.to_json() for f in farm.frames(j.id)], farm.blacklist_of(j.id), farm.history(j.id))
            for j in farm.jobs()]
    return files, jobs, [s.to_json() for s in farm.slaves(now)], farm.rules.to_json()


REFUSED = {
    "no token": None,
    "a wrong token": "Bearer farm-token-wrong",
    "the token plus a character": f"Bearer {TOKEN}x",
    "a prefix of the token": f"Bearer {TOKEN[:-1]}",
    "another scheme": f"Basic {TOKEN}",
    "an empty bearer": "Bearer ",
}


@pytest.mark.parametrize("how", REFUSED)
def test_every_api_route_refuses_a_request_without_the_token_and_changes_nothing(guarded: Flask, how: str) -> None:
    ids = populate(client_with(guarded, f"Bearer {TOKEN}"))
    calls = api_calls(guarded, ids)
    assert len(calls) > 30, "the url_map should hold every API route"
    before = state(guarded)
    refused = client_with(guarded, REFUSED[how])
    CountingStream.reads = 0
    for method, url in [*calls, ("GET", "/api"), ("GET", "/api/no/such/route"), ("DELETE", "/api/jobs/99999")]:
        response = send(refused, method, url)
        assert response.status_code == 401, f"{method} {url}: {response.status_code}"
        assert response.json["error"]["code"] == "unauthorized", f"{method} {url}"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in response.get_data(as_text=True)
    assert CountingStream.reads == 0, "a refused request's body was read"
    assert state(guarded) == before
    # The monitor's page and static files hold no farm data: they stay public.
    for path in ("/", "/static/app.js", "/static/api.js", "/static/token.js"):
        assert refused.get(path).status_code == 200, path


def test_with_the_token_every_route_is_served(guarded: Flask) -> None:
    authed = client_with(guarded, f"Bearer {TOKEN}")
    ids = populate(authed)
    CountingStream.reads = 0
    for method, url in api_calls(guarded, ids):
        assert send(authed, method, url).status_code != 401, f"{method} {url}"
    assert CountingStream.reads > 0, "served requests read their bodies: the refused ones' count means something"
    assert client_with(guarded, f"bearer  {TOKEN} ").get("/api/jobs").status_code == 200  # case and spaces


def test_media_links_open_only_downloads_for_ten_minutes(guarded: Flask, clock: FakeClock) -> None:
    authed = client_with(guarded, f"Bearer {TOKEN}")
    ids = populate(authed)
    anonymous = client_with(guarded, None)
    assert anonymous.get("/api/auth/media").status_code == 401
    link = authed.get("/api/auth/media").json
    assert link["expires"] == int(clock()) + auth.MEDIA_TTL
    signature = link["query"]["auth"]
    assert TOKEN not in signature
    job = ids["job_id"]
    media = [f"/api/jobs/{job}/frames/1/thumbnail", f"/api/jobs/{job}/frames/1/result", f"/api/jobs/{job}/outputs/1",
             f"/api/jobs/{job}/results.zip"]
    for url in media:
        assert anonymous.get(url, query_string={"auth": signature}).status_code == 200, url
        assert anonymous.get(url, query_string={"auth": signature[:-1] + "0"}).status_code == 401, url
        assert anonymous.get(url, query_string={"auth": TOKEN}).status_code == 401, url
    # Nothing but those downloads, and no writing.
    for method, url in api_calls(guarded, ids):
        if method == "GET" and any(url.startswith(m + "?") for m in media):
            continue
        assert send(anonymous, method, f"{url}&auth={signature}").status_code == 401, f"{method} {url}"
    # A later expiry than the master ever signs is forged; an expired one is refused.
    forged = f"{link['expires'] + 3600}.{signature.split('.', 1)[1]}"
    for bad in (forged, "", ".", "²³.00", f"{link['expires']}", "x" * 5000):
        assert anonymous.get(media[0], query_string={"auth": bad}).status_code == 401, bad
    clock.advance(auth.MEDIA_TTL + 1)
    assert anonymous.get(media[0], query_string={"auth": signature}).status_code == 401


def test_a_master_without_a_token_stays_open(client: FlaskClient) -> None:
    assert client.get("/api/jobs").status_code == 200
    assert client.get("/api/jobs", headers={"Authorization": "Bearer anything"}).status_code == 200
    assert client.get("/api/auth/media").json == {"query": {}, "expires": None}


def raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``request`` and read until the master closes; the answer and whether it closed in time."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            return answer, False
    return answer, True


def test_an_upload_without_the_token_is_refused_before_its_body_is_read(
    tmp_path: Path, start_master: StartMaster, certs: dict[str, Path]
) -> None:
    """The master answers at once and closes, while 99 of the announced 100 MiB are still unsent."""
    master = start_master(token=TOKEN)
    before = {p for p in Path(master.farm.root).rglob("*")}
    sha = "ab" * 32
    started = time.monotonic()
    answer, closed = raw_exchange(master.port, (f"PUT /api/files/{sha} HTTP/1.1\r\nHost: farm\r\n"
                                                f"Content-Length: {100 << 20}\r\n\r\n").encode() + b"x" * (1 << 20))
    assert closed and time.monotonic() - started < 2.0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ") and b"Connection: close" in head
    assert b'"unauthorized"' in body
    assert {p for p in Path(master.farm.root).rglob("*")} == before and not master.farm.blobs.has(sha)
    # A client sending a real file with a wrong token learns why, whichever way the refusal reaches it:
    # over TLS the closed connection cuts the upload short, and a small request then tells the reason.
    data = tmp_path / "upload.bin"
    data.write_bytes(os.urandom(8 << 20))
    https = start_master(token=TOKEN, cert=certs["cert"], key=certs["key"])
    for server, access in ((master, Access(token="farm-token-wrong")),
                           (https, Access(token="farm-token-wrong", ca_file=certs["cert"]))):
        with pytest.raises(ApiError) as exc:
            Connection(server.url, access=access).put_file(f"/api/files/{file_sha256(data)}", data)
        assert (exc.value.status, exc.value.code) == (401, "unauthorized"), server.url
        assert not server.farm.blobs.has(file_sha256(data))


class FakeBlender:
    """Writes the frames it is asked for, as Blender would."""

    def __call__(self, argv: Sequence[str], log_path: Path, **_: Any) -> blender.RunResult:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        output = Path(argv[argv.index("-o") + 1]).parent
        frames = [int(f) for f in argv[argv.index("-f") + 1].split(",")]
        for frame in frames:
            blender.frame_file(output, frame).write_bytes(EXR_BYTES + str(frame).encode())
        log_path.write_text("rendered\n")
        return blender.RunResult(0, False, [], None, 0.1)


def test_a_slave_and_a_client_with_the_token_work_and_nothing_logs_it(
    tmp_path: Path, start_master: StartMaster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything: the master's, the slave's, urllib3's
    master = start_master(token=TOKEN)
    access = Access(token=TOKEN)
    blend = tmp_path / "shot.blend"
    blend.write_bytes(b"BLEND")
    client = Client(master.url, access=access)
    job = client.submit(blend, JobOptions(frames=[1, 2], chunks=2),
                        files=[LocalFile(blend, "shot.blend", file_sha256(blend), 5)]).job["id"]
    slave = Slave(SlaveConfig(master=master.url, access=access, path=tmp_path / "slave"), run_blender=FakeBlender())
    assert slave.run_once()
    assert client.job(job)["status"] == "finished"
    assert client.download(job, tmp_path / "frames")
    stranger = Slave(SlaveConfig(master=master.url, access=Access(token="farm-token-wrong"), path=tmp_path / "s2"))
    with pytest.raises(ApiError, match="farm token is wrong"):
        stranger.run_once()
    assert "refused POST /api/slaves" in caplog.text and "wrong farm token" in caplog.text
    assert TOKEN not in caplog.text
    for thing in (master.config, access, slave.config, Guard(TOKEN), slave.conn.access):
        assert TOKEN not in repr(thing)


def test_the_token_comes_from_a_file_or_the_environment(
    tmp_path: Path, start_master: StartMaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "farm.token"
    token_file.write_text(f"  {TOKEN}\n")
    assert token.token_from(token_file, environ={}) == TOKEN
    assert token.token_from(None, environ={"NETRENDER_TOKEN": TOKEN}) == TOKEN
    assert token.token_from(token_file, environ={"NETRENDER_TOKEN": "other"}) == TOKEN  # the file wins
    assert token.token_from(None, environ={"NETRENDER_TOKEN": ""}) is None
    for bad in ("", "two words", "naïve"):
        token_file.write_text(bad)
        with pytest.raises(InvalidConfig):
            token.token_from(token_file, environ={})
    with pytest.raises(InvalidConfig, match="cannot read the token file"):
        token.token_from(tmp_path / "missing", environ={})
    token_file.write_text(TOKEN + "\n")

    master = start_master(token=TOKEN)
    monkeypatch.setenv("NETRENDER_TOKEN", TOKEN)
    assert Connection(master.url).get("/api/jobs") == {"jobs": []}  # a connection given nothing uses the variable
    monkeypatch.delenv("NETRENDER_TOKEN")
    with pytest.raises(ApiError, match="needs the farm token"):
        Connection(master.url).get("/api/jobs")

    env = {k: v for k, v in os.environ.items() if k != "NETRENDER_TOKEN"}

    def status(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netrender", "status", "--master", master.url, *args],
                              capture_output=True, text=True, env={**env, **extra}, timeout=60)

    assert status("--token-file", str(token_file)).returncode == 0
    assert status(NETRENDER_TOKEN=TOKEN).returncode == 0
    refused = status()
    assert refused.returncode == 4 and "unauthorized" in refused.stderr
    assert TOKEN not in refused.stderr


# -- the monitor -------------------------------------------------------------------




def test_the_monitor_asks_for_the_token_once_and_keeps_it_for_the_tab(
    browser: Any, start_master: StartMaster
) -> None:
    from playwright.sync_api import expect

    master = start_master(token=TOKEN)
    farm = FarmApi(master.url)
    farm.http.headers["Authorization"] = f"Bearer {TOKEN}"
    job = farm.submit("guarded", [1, 2])["id"]
    slave = farm.register("node-1")
    farm.take(slave)
    farm.finish(slave, job, 1)

    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None)
    prompt = page.locator("dialog.dialog-token[open]")

    page.goto(f"{master.url}/#/jobs/{job}")
    expect(prompt).to_be_visible()
    prompt.locator("[data-token-input]").fill("farm-token-wrong")
    prompt.locator("[data-token-submit]").click()
    expect(prompt).to_contain_text("did not accept")
    prompt.locator("[data-token-input]").fill(TOKEN)
    prompt.locator("[data-token-submit]").click()
    expect(prompt).to_have_count(0)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    # The thumbnail, an <img>, loads through its signed URL.
    thumbnail = page.locator(".frame-done .thumb img")
    expect(thumbnail).to_have_attribute("src", re.compile(r"auth=\d+\.[0-9a-f]{64}"))
    page.wait_for_function("() => document.querySelector('.frame-done .thumb img').naturalWidth > 0")
    with page.expect_download() as download:
        page.locator("[data-action=zip]").click()
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"
    assert page.evaluate("sessionStorage.getItem('netrender.token')") == TOKEN
    # A link or an image whose signature ran out (a page left open) gets the current one.
    stale = f"auth=1.{'0' * 64}"
    page.evaluate("""href => {
        const a = Object.assign(document.createElement("a"), { href, id: "stale", download: "old.zip" });
        a.textContent = "old link";
        document.body.append(a);
    }""", f"api/jobs/{job}/results.zip?{stale}")
    with page.expect_download() as download:
        page.locator("#stale").click()
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"
    width = page.evaluate("""src => new Promise((resolve) => {
        const img = document.createElement("img");
        document.body.append(img);
        img.onload = () => resolve(img.naturalWidth);
        img.onerror = () => resolve(-1);
        img.src = src;
    })""", f"api/jobs/{job}/frames/1/thumbnail?{stale}")
    assert width > 0

    page.reload()  # the same tab: no question
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.wait_for_timeout(500)
    expect(prompt).to_have_count(0)
    context.close()

    other = browser.new_context(viewport=DESKTOP)  # a new browser session asks again; dismissing it says how
    page = other.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    prompt = page.locator("dialog.dialog-token[open]")
    page.goto(f"{master.url}/#/jobs")
    expect(prompt).to_be_visible()
    prompt.locator("button", has_text="Cancel").click()
    expect(page.locator("#messages")).to_contain_text("reload the page")
    other.close()
    assert errors == []
