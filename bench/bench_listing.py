# SPDX-License-Identifier: GPL-3.0-or-later
"""What a work answer costs for a project of thousands of files: with its file list, and without it.

Assignments used to carry the job's whole file list; they now leave it out
(``listed``) and a slave reads it once per job from ``GET /api/jobs/{id}/files``.
One job of 5,006 files (the size of ``bench_project.py``'s project) in a real
``Farm``; each round dispatches a chunk and gives it back, then times what
turns the assignment into the answer's bytes on the master (``to_json`` and
``json.dumps``) and back into an assignment on the slave (``json.loads`` and
``from_json``), both ways in the same run: the list inline, as before, and
left out, as now. The one-time listing is timed the same way.

    .venv/bin/python bench/bench_listing.py [--files 5006] [--rounds 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blobfarm import farm_with_blob

from netrender.common.model import JobSpec
from netrender.common.work import Assignment, listing_from_json, listing_json


def timed(action: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The median seconds of ``action`` over ``rounds`` runs, and its last result."""
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5006)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        farm, entry = farm_with_blob(Path(folder))
        files = [{"path": "shots/sh010/shot.blend", **entry}]
        files += [{"path": f"assets/plates/plate_{i:05d}.png", **entry} for i in range(args.files - 1)]
        spec = JobSpec.from_json({"blend": "shots/sh010/shot.blend", "files": files, "frames": [1, 2]})
        job_id = farm.submit(spec, 0.0).id
        slave = farm.register_slave("bench", "", {}, [], 0.0).id
        work = farm.request_work(slave, 1.0)
        assert work is not None and work.listed
        farm.release(slave, work.job_id, work.frames, 1.0)
        stored = farm.job(job_id).spec
        farm.close()
    inline = dataclasses.replace(work, files=stored.files, found=stored.found, listed=False)
    rows = []
    for name, assignment in (("inline (before)", inline), ("listed (now)", work)):
        encode, body = timed(lambda a=assignment: json.dumps({"work": a.to_json()}), args.rounds)
        decode, back = timed(lambda b=body: Assignment.from_json(json.loads(b)["work"]), args.rounds)
        assert back == assignment
        rows.append((name, len(body), encode, decode))
    list_encode, listing = timed(lambda: json.dumps(listing_json(stored.files, stored.found)), args.rounds)
    list_decode, _ = timed(lambda: listing_from_json(json.loads(listing)), args.rounds)
    print(f"netrender listing benchmark: one job of {args.files} files, {args.rounds} rounds, medians")
    for name, size, encode, decode in rows:
        print(f"  work answer, {name:<16} {size:>9,} bytes   master {encode * 1000:7.3f} ms   "
              f"slave {decode * 1000:7.3f} ms")
    print(f"  file list, once per job and slave {len(listing):>6,} bytes   master {list_encode * 1000:7.3f} ms   "
          f"slave {list_decode * 1000:7.3f} ms")
    (_, big, big_enc, big_dec), (_, small, small_enc, small_dec) = rows
    print(f"per chunk: {big / small:,.0f} times fewer bytes, master {big_enc / small_enc:,.0f} times and slave "
          f"{big_dec / small_dec:,.0f} times less work; a job's second chunk on a slave already costs less")


if __name__ == "__main__":
    main()
