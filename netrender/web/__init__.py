# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's browser monitor, built on the same JSON API as the CLI.

Plain HTML, CSS and JavaScript modules in ``static/``: no build step and
nothing fetched from elsewhere, so it works on a farm without internet.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static")


@bp.get("/")
def index() -> Any:
    return bp.send_static_file("index.html")
