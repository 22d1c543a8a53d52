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
