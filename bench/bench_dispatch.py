# SPDX-License-Identifier: GPL-3.0-or-later
"""Time a work request through the whole farm: SQLite, usage decay, the balancer, dispatch.

``bench_balancing.py`` times the pure decision; this adds what the master does
around it. 1,000 queued jobs of 10 frames, 1,000 registered slaves; one slave
asks for work and gives the chunk back, many times, so the farm stays the same
size. Prints the median and p99 of a request.

    .venv/bin/python bench/bench_dispatch.py [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from blobfarm import farm_with_blob

from netrender.common.model import JobSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--slaves", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        farm, entry = farm_with_blob(Path(folder))
        files = [{"path": "a.blend", **entry}]
        for i in range(args.jobs):
            spec = JobSpec.from_json({"blend": "a.blend", "files": files, "frames": list(range(1, 11)),
                                      "priority": 1 + i % 5, "category": f"c{i % 20}", "chunks": 2})
            farm.submit(spec, float(i))
        slaves = [farm.register_slave(f"s{i}", "", {}, [], 0.0).id for i in range(args.slaves)]
        now = float(args.jobs)
        for slave in slaves[1:]:  # every job under way: no "new job first" shortcut
            farm.request_work(slave, now)
        asker = slaves[0]
        times = []
        for _ in range(args.requests):
            now += 0.01
            started = time.perf_counter()
            work = farm.request_work(asker, now)
            times.append(time.perf_counter() - started)
            assert work is not None
            farm.release(asker, work.job_id, work.frames, now)
        farm.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"netrender dispatch benchmark: {args.jobs} jobs, {args.slaves} slaves, {args.requests} requests")
    print(f"request_work through the farm  median {statistics.median(times) * 1000:7.3f} ms"
          f"   p99 {p99 * 1000:7.3f} ms")


if __name__ == "__main__":
    main()
