# SPDX-License-Identifier: GPL-3.0-or-later
"""The calls a client and a slave make, through Flask's test client: shared by the API, farm and monitor tests."""

from __future__ import annotations

import hashlib
from typing import Any

from conftest import EXR_BYTES
from flask.testing import FlaskClient

BLEND = b"BLENDER-v304 pretend blend bytes"


def upload(client: FlaskClient, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    assert client.put(f"/api/files/{sha}", data=data).status_code == 201
    return sha


def submit(client: FlaskClient, frames: list[int], chunks: int = 1, **extra: Any) -> dict[str, Any]:
    sha = upload(client, BLEND)
    body = {"name": "shot", "blend": "scene.blend", "frames": frames, "chunks": chunks,
            "files": [{"path": "scene.blend", "sha256": sha, "size": len(BLEND)}], **extra}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def register(client: FlaskClient, name: str = "node", tags: list[str] | None = None,
             capabilities: list[str] | None = None) -> str:
    facts = {"cores": 2, "capabilities": capabilities or []}
    response = client.post("/api/slaves", json={"name": name, "tags": tags or [], "facts": facts})
    assert response.status_code == 201
    return str(response.json["id"])


def work(client: FlaskClient, slave: str) -> dict[str, Any] | None:
    response = client.post(f"/api/slaves/{slave}/work")
    assert response.status_code == 200
    return response.json["work"]  # type: ignore[no-any-return]


def deliver(client: FlaskClient, job: int, frame: int, slave: str, data: bytes = EXR_BYTES) -> Any:
    return client.put(f"/api/jobs/{job}/frames/{frame}/result?slave={slave}&render_time=1.5", data=data)


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.is_json and set(response.json) == {"error"}
    assert response.json["error"]["message"]
    return response.json["error"]  # type: ignore[no-any-return]
