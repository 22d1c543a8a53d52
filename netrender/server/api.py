# SPDX-License-Identifier: GPL-3.0-or-later
"""The JSON HTTP API, as written in ``openapi.yaml``.

Each view parses its request, calls one :class:`Farm` method and answers JSON.
Every error, ours or Werkzeug's, leaves as ``{"error": {"code", "message"}}``
with a 4xx or 5xx status; a traceback never reaches the caller.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, request, send_file
from werkzeug.routing import IntegerConverter

from .. import __version__
from ..common import validation as v
from ..common.blobs import read_chunks
from ..common.errors import FrameNotReady, InvalidRequest, NotFound, TooLarge
from ..common.model import Frame, FrameStatus, JobControl, JobSpec
from ..common.work import listing_json
from ..farm.jobs import Farm
from ..farm.jobtypes import Plan
from ..farm.storage import Offer
from . import auth

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")


class IdConverter(IntegerConverter):
    """A job id or frame number in a URL: a non-negative integer SQLite can hold (else 404)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, max=v.MAX_INT)
MAX_JSON = 16 << 20
API_VERSION = 1
MAX_WAIT = 30.0  # seconds a work request may wait for work
BUSY_RETRY = 2.0  # seconds a slave refused a wait (too many waiting) should let pass before it asks again


def farm() -> Farm:
    return current_app.extensions["netrender.farm"]  # type: ignore[no-any-return]


def now() -> float:
    return current_app.config["NETRENDER_CLOCK"]()  # type: ignore[no-any-return]


def body_json() -> dict[str, Any]:
    # Read at most one byte past the limit: a chunked body has no length to check first.
    raw = request.stream.read(MAX_JSON + 1)
    if len(raw) > MAX_JSON:
        raise TooLarge(f"a JSON body may be at most {MAX_JSON} bytes")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    return v.json_object(data)


def stream() -> Any:
    return read_chunks(request.stream)


# -- slaves ------------------------------------------------------------------


@bp.get("/version")
def version() -> Any:
    return {"version": __version__, "api": API_VERSION}


@bp.get("/auth/media")
def media_link() -> Any:
    """A short-lived signature for the monitor's images and download links, which cannot send a token header."""
    return auth.media_link(now())


@bp.post("/slaves")
def register_slave() -> Any:
    data = body_json()
    facts = v.field(data, "facts", dict, {})
    slave = farm().register_slave(
        v.text(data, "name"), request.remote_addr or "", facts, v.string_list(data, "tags"), now()
    )
    return slave.to_json(), 201


@bp.get("/slaves")
def list_slaves() -> Any:
    return {"slaves": [s.to_json() for s in farm().slaves(now())]}


@bp.get("/balancing")
def get_rules() -> Any:
    return farm().rules.to_json()


@bp.patch("/balancing")
def set_rules() -> Any:
    return farm().set_rules(body_json()).to_json()


@bp.post("/slaves/<slave_id>/work")
def request_work(slave_id: str) -> Any:
    wait = query_seconds("wait", MAX_WAIT)
    refused = wait > 0 and not farm().can_wait()
    work = farm().wait_for_work(slave_id, now, wait) if wait and not refused else farm().request_work(slave_id, now())
    answer: dict[str, Any] = {"work": work.to_json() if work else None}
    if refused and work is None:
        answer["retry_after"] = BUSY_RETRY
    return answer


def query_seconds(name: str, limit: float) -> float:
    """A duration in the query string, 0 when absent; up to ``limit`` seconds."""
    try:
        value = float(request.args.get(name, "0"))
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= limit:  # also refuses nan and inf
        raise InvalidRequest(f"{name!r} must be a number of seconds from 0 to {limit:g}")
    return value


@bp.post("/slaves/<slave_id>/heartbeat")
def heartbeat(slave_id: str) -> Any:
    data = body_json()
    job_id = v.field(data, "job_id", int, None)
    at = now()
    return {"stop": farm().heartbeat(slave_id, job_id, frame_list(data), at), "next_in": farm().heartbeat_interval(at)}


@bp.post("/slaves/<slave_id>/leave")
def leave(slave_id: str) -> Any:
    farm().slave_left(slave_id, now())
    return {"left": slave_id}


@bp.post("/slaves/<slave_id>/release")
def release_frames(slave_id: str) -> Any:
    data = body_json()
    job_id = v.field(data, "job_id", int)
    return {"released": farm().release(slave_id, job_id, frame_list(data), now())}


def frame_list(data: dict[str, Any]) -> list[int]:
    frames = v.field(data, "frames", list, [])
    if not all(isinstance(f, int) and not isinstance(f, bool) for f in frames):
        raise InvalidRequest("'frames' must be a list of integers")
    return frames


# -- files -------------------------------------------------------------------


@bp.post("/files/missing")
def missing_files() -> Any:
    data = body_json()
    hashes = [v.sha256_hex(h) for h in v.field(data, "hashes", list)]
    offers = [Offer.from_json(o) for o in v.field(data, "sources", list, [])]
    missing, adopted = farm().missing_files(hashes, offers)
    return {"missing": missing, "adopted": adopted}


@bp.put("/files/<sha256>")
def upload_file(sha256: str) -> Any:
    v.sha256_hex(sha256)
    size = farm().blobs.put(sha256, stream(), limit=farm().max_upload)
    return {"sha256": sha256, "size": size}, 201


@bp.get("/files/<sha256>")
def download_file(sha256: str) -> Any:
    path = farm().blobs.path(sha256)
    if not path.is_file():
        raise NotFound(f"the master has no file {sha256}")
    return send_file(path, mimetype="application/octet-stream")


# -- jobs --------------------------------------------------------------------


@bp.get("/jobs")
def list_jobs() -> Any:
    return {"jobs": [job.to_json() for job in farm().jobs()]}


@bp.post("/jobs")
def submit_job() -> Any:
    job = farm().submit(JobSpec.from_json(body_json()), now())
    return job.to_json(), 201


@bp.get("/jobs/<id:job_id>")
def get_job(job_id: int) -> Any:
    job = farm().job(job_id)
    detail = {**job.to_json(), "blacklist": farm().blacklist_of(job_id), "switched_off": farm().switched_off(job_id),
              "history": farm().history(job_id)}
    with_tasks = request.args.get("frames", "true").lower() not in ("0", "false", "no")
    plan = farm().plan(job_id)
    if with_tasks or plan.kind != "frames":
        tasks = farm().frames(job_id)
        if with_tasks:
            detail["frames"] = [_task_json(t, plan) for t in tasks]
        if plan.kind != "frames":  # which task makes each frame, for clients that fetch the frames
            status = {t.number: t.status.value for t in tasks}
            detail["outputs"] = [{"frame": frame, "task": task, "status": status[task]}
                                 for frame, task in plan.outputs([])]
    return detail


@bp.get("/jobs/<id:job_id>/files")
def job_files(job_id: int) -> Any:
    """The job's files, which a slave reads once per job: assignments leave them out."""
    spec = farm().job(job_id).spec
    return listing_json(spec.files, spec.found)


def _task_json(task: Frame, plan: Plan) -> dict[str, Any]:
    out = task.to_json()
    if (detail := plan.detail(task.number)) is not None:
        out["task"] = detail.to_json()
    return out


@bp.get("/jobs/<id:job_id>/outputs/<id:frame>")
def get_output(job_id: int, frame: int) -> Any:
    """The finished result of a Blender frame of the job: the frame's task, or the stitch of its tiles."""
    plan = farm().plan(job_id)
    if plan.kind != "frames" and frame not in plan.frames:
        raise NotFound(f"job {job_id} renders no frame {frame}")
    task = farm().frame(job_id, plan.output(frame))
    if task.status is not FrameStatus.DONE:
        raise FrameNotReady(f"frame {frame} of job {job_id} is not finished yet ({task.status.value})",
                            details={"status": task.status.value})
    path = farm().frame_path(job_id, task.number)
    if not path.is_file():
        raise NotFound(f"the file of frame {frame} of job {job_id} is missing on the master")
    return send_file(path, mimetype="image/x-exr", download_name=f"{frame:06d}.exr")


@bp.patch("/jobs/<id:job_id>")
def edit_job(job_id: int) -> Any:
    data = v.json_object(body_json(), allowed=("priority", "chunks"))
    for name, value in data.items():
        if value is None:
            raise InvalidRequest(f"'{name}' must be an integer; leave it out to keep it as it is")
    priority = v.int_in(data, "priority", 1, 100, None)
    chunks = v.int_in(data, "chunks", 1, 1000, None)
    return farm().edit(job_id, now(), priority=priority, chunks=chunks).to_json()


@bp.delete("/jobs/<id:job_id>")
def remove_job(job_id: int) -> Any:
    delete_files = request.args.get("delete_files", "false").lower() in ("1", "true", "yes")
    farm().remove(job_id, delete_files, now())
    return {"removed": job_id, "deleted_files": delete_files}


@bp.post("/jobs/<id:job_id>/<action>")
def control_job(job_id: int, action: str) -> Any:
    """cancel, pause, resume; reset (failed frames) and requeue (every frame) queue frames again."""
    controls = {"cancel": JobControl.CANCELLED, "pause": JobControl.PAUSED, "resume": JobControl.ACTIVE}
    if action in controls:
        return farm().set_control(job_id, controls[action], now()).to_json()
    if action in ("reset", "requeue"):
        return farm().reset(job_id, now(), every_frame=action == "requeue").to_json()
    if action in ("start", "stop", "enqueue"):
        return farm().queue_action(job_id, action, now()).to_json()
    raise InvalidRequest(f"unknown job action {action!r}; use one of "
                         f"{', '.join([*controls, 'reset', 'requeue', 'start', 'stop', 'enqueue'])}")


@bp.get("/jobs/<id:job_id>/frames/<id:number>")
def get_frame(job_id: int, number: int) -> Any:
    return farm().frame(job_id, number).to_json()


@bp.post("/jobs/<id:job_id>/frames/<id:number>/reset")
def reset_frame(job_id: int, number: int) -> Any:
    farm().reset(job_id, now(), [number])
    return farm().frame(job_id, number).to_json()


@bp.put("/jobs/<id:job_id>/frames/<id:number>/result")
def put_result(job_id: int, number: int) -> Any:
    slave_id = v.text(request.args, "slave")
    render_time = query_seconds("render_time", 1e9)
    give_next = request.args.get("next", "0")
    if give_next not in ("0", "1"):
        raise InvalidRequest("'next' must be 0 or 1")
    if give_next == "0":
        return farm().complete_frame(job_id, number, slave_id, render_time, stream(), now()).to_json()
    # The slave's next chunk in the same answer: no second request, no gap between the two.
    frame, work = farm().complete_and_next(job_id, number, slave_id, render_time, stream(), now())
    return {**frame.to_json(), "work": work.to_json() if work else None}


@bp.post("/jobs/<id:job_id>/frames/<id:number>/error")
def put_error(job_id: int, number: int) -> Any:
    data = body_json()
    frame = farm().fail_frame(job_id, number, v.text(data, "slave"), v.text(data, "message", limit=4096), now())
    return frame.to_json()


@bp.put("/jobs/<id:job_id>/frames/<id:number>/log")
def put_log(job_id: int, number: int) -> Any:
    farm().store_log(job_id, number, stream())
    return {"stored": True}


@bp.get("/jobs/<id:job_id>/frames/<id:number>/result")
def get_result(job_id: int, number: int) -> Any:
    frame = farm().frame(job_id, number)
    if frame.status is not FrameStatus.DONE:
        raise FrameNotReady(
            f"frame {number} of job {job_id} is {frame.status.value}", details={"status": frame.status.value}
        )
    path = farm().frame_path(job_id, number)
    if not path.is_file():
        raise NotFound(f"the file of frame {number} of job {job_id} is missing on the master")
    return send_file(path, mimetype="image/x-exr")


@bp.get("/jobs/<id:job_id>/frames/<id:number>/log")
def get_log(job_id: int, number: int) -> Any:
    farm().frame(job_id, number)
    path = farm().log_path(job_id, number)
    if not path.is_file():
        return Response("", mimetype="text/plain")
    return send_file(path, mimetype="text/plain")


@bp.get("/jobs/<id:job_id>/frames/<id:number>/thumbnail")
def get_thumbnail(job_id: int, number: int) -> Any:
    return send_file(farm().thumbnail(job_id, number), mimetype="image/png")


@bp.put("/jobs/<id:job_id>/frames/<id:number>/thumbnail")
def put_thumbnail(job_id: int, number: int) -> Any:
    farm().store_thumbnail(job_id, number, v.text(request.args, "slave"), stream(), now())
    return {"stored": True}


@bp.get("/jobs/<id:job_id>/results.zip")
def results_zip(job_id: int) -> Any:
    farm().job(job_id)  # an unknown job is a 404 before the download starts
    return Response(farm().results_zip(job_id), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="job_{job_id}_frames.zip"'})


@bp.get("/openapi.yaml")
def openapi() -> Any:
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")
