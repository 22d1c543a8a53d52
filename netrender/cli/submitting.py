# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender submit``: one .blend or many (names, globs, a ``--queue-file`` list), a job each, in order.

Files the jobs share (a library, textures) are uploaded once: the master is
asked which it lacks before each job's files go. ``--quiet`` prints only
errors and the closing summary, for scripts and the file-manager action in
``scripts/desktop/``.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any

from ..client import Client, JobOptions
from ..common.errors import InvalidConfig
from ..common.frames import parse_frames
from .connect import access, master
from .progress import BarProgress
from .sessions import SessionFolder

EXIT_FAILED = 1


def blend_files(names: list[Path], queue_file: Path | None) -> list[Path]:
    """The files to send, in order: names as given (a pattern expanded, sorted), then the queue file's lines."""
    found: list[Path] = []
    for name in names:
        text = str(name)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise InvalidConfig(f"{text} matches no file")
        found.extend(Path(m) for m in matches)
    if queue_file is not None:
        try:
            lines = Path(queue_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InvalidConfig(f"cannot read the queue file {queue_file}: {exc}") from exc
        base = Path(queue_file).parent
        found.extend(base / line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not found:
        raise InvalidConfig("name the .blend file(s) to send, or a --queue-file listing them")
    for path in found:
        if not path.is_file():
            raise InvalidConfig(f"{path} is not a file")
    return found


def submit(args: argparse.Namespace) -> int:
    from ..pack import packer, scene

    blends = blend_files(args.blend, args.queue_file)
    if len(blends) > 1 and (args.session is not None or args.vcs):
        raise InvalidConfig("--session and --vcs take one file at a time")
    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr)

    client = Client(master(args), BarProgress(args.quiet), access=access(args))
    jobs = []
    for blend in blends:
        frames = parse_frames(args.frames) if args.frames else scene.frame_range(blend)
        options = JobOptions(frames=frames, name=args.name if len(blends) == 1 else "", category=args.category,
                             priority=args.priority, tags=[t for t in args.tags.split(";") if t], chunks=args.chunks,
                             engine=args.engine, allow_scripts=args.allow_scripts, persistent=args.persistent,
                             persistent_data=args.persistent_data, strict=args.strict, shared=args.shared,
                             output_dir=str(packer.absolute(args.shared_output)) if args.shared_output else "",
                             tiles=args.tiles, denoise={"on": True, "off": False}.get(args.denoise), after=args.after)
        client.progress = BarProgress(args.quiet)
        sent = client.submit_versioned(blend, _repository(args, blend), options) if args.vcs else \
            client.submit(blend, options)
        if sent.missing:
            print(f"warning: {blend} names {len(sent.missing)} file(s) that do not exist here; the job renders "
                  "without them, as Blender would here (--strict refuses instead):", file=sys.stderr)
            for path in sent.missing:
                print(f"  {path}", file=sys.stderr)
        say(f"job {sent.job['id']} submitted: {blend.name}, {len(frames)} frame(s), {len(sent.files)} file(s), "
            f"{sent.uploaded_files} uploaded ({sent.uploaded_bytes} bytes)")
        print(sent.job["id"])
        jobs.append((blend, sent))
    if len(jobs) > 1 or args.quiet:
        print(f"{len(jobs)} job(s) submitted: {', '.join(str(s.job['id']) for _, s in jobs)}; "
              f"{sum(s.uploaded_files for _, s in jobs)} file(s) uploaded", file=sys.stderr)
    blend, sent = jobs[0]
    session = SessionFolder.new(args.sessions, args.session) if args.session is not None else None
    if session is not None:
        session.start(client.conn.url, sent.job, blend)
        say(f"session {session.name}: {session.path}")
    if not args.wait and session is None:
        return 0
    failed = 0
    for blend, sent in jobs:
        client.progress = BarProgress(args.quiet)
        final = client.wait(sent.job["id"])
        failed += final["status"] != "finished"
        if args.output:
            folder = args.output if len(jobs) == 1 else args.output / blend.stem
            saved = client.download(sent.job["id"], folder)
            say(f"{len(saved)} frame(s) written to {folder}")
    if session is not None:
        session.fill(client, sent.job["id"])
        print((session.path / "summary.txt").read_text(encoding="utf-8"), file=sys.stderr, end="")
    return EXIT_FAILED if failed else 0


def _repository(args: argparse.Namespace, blend: Path) -> Any:
    from ..common.vcs import redact
    from ..pack.vcs import detect

    repository = detect(blend, args.vcs, args.remote, args.revision)
    print(f"the slaves check out {repository.path} from {repository.system} {redact(repository.remote)} at "
          f"{repository.revision}", file=sys.stderr)
    if repository.changed:
        print(f"warning: {len(repository.changed)} file(s) changed here are not committed; the farm renders the "
              f"committed {repository.revision} without them: {', '.join(repository.changed[:5])}", file=sys.stderr)
    return repository
