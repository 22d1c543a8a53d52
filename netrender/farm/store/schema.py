# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's SQLite schema, and the steps that bring an older database up to date.

``PRAGMA user_version`` records how many steps a database has taken, so a
master started on a folder written by an older netrender resumes it instead of
failing on a missing column.
"""

from __future__ import annotations

import sqlite3

#: Each step runs once, in order; never edit one that shipped, add another.
MIGRATIONS: list[str] = [
    # 1: jobs, their files and frames, slaves
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL, category TEXT NOT NULL, tags TEXT NOT NULL,
        priority INTEGER NOT NULL, chunks INTEGER NOT NULL, engine TEXT NOT NULL,
        blend TEXT NOT NULL, control TEXT NOT NULL,
        submitted_at REAL NOT NULL, started_at REAL, finished_at REAL, last_dispatched REAL
    );
    CREATE TABLE job_files (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
        PRIMARY KEY (job_id, path)
    );
    CREATE TABLE frames (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
        slave_id TEXT, render_time REAL, message TEXT NOT NULL DEFAULT '',
        dispatched_at REAL, finished_at REAL,
        PRIMARY KEY (job_id, number)
    );
    CREATE INDEX frames_by_status ON frames (status, job_id);
    CREATE TABLE slaves (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,
        facts TEXT NOT NULL, tags TEXT NOT NULL,
        registered_at REAL NOT NULL, last_seen REAL NOT NULL,
        frames_done INTEGER NOT NULL DEFAULT 0, frames_failed INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: balancing: failures per frame and slave, blacklists, settings
    """
    ALTER TABLE frames ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE frame_failures (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, slave_id TEXT NOT NULL, at REAL NOT NULL, message TEXT NOT NULL
    );
    CREATE INDEX frame_failures_by_job ON frame_failures (job_id, slave_id);
    CREATE TABLE job_blacklist (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        slave_id TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (job_id, slave_id)
    );
    ALTER TABLE slaves ADD COLUMN blacklisted INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX frames_by_job_status ON frames (job_id, status, seq);
    CREATE UNIQUE INDEX frames_by_job_seq ON frames (job_id, seq);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: the web monitor: a job's history, disabled slaves
    """
    CREATE TABLE job_events (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        at REAL NOT NULL, event TEXT NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events (job_id, at);
    ALTER TABLE slaves ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: a job may allow the file's own scripts to run, and remap paths outside its folder
    """
    ALTER TABLE jobs ADD COLUMN allow_scripts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN remap TEXT NOT NULL DEFAULT '{}';
    """,
    # 5: a job says whether slaves keep one Blender open for it, and whether Cycles keeps its data
    """
    ALTER TABLE jobs ADD COLUMN persistent INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE jobs ADD COLUMN persistent_data INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: what a frame's move means for its job and slave, written by SQLite in the same step as the move:
    # a busy master handles a thousand frames a second, and each statement less is a hand-over less of
    # Python's interpreter lock between its threads. The store mirrors the job columns in memory.
    """
    CREATE TRIGGER frame_dispatched AFTER UPDATE OF status ON frames
    WHEN NEW.status = 'dispatched' AND OLD.status <> 'dispatched'
    BEGIN
        UPDATE jobs SET last_dispatched = NEW.dispatched_at, started_at = COALESCE(started_at, NEW.dispatched_at)
        WHERE id = NEW.job_id;
    END;
    CREATE TRIGGER frame_done AFTER UPDATE OF status ON frames
    WHEN NEW.status = 'done' AND OLD.status <> 'done' AND NEW.slave_id IS NOT NULL
    BEGIN
        UPDATE slaves SET frames_done = frames_done + 1, last_seen = MAX(last_seen, NEW.finished_at)
        WHERE id = NEW.slave_id;
    END;
    """,
    # 7: what the client could not find, and jobs rendered in place on shared storage (the remap
    # column of step 4 is no longer read: packing rewrites the paths instead)
    """
    ALTER TABLE jobs ADD COLUMN missing TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE jobs ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN found TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE jobs ADD COLUMN output_dir TEXT NOT NULL DEFAULT '';
    """,
    # 8: job kinds (a task per frame, or tiles stitched per frame; farm/jobtypes.py), and what each slave
    # is measured to do (its speed profile)
    """
    ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'frames';
    ALTER TABLE jobs ADD COLUMN tiles INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE slaves ADD COLUMN speed TEXT NOT NULL DEFAULT '{}';
    """,
    # 9: the SSH nodes the master drives (netrender/ssh/), kept across restarts
    """
    CREATE TABLE ssh_nodes (name TEXT PRIMARY KEY, spec TEXT NOT NULL, added_at REAL NOT NULL);
    """,
    # 10: a job that waits for another (a render after its bake)
    """
    ALTER TABLE jobs ADD COLUMN after_job INTEGER NOT NULL DEFAULT 0;
    """,
    # 11: jobs whose files come from version control (netrender/common/vcs.py)
    """
    ALTER TABLE jobs ADD COLUMN vcs TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN remote TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN revision TEXT NOT NULL DEFAULT '';
    """,
    # 12: the queue (netrender/farm/queue.py): who started a job, and its place in the queue
    """
    ALTER TABLE jobs ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN queued_at REAL NOT NULL DEFAULT 0;
    """,
]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the steps this database has not taken yet, each in its own transaction."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and db.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone():
        version = 1  # written before versions were recorded: it holds step 1
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        db.executescript(f"BEGIN IMMEDIATE; {step}; PRAGMA user_version = {number}; COMMIT;")
