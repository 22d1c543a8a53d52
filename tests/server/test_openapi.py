# SPDX-License-Identifier: GPL-3.0-or-later
"""openapi.yaml is valid OpenAPI and describes exactly the routes the API serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from openapi_spec_validator import validate

import netrender
from netrender.master import MasterConfig, create_app

SPEC_PATH = Path(netrender.__file__).parent / "server" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(MasterConfig(path=tmp_path))


def flask_to_openapi(rule: str) -> str:
    """``/jobs/<int:job_id>/<action>`` -> ``/jobs/{job_id}/{action}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_base(spec: dict[str, Any]) -> str:
    servers = spec.get("servers", [])
    assert len(servers) == 1, "the spec should name one server: the /api prefix"
    return str(servers[0]["url"]).rstrip("/")


def spec_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, full path) -> operation, for every operation in the spec."""
    base = api_base(spec)
    return {
        (method.upper(), base + path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def app_operations(app: Flask) -> dict[tuple[str, str], str]:
    """(METHOD, full path) -> endpoint, for every rule of the API blueprint."""
    return {
        (method, flask_to_openapi(rule.rule)): rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }


def test_flask_to_openapi() -> None:
    assert flask_to_openapi("/api/jobs/<int:job_id>/<action>") == "/api/jobs/{job_id}/{action}"
    assert flask_to_openapi("/api/files/<sha256>") == "/api/files/{sha256}"
    assert flask_to_openapi("/api/version") == "/api/version"


def test_spec_is_valid_openapi(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_spec_uses_the_api_prefix(spec: dict[str, Any]) -> None:
    assert api_base(spec) == "/api"


def test_spec_describes_exactly_the_served_routes(spec: dict[str, Any], app: Flask) -> None:
    served = set(app_operations(app))
    described = set(spec_operations(spec))
    assert served, "the app serves no API routes: did the blueprint move?"
    assert served - described == set(), "routes the spec does not describe"
    assert described - served == set(), "operations the app does not serve"


def test_operation_ids_name_the_views(spec: dict[str, Any], app: Flask) -> None:
    endpoints = app_operations(app)
    for key, operation in spec_operations(spec).items():
        assert "api." + operation["operationId"] == endpoints[key], key
        assert operation.get("summary"), f"{key} has no summary"


def test_every_error_response_uses_the_error_schema(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    for key, operation in spec_operations(spec).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            ref = response.get("$ref", "")
            assert ref.startswith("#/components/responses/"), f"{key} {status} is not a shared error response"
            content = responses[ref.rsplit("/", 1)[-1]]["content"]
            assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_app_serves_the_spec_file(app: Flask) -> None:
    response = app.test_client().get("/api/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert response.get_data(as_text=True) == SPEC_PATH.read_text(encoding="utf-8")
