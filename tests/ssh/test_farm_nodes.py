# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH nodes on a real farm: two OpenSSH servers on loopback as nodes beside an ordinary slave, real Blender.

Every frame equals a local render; a second job of the same file sends the
nodes nothing; a session folder holds the frames, a log per host and the
summary, and ``clean`` removes what it names and nothing else; nodes come
and go through the API while the master runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from pixels import differences
from sshd import Sshd, spec_for

from netrender.cli.commands import main
from netrender.client import Client, JobOptions
from netrender.master import MasterConfig, MasterServer
from netrender.pack.hashes import HashCache

pytestmark = pytest.mark.blender


@pytest.fixture
def farm(tmp_path: Path, sshd_factory: Callable[[str], Sshd], spawn_slaves: Any) -> Iterator[dict[str, Any]]:
    servers = [sshd_factory("a"), sshd_factory("b")]
    nodes = tuple(spec_for(s, tmp_path / f"remote-{n}", threads=1) for n, s in enumerate(servers))
    master = MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=0, ssh_nodes=nodes))
    master.start()
    spawn_slaves(master.url)
    client = Client(master.url, hashes=HashCache(None))
    wait_until(lambda: len(client.slaves()) == 3, timeout=60, what="two SSH nodes and a slave to register")
    yield {"master": master, "client": client, "nodes": nodes, "servers": servers}
    master.close()


def node_states(client: Client) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in client.conn.get("/api/nodes")["nodes"]}


def finished(client: Client, job_id: int, timeout: float = 240) -> dict[str, Any]:
    return wait_until(lambda: (job := client.job(job_id))["status"] in ("finished", "failed") and job,
                      timeout=timeout, what=f"job {job_id} to end", poll=0.2)


def test_two_ssh_nodes_and_a_slave_render_a_job_identical_to_local_and_resend_nothing(
    farm: dict[str, Any], sample_scene: Path, sample_reference: dict[int, Path], tmp_path: Path
) -> None:
    client, nodes = farm["client"], farm["nodes"]
    job = finished(client, client.submit(sample_scene, JobOptions(frames=list(range(1, 10)))).job["id"])
    assert job["status"] == "finished", [(t["number"], t["message"]) for t in job["frames"]]
    names = {s["id"]: s["name"] for s in client.slaves()}
    by = {names[t["slave_id"]] for t in job["frames"]}
    assert {n.name for n in nodes} <= by and len(by) == 3, by  # each SSH node and the slave rendered
    for path in client.download(job["id"], tmp_path / "first"):
        assert differences(path, sample_reference[int(path.stem)]) == [], path
    states = node_states(client)
    assert all(states[n.name]["state"] == "online" for n in nodes)
    sent = {n.name: (states[n.name]["sent_files"], states[n.name]["sent_bytes"]) for n in nodes}
    assert all(files >= 1 for files, _ in sent.values())
    thumbs = [t for t in job["frames"] if names[t["slave_id"]] in sent]
    assert client.conn.request("GET", f"/api/jobs/{job['id']}/frames/{thumbs[0]['number']}/thumbnail").ok

    again = finished(client, client.submit(sample_scene, JobOptions(frames=[10, 11, 12])).job["id"])
    assert again["status"] == "finished"
    states = node_states(client)
    assert {n.name: (states[n.name]["sent_files"], states[n.name]["sent_bytes"]) for n in nodes} == sent
    for path in client.download(again["id"], tmp_path / "again"):
        assert differences(path, sample_reference[int(path.stem)]) == [], path


def test_a_session_folder_and_what_clean_removes(farm: dict[str, Any], sample_scene: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    master = farm["master"]
    sessions = tmp_path / "sessions"
    code = main(["submit", str(sample_scene), "--master", master.url, "--frames", "1-6", "--session", "shot_a",
                 "--sessions", str(sessions)])
    assert code == 0
    folder = sessions / "shot_a"
    info = json.loads((folder / "session.json").read_text())
    assert sorted(p.name for p in (folder / "frames").iterdir()) == [f"{n:06d}.exr" for n in range(1, 7)]
    job = farm["client"].job(info["job"])
    names = {s["id"]: s["name"] for s in farm["client"].slaves()}
    hosts = sorted({names[t["slave_id"]] for t in job["frames"]})
    logs = sorted(p.name for p in folder.glob("*_log.txt"))
    assert logs == sorted(re.sub(r"[^A-Za-z0-9@._-]", "_", h) + "_log.txt" for h in hosts)
    for host in hosts:
        text = (folder / (re.sub(r"[^A-Za-z0-9@._-]", "_", host) + "_log.txt")).read_text()
        mine = [t["number"] for t in job["frames"] if names[t["slave_id"]] == host]
        assert [int(n) for n in re.findall(r"==== job \d+ frame (\d+):", text)] == sorted(mine)
        assert "Blender 3.4" in text
    summary = (folder / "summary.txt").read_text()
    assert "speed-up:" in summary and "slowest frame:" in summary and "fastest frame:" in summary
    for host in hosts:
        assert host in summary
    assert summary in capsys.readouterr().err

    # Fetch it again, from nothing.
    for frame in (folder / "frames").iterdir():
        frame.unlink()
    assert main(["results", "--session", "shot_a", "--sessions", str(sessions)]) == 0
    assert len(list((folder / "frames").iterdir())) == 6

    remote_outputs = [tmp_path / f"remote-{n}" for n in range(2)]
    assert any(list(r.rglob("output/*.exr")) for r in remote_outputs)
    caches = [sorted(p.name for p in (r / "cache").iterdir()) for r in remote_outputs]
    # --remote: the frames on the nodes, nothing else.
    assert main(["clean", "--session", "shot_a", "--sessions", str(sessions), "--remote"]) == 0
    assert not any(list(r.rglob("output/*.exr")) for r in remote_outputs)
    assert [sorted(p.name for p in (r / "cache").iterdir()) for r in remote_outputs] == caches
    assert farm["client"].job(info["job"])["status"] == "finished" and len(list((folder / "frames").iterdir())) == 6
    # Default: the job on the master, nothing else.
    assert main(["clean", "--session", "shot_a", "--sessions", str(sessions)]) == 0
    assert info["job"] not in [j["id"] for j in farm["client"].jobs()]
    assert len(list((folder / "frames").iterdir())) == 6
    # --local: the folder.
    assert main(["clean", "--session", "shot_a", "--sessions", str(sessions), "--local"]) == 0
    assert not folder.exists() and sessions.exists()
    assert [sorted(p.name for p in (r / "cache").iterdir()) for r in remote_outputs] == caches


def test_nodes_come_and_go_while_the_master_runs(tmp_path: Path, sshd_factory: Callable[[str], Sshd],
                                                 sample_scene: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = sshd_factory("late")
    master = MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=0))
    master.start()
    try:
        client = Client(master.url, hashes=HashCache(None))
        spec = spec_for(server, tmp_path / "remote", threads=1)
        assert main(["nodes", "add", spec.name, "--master", master.url, "--key", spec.key_file, "--known-hosts",
                     spec.known_hosts, "--work-dir", spec.work_dir, "--threads", "1"]) == 0
        wait_until(lambda: node_states(client).get(spec.name, {}).get("state") == "online", timeout=30,
                   what="the node to log in")
        job = finished(client, client.submit(sample_scene, JobOptions(frames=[1, 2])).job["id"])
        assert job["status"] == "finished"
        assert main(["nodes", "list", "--master", master.url]) == 0
        assert spec.name in capsys.readouterr().out
        assert main(["nodes", "remove", spec.name, "--master", master.url]) == 0
        assert client.conn.get("/api/nodes")["nodes"] == []
        assert main(["nodes", "remove", spec.name, "--master", master.url]) == 4  # no such node: refused
    finally:
        master.close()
