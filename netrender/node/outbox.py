# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's durable queue of what it must tell the master: logs, results, errors, thumbnails, releases.

Why: a chunk takes minutes or hours to render, and the master may be down
(restarting, the network cut) at the moment it ends. A result sent straight to
the master would then be lost and the frame rendered again. So the slave
first puts what it has to send here, on disk, then sends from here, and takes
an item out only once the master has accepted it or refused it for good (a
final 4xx, e.g. the job was removed). What the master cannot take now waits,
and is sent when it answers again, even by a new slave process started on
the same path.

Why files and not SQLite: the payloads are files already (EXRs, up to
gigabytes), so moving one in is a rename; a small JSON record beside it,
written under a temporary name, synced and renamed into place, is atomic on
every platform; a slave is the only writer; and ``ls outbox/`` shows what is
pending. A database would hold the same truth twice, rows and files, to be
kept in step.

Layout, under ``<slave path>/outbox/``::

    000000000042-1a2b3c4d.json               the record: kind, job, frames, fields, payload
    000000000042-1a2b3c4d/000001.exr         its payload, when it has one, under its own name

Records are numbered in the order they are made and sent in that order, so a
frame's log and result reach the master before its thumbnail, as it requires.
The number is followed by a token of the process that made it: one slave per
path is the intended set-up, but two slaves sharing a path by mistake never
overwrite each other's records (each delivers both's, which the master
tolerates).
Delivery is at least once: a crash between the master's answer and the
removal sends that item again later, which the master tolerates (a frame keeps
its first result; a log is replaced).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.connection import Connection
from ..common.errors import ApiError

log = logging.getLogger(__name__)

KINDS = ("log", "result", "error", "thumbnail", "release")
#: Refusals that may change with time or settings (the token, rate limits): keep the item.
RETRY_LATER = frozenset({401, 403, 408, 429})
_KEY = re.compile(r"^(\d{12})-[0-9a-f]{8}$")


def is_final(exc: ApiError) -> bool:
    """Whether the master refused an item for good, so sending it again cannot help.

    ``unknown_slave`` is not final: the slave registers again and resends. A
    5xx (a full disk, a busy or failing master) is not final either.
    """
    return 400 <= exc.status < 500 and exc.status not in RETRY_LATER and exc.code != "unknown_slave"


@dataclass(frozen=True)
class Item:
    """One pending delivery: what to send, about which frames, with which file."""

    key: str  # the record's name without ".json"; its number first, so names sort oldest first
    kind: str
    job_id: int
    frames: tuple[int, ...]
    payload: Path | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    slave_id: str | None = None  # the id it was made under; it is sent under the slave's current id

    @property
    def frame(self) -> int:
        return self.frames[0]

    def __str__(self) -> str:
        return f"{self.kind} of job {self.job_id} frame(s) {','.join(map(str, self.frames))}"


class Outbox:
    """The records and payloads under ``root``; see the module's docstring for why and how."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._sweep()
        numbers = [int(m.group(1)) for p in root.iterdir() if (m := _KEY.match(p.name.removesuffix(".json")))]
        self._next = max(numbers, default=0) + 1
        self._token = secrets.token_hex(4)

    def __len__(self) -> int:
        return len(self._records())

    def put(self, kind: str, job_id: int, frames: tuple[int, ...] | list[int], *, payload: Path | None = None,
            copy: bool = False, fields: dict[str, Any] | None = None, slave_id: str | None = None) -> Item:
        """Keep one delivery: move ``payload`` in (copy it with ``copy``), then write its record.

        The payload lands first, in a folder of its own under its own name,
        and the record last, each synced, so a crash in between leaves at
        worst a payload without a record, which the next :class:`Outbox` on
        this folder removes.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        with self._lock:
            stem = f"{self._next:012d}-{self._token}"
            self._next += 1
            stored = None
            if payload is not None:
                (self.root / stem).mkdir()
                stored = self.root / stem / payload.name
                if copy:
                    shutil.copyfile(payload, stored)
                else:
                    shutil.move(payload, stored)
                _sync(stored)
                _sync_folder(stored.parent)
            item = Item(stem, kind, job_id, tuple(frames), stored, dict(fields or {}), slave_id)
            record = {"kind": kind, "job_id": job_id, "frames": list(item.frames), "fields": item.fields,
                      "payload": f"{stem}/{stored.name}" if stored else None, "slave_id": slave_id,
                      "created": time.time()}
            _write_atomically(self.root / f"{stem}.json", json.dumps(record, indent=1).encode())
            return item

    def pending(self) -> list[Item]:
        """Every item, oldest first; a record that cannot be read or lost its payload is dropped."""
        items = []
        for record in self._records():
            try:
                items.append(self._read(record))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("dropping unreadable outbox record %s: %s", record.name, exc)
                self._discard(record)
        return items

    def remove(self, item: Item) -> None:
        """Forget a delivered item: its record first, so it is never sent again, then its payload."""
        (self.root / f"{item.key}.json").unlink(missing_ok=True)
        shutil.rmtree(self.root / item.key, ignore_errors=True)

    def deliver(self, send: Callable[[Item], object]) -> int:
        """Send pending items oldest first; return how many left the outbox.

        An item leaves once ``send`` returns (the master accepted it) or raises
        a final :class:`ApiError` (logged and dropped). Any other exception,
        such as :class:`MasterUnreachable`, stops the delivery and is raised:
        the items after it wait behind it, so their order holds.
        """
        sent = 0
        for item in self.pending():
            try:
                send(item)
            except ApiError as exc:
                if not is_final(exc):
                    raise
                log.warning("the master refused the %s for good (%s): dropped", item, exc.message)
            self.remove(item)
            sent += 1
        return sent

    def _records(self) -> list[Path]:
        """The records, oldest first; never a half-written ``.tmp-`` one."""
        return sorted(p for p in self.root.glob("*.json") if _KEY.match(p.stem))

    def _read(self, record: Path) -> Item:
        data = json.loads(record.read_text(encoding="utf-8"))
        payload = self.root / data["payload"] if data["payload"] else None
        if payload is not None and (payload.parent != self.root / record.stem or not payload.is_file()):
            raise ValueError(f"its payload {data['payload']} is missing")
        if data["kind"] not in KINDS:
            raise ValueError(f"unknown kind {data['kind']!r}")
        return Item(record.stem, data["kind"], int(data["job_id"]), tuple(int(f) for f in data["frames"]), payload,
                    dict(data["fields"]), data["slave_id"])

    def _discard(self, record: Path) -> None:
        record.unlink(missing_ok=True)
        shutil.rmtree(self.root / record.stem, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove what a crash can leave: half-written records and payloads without a record."""
        records = {p.stem for p in self._records()}
        for path in self.root.iterdir():
            if path.is_dir() and _KEY.match(path.name) and path.name not in records:
                log.warning("removing %s from the outbox: a crash left it without a record", path.name)
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and path.name.startswith(".tmp-"):
                log.warning("removing %s from the outbox: a crash left it half-written", path.name)
                path.unlink(missing_ok=True)


def send(conn: Connection, item: Item, slave_id: str, *, next_chunk: bool = False) -> Any:
    """Make the one request that delivers ``item``, as slave ``slave_id``; return the master's answer.

    ``next_chunk`` asks, with a result, for the slave's next chunk in the answer (its ``work``).
    """
    frame = f"/api/jobs/{item.job_id}/frames/{item.frame}"
    if item.kind == "release":
        return conn.post(f"/api/slaves/{slave_id}/release", {"job_id": item.job_id, "frames": list(item.frames)})
    if item.kind == "error":
        return conn.post(f"{frame}/error", {"slave": slave_id, "message": item.fields["message"]})
    if item.payload is None:
        raise ValueError(f"the {item} has no file to send")
    if item.kind == "log":
        return conn.put_file(f"{frame}/log", item.payload)
    if item.kind == "result":
        params = {"slave": slave_id, "render_time": f"{float(item.fields['render_time']):.3f}"}
        if next_chunk:
            params["next"] = "1"
        return conn.put_file(f"{frame}/result", item.payload, params=params)
    return conn.put_file(f"{frame}/thumbnail", item.payload, params={"slave": slave_id})


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _sync(path: Path) -> None:
    """Make a payload durable before the record that names it exists."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a rename durable; Windows cannot open a folder for that, and renames there are journaled."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
