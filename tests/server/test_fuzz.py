# SPDX-License-Identifier: GPL-3.0-or-later
"""A bounded fuzz run of the whole HTTP API, generated from openapi.yaml by schemathesis.

Every operation gets generated requests, valid and not. For each: no 5xx, and
no file appears outside the master's folder. The master starts with a job, a
slave and a file, so generated ids sometimes name real things.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from netrender.master import MasterConfig, create_app

ROOT = Path(tempfile.mkdtemp(prefix="netrender-fuzz-"))
MASTER = ROOT / "master"
app = create_app(MasterConfig(path=MASTER))
app.extensions["netrender.farm"].max_waiting = 0  # a fuzzed ?wait= is answered at once, not after up to 30 s
_client = app.test_client()
_blend = b"BLENDER-v304 fuzz"
_sha = hashlib.sha256(_blend).hexdigest()
_client.put(f"/api/files/{_sha}", data=_blend)
_client.post("/api/jobs", json={"blend": "a.blend", "frames": [1, 2, 3],
                                "files": [{"path": "a.blend", "sha256": _sha, "size": len(_blend)}]})
_client.post("/api/slaves", json={"name": "fuzz-slave"})

schema = schemathesis.openapi.from_wsgi("/api/openapi.yaml", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_nothing_written_outside_the_master(case: Any) -> None:
    response = case.call()
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    assert sorted(p.name for p in ROOT.iterdir()) == ["master"], "a file was written outside the master's folder"
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}, response.text[:300]


# The same fuzz run against a master with a farm token, sending none: nothing may change.
GUARDED_ROOT = Path(tempfile.mkdtemp(prefix="netrender-fuzz-token-"))
guarded = create_app(MasterConfig(path=GUARDED_ROOT / "master", token="fuzz-farm-token"))
_headers = {"Authorization": "Bearer fuzz-farm-token"}
_guarded_client = guarded.test_client()
_guarded_client.put(f"/api/files/{_sha}", data=_blend, headers=_headers)
_guarded_client.post("/api/jobs", headers=_headers, json={
    "blend": "a.blend", "frames": [1, 2, 3], "files": [{"path": "a.blend", "sha256": _sha, "size": len(_blend)}]})
guarded_schema = schemathesis.openapi.from_dict(schema.raw_schema)
guarded_schema.app = guarded  # the guarded master would not hand out its own schema without the token


def farm_state() -> tuple[Any, ...]:
    farm = guarded.extensions["netrender.farm"]
    jobs = [(j.to_json(), [f.to_json() for f in farm.frames(j.id)]) for j in farm.jobs()]
    files = sorted(str(p.relative_to(GUARDED_ROOT)) for p in GUARDED_ROOT.rglob("*") if p.is_file()
                   and not p.name.startswith("netrender.sqlite"))
    return jobs, [s.to_json() for s in farm.store.slaves()], farm.rules.to_json(), files


@guarded_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_without_the_token_nothing_changes(case: Any) -> None:
    before = farm_state()
    response = case.call(headers={"Authorization": "Bearer not-the-token"} if case.method == "POST" else None)
    assert response.status_code == 401, f"{case.method} {case.formatted_path}: {response.status_code}"
    assert response.json()["error"]["code"] == "unauthorized"
    assert farm_state() == before
