# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave switched off for one job renders the others and never that one; a switch is not a blacklisting."""

from __future__ import annotations

import hashlib

import pytest
from api_calls import deliver, error_of, register, submit, work
from flask.testing import FlaskClient

from netrender.cli.commands import main
from netrender.client import Client
from netrender.master import MasterServer


def test_a_slave_off_for_a_job_renders_the_others_and_never_it(client: FlaskClient) -> None:
    first, second = submit(client, [1, 2])["id"], submit(client, [1])["id"]
    slave, other = register(client, "render-01"), register(client, "render-02")
    off = client.put(f"/api/jobs/{first}/switched-off/{slave}")
    assert off.json == {"switched_off": [slave]}
    given = work(client, slave)
    assert given is not None and given["job_id"] == second  # the first job is older, but not for this slave
    deliver(client, second, 1, slave)
    assert work(client, slave) is None  # only the switched-off job is left: nothing
    assert work(client, other)["job_id"] == first  # type: ignore[index]
    detail = client.get(f"/api/jobs/{first}").json
    assert detail["switched_off"] == [slave] and detail["blacklist"] == []  # not a blacklisting
    assert error_of(client.delete(f"/api/jobs/{first}/blacklist/{slave}"), 404)  # the blacklist leaves it off
    assert client.delete(f"/api/jobs/{first}/switched-off/{slave}").json == {"switched_off": []}
    assert work(client, slave)["job_id"] == first  # type: ignore[index]
    assert error_of(client.put(f"/api/jobs/{first}/switched-off/nobody"), 404)
    assert error_of(client.put(f"/api/jobs/99/switched-off/{slave}"), 404)


def test_the_cli_switches_a_slave_by_name(live_master: MasterServer, capsys: pytest.CaptureFixture[str]) -> None:
    client = Client(live_master.url)
    slave = client.conn.post("/api/slaves", {"name": "render-01", "tags": [], "facts": {}})["id"]
    blend = b"blend"
    sha = hashlib.sha256(blend).hexdigest()
    assert client.conn.request("PUT", f"/api/files/{sha}", data=blend).status_code == 201
    job_id = client.conn.post("/api/jobs", {"name": "x", "blend": "x.blend", "frames": [1], "files": [
        {"path": "x.blend", "sha256": sha, "size": len(blend)}]})["id"]
    assert main(["disable", str(job_id), "render-01", "--master", live_master.url]) == 0
    assert "render-01 is off for job" in capsys.readouterr().err
    assert client.job(job_id)["switched_off"] == [slave]
    assert main(["enable", str(job_id), slave, "--master", live_master.url]) == 0  # by id too
    assert client.job(job_id)["switched_off"] == []
    assert main(["disable", str(job_id), "render-99", "--master", live_master.url]) == 2
    assert "no slave is called 'render-99'" in capsys.readouterr().err
