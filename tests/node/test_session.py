# SPDX-License-Identifier: GPL-3.0-or-later
"""One Blender per job: the command line, the restart policy, the protocol with a fake driver, then real Blender.

The fake driver is a small Python program started by the real launcher in
Blender's place: it reads the session's own command line, calls back with the
token from the environment and answers frame requests, misbehaving on demand
(``FAKE_MODE``), so every failure path runs through real processes and sockets.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from conftest import BLENDER, render_locally
from pixels import differences

from netrender.node import blender
from netrender.node.session import BlenderSession, FrameOutcome, Process, SessionSpec, SessionState
from netrender.node.sessions import Decision, Sessions, decide
from netrender.node.wire import DONE

FAKE_DRIVER = r"""
import json, os, signal, socket, sys, time
argv = sys.argv[1:]
out = os.path.join(os.path.dirname(argv[argv.index("-o") + 1]), "{:06d}.exr")
blend = argv[argv.index("-b") + 1]
port = int(argv[argv.index("--") + 1])
mode = os.environ.get("FAKE_MODE", "")
print("Blender 9.9 (fake)", flush=True)
if mode == "load-error":
    print(f"Error: Failed to read blend file '{blend}': Missing DNA block", flush=True)
    sys.exit(1)
if mode == "hang":
    time.sleep(600)
token = os.environ.pop("NETRENDER_SESSION_TOKEN")
print("token on the command line:", token in argv, flush=True)
sock = socket.create_connection(("127.0.0.1", port))
hello = {"hello": token, "pid": os.getpid(), "file": "/elsewhere.blend" if mode == "other-file" else blend,
         "version": "9.9"}
sock.sendall((json.dumps(hello) + "\n").encode())
for line in sock.makefile("r"):
    request = json.loads(line)
    if request.get("quit"):
        print("quitting", flush=True)
        break
    if request.get("ping"):  # the file is loaded: say what is missing, as missing.py has Blender do
        for path in os.environ.get("FAKE_MISSING", "").split(os.pathsep) if os.environ.get("FAKE_MISSING") else []:
            print(f"Warning: Path '{path}' not found", flush=True)
        print(f"NETRENDER_DONE {request['id']}", flush=True)
        sock.sendall(b'{"pong": true}\n')
        continue
    frame = request["frame"]
    print(f"Fra:{frame} rendering", flush=True)
    if mode == f"crash-{frame}":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == f"slow-{frame}":
        time.sleep(600)
    if mode == "chatty":
        for i in range(200_000):  # some 6 MB: far more than a pipe holds
            print(f"Fra:{frame} chatter {i}")
    if mode == f"error-{frame}":
        reply = {"frame": frame, "error": "Error: Cannot render, no camera", "seconds": 0.0}
    elif mode == f"garbage-{frame}":
        sock.sendall(b"this is not json\n")
        continue
    else:
        os.makedirs(os.path.dirname(out), exist_ok=True)  # as Blender does
        with open(out.format(frame), "wb") as fh:
            fh.write(b"exr %d" % frame)
        print(f"Saved: '{out.format(frame)}'", flush=True)
        reply = {"frame": frame, "path": out.format(frame), "seconds": 0.01}
    print(f"NETRENDER_DONE {request['id']}", flush=True)
    sock.sendall((json.dumps(reply) + "\n").encode())
""".replace("NETRENDER_DONE", DONE)


def fake_launcher(mode: str = "", before: Callable[[int], None] = lambda port: None) -> Callable[..., Process]:
    """Start the fake driver with the session's argv; ``before(port)`` runs first (an impostor, say)."""

    def launch(argv: Sequence[str], env: Mapping[str, str]) -> Process:
        before(int(argv[argv.index("--") + 1]))
        return blender.popen([sys.executable, "-c", FAKE_DRIVER, *argv], {**env, "FAKE_MODE": mode})

    return launch


@pytest.fixture
def spec(tmp_path: Path) -> SessionSpec:
    blend = tmp_path / "files" / "scene.blend"
    blend.parent.mkdir()
    blend.write_bytes(b"BLENDER")
    return SessionSpec(7, "blender", blend, tmp_path / "output", "CYCLES", 2)


def fake_session(spec: SessionSpec, tmp_path: Path, mode: str = "", **options: object) -> BlenderSession:
    options = {"launch": fake_launcher(mode), "poll": 0.05, **options}
    return BlenderSession(spec, tmp_path / "logs" / "session.log", **options)


# -- the command line -----------------------------------------------------------------------------


def test_session_argv_exact() -> None:
    argv = blender.session_argv("blender", "/j/files/scene.blend", "/j/out", "CYCLES", 2, 40123)
    assert argv == [
        "blender",
        "-b", "/j/files/scene.blend",
        "--disable-autoexec",
        "-noaudio",
        "-E", "CYCLES",
        "-t", "2",
        "-o", "/j/out/######",
        "-F", "OPEN_EXR_MULTILAYER",
        "-x", "1",
        "--python", str(blender.MISSING_SCRIPT),
        "--python", str(blender.DRIVER_SCRIPT),
        "--", "40123",
    ]
    assert blender.DRIVER_SCRIPT.is_absolute() and blender.DRIVER_SCRIPT.is_file()


def test_session_argv_runs_the_missing_files_check_and_thumbnails_before_the_driver() -> None:
    argv = blender.session_argv("blender", "/j/f.blend", "/j/out", "BLENDER_EEVEE", 4, 5, thumbnails=True,
                                allow_scripts=True, persistent_data=True)
    assert argv == [
        "blender",
        "-b", "/j/f.blend",
        "--enable-autoexec",
        "-noaudio",
        "-E", "BLENDER_EEVEE",
        "-t", "4",
        "-o", "/j/out/######",
        "-F", "OPEN_EXR_MULTILAYER",
        "-x", "1",
        "--python", str(blender.MISSING_SCRIPT),
        "--python", str(blender.THUMBNAIL_SCRIPT),
        "--python", str(blender.DRIVER_SCRIPT),
        "--", "5", "--persistent-data",
    ]


@pytest.mark.parametrize("options", [{}, {"thumbnails": True}, {"thumbnails": True, "allow_scripts": True}])
def test_a_session_sets_the_scene_up_exactly_as_a_one_off_render(options: dict[str, bool]) -> None:
    one_off = blender.render_argv("b", "/f.blend", "/out", "CYCLES", 3, [1, 2], **options)
    session = blender.session_argv("b", "/f.blend", "/out", "CYCLES", 3, 9, **options)
    assert one_off[:-2] == session[: len(one_off) - 2] and one_off[-2] == "-f"
    assert session[len(one_off) - 2 :] == ["--python", str(blender.DRIVER_SCRIPT), "--", "9"]


def driver_source() -> ast.Module:
    return ast.parse(blender.DRIVER_SCRIPT.read_text(encoding="utf-8"))


def test_the_driver_imports_nothing_from_netrender() -> None:
    imported = {alias.name for node in ast.walk(driver_source()) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(driver_source()) if isinstance(node, ast.ImportFrom)}
    assert "bpy" in imported
    assert not [name for name in imported if name.startswith("netrender")]


def test_the_driver_and_the_session_agree_on_marker_and_token_variable() -> None:
    constants = {node.targets[0].id: node.value.value for node in driver_source().body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                 and isinstance(node.value, ast.Constant)}
    assert constants["DONE"] == DONE
    assert constants["TOKEN_ENV"] == blender.SESSION_TOKEN_ENV


# -- the policy -----------------------------------------------------------------------------------


def state(spec: SessionSpec, *, alive: bool = True, frames: int = 0) -> SessionState:
    return SessionState(spec, alive, frames)


def test_decide(spec: SessionSpec) -> None:
    other_job = SessionSpec(8, "blender", spec.blend, spec.output_dir, "CYCLES", 2)
    more_threads = SessionSpec(7, "blender", spec.blend, spec.output_dir, "CYCLES", 4, thumbnails=True)
    assert decide(None, spec, None) == Decision("start", "no Blender is running")
    assert decide(state(spec), spec, None) == Decision("reuse", "same job, same settings")
    assert decide(state(spec, frames=10_000), spec, None).action == "reuse"
    assert decide(state(spec, frames=4), spec, 5).action == "reuse"
    assert decide(state(spec, frames=5), spec, 5) == Decision(
        "replace", "the running Blender rendered 5 frames (at most 5)")
    assert decide(state(spec, alive=False), spec, None) == Decision("replace", "the running Blender has ended")
    assert decide(state(spec), other_job, None) == Decision("replace", "job 8 follows job 7")
    assert decide(state(spec), more_threads, None) == Decision(
        "replace", "job 7's settings changed: threads, thumbnails")
    other_files = SessionSpec(7, "blender", spec.blend, spec.output_dir, "CYCLES", 2, sent=frozenset({"/j/a.png"}),
                              env={"SOME": "thing"})
    assert decide(state(spec), other_files, None).reason == "job 7's settings changed: sent, env"


def test_sessions_reuse_then_replace_as_decided(spec: SessionSpec, tmp_path: Path) -> None:
    made: list[BlenderSession] = []

    def factory(wanted: SessionSpec, log_path: Path) -> BlenderSession:
        made.append(fake_session(wanted, tmp_path))
        return made[-1]

    sessions = Sessions(max_frames=2, factory=factory)
    log_path = tmp_path / "job.log"
    try:
        assert [sessions.render(spec, log_path, f).ok for f in (1, 2)] == [True, True]
        assert len(made) == 1 and sessions.last_decision == Decision("reuse", "same job, same settings")
        assert sessions.render(spec, log_path, 3).ok  # the third frame: max_frames=2 replaced it
        assert len(made) == 2 and not made[0].alive and made[0].pid != made[1].pid
        other = SessionSpec(8, "blender", spec.blend, spec.output_dir, "CYCLES", 2)
        assert sessions.render(other, log_path, 1).ok
        assert len(made) == 3 and not made[1].alive and sessions.current is made[2]
    finally:
        sessions.close()
    assert sessions.current is None and not made[2].alive


# -- the protocol, with the fake driver -----------------------------------------------------------


def test_frames_come_back_with_their_own_log_lines(spec: SessionSpec, tmp_path: Path) -> None:
    with fake_session(spec, tmp_path) as session:
        first, second = session.render(3), session.render(1)
        assert session.alive and session.frames == 2 and session.startup_seconds is not None
    assert first.path == blender.frame_file(spec.output_dir, 3) and first.path.read_bytes() == b"exr 3"
    assert second.path == blender.frame_file(spec.output_dir, 1) and second.error is None
    assert first.log[0] == "Blender 9.9 (fake)"  # the start-up lines go with the first frame
    assert "token on the command line: False" in first.log
    assert first.log[-2:] == ["Fra:3 rendering", f"Saved: '{first.path}'"]
    assert second.log == ["Fra:1 rendering", f"Saved: '{second.path}'"]
    assert not session.alive
    log = (tmp_path / "logs" / "session.log").read_text()
    assert "Fra:3 rendering" in log and "Fra:1 rendering" in log and log.rstrip().endswith("quitting")


def test_a_frame_error_is_an_outcome_and_the_session_goes_on(spec: SessionSpec, tmp_path: Path) -> None:
    with fake_session(spec, tmp_path, "error-2") as session:
        failed, after = session.render(2), session.render(3)
    assert failed == FrameOutcome(2, error="Error: Cannot render, no camera", seconds=failed.seconds,
                                  log=failed.log)
    assert after.ok and session.frames == 1


def test_blender_dying_mid_frame_is_an_error_with_its_log(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "crash-2")
    assert session.render(1).ok
    crashed = session.render(2)
    assert crashed.error == "Blender was killed by SIGKILL before frame 2 was done"
    assert crashed.log == ["Fra:2 rendering"] and not crashed.cancelled
    assert not session.alive
    assert session.render(3).error == "this Blender session has ended"


def test_a_file_that_does_not_load_fails_at_once(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "load-error", start_timeout=60)
    started = time.monotonic()
    outcome = session.render(1)
    assert time.monotonic() - started < 5
    assert outcome.error == f"Error: Failed to read blend file '{spec.blend}': Missing DNA block"
    assert outcome.log[-1] == outcome.error and not session.alive


def test_a_blender_that_never_calls_back_times_out(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "hang", start_timeout=0.3)
    outcome = session.render(1)
    assert outcome.error == "Blender did not load the file within 0.3 s"
    assert not session.alive and session._proc is not None and session._proc.poll() is not None


def test_should_stop_kills_blender_mid_frame(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "slow-2")
    assert session.render(1).ok

    def should_stop() -> bool:  # once Blender is surely busy with frame 2
        return "Fra:2 rendering" in (tmp_path / "logs" / "session.log").read_text()

    outcome = session.render(2, should_stop)
    assert outcome.cancelled and outcome.error is None and outcome.path is None
    assert outcome.log == ["Fra:2 rendering"]
    assert not session.alive and session._proc is not None and session._proc.poll() is not None


def test_should_stop_works_while_the_file_loads(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "hang", start_timeout=60)
    outcome = session.render(1, should_stop=lambda: True)
    assert outcome.cancelled and not session.alive


def test_only_the_holder_of_the_token_drives_blender(spec: SessionSpec, tmp_path: Path) -> None:
    impostors: list[socket.socket] = []

    def connect_first(port: int) -> None:  # in the listener's backlog before the driver is even started
        silent = socket.create_connection(("127.0.0.1", port))
        wrong = socket.create_connection(("127.0.0.1", port))
        wrong.sendall(json.dumps({"hello": "guess", "file": str(spec.blend)}).encode() + b"\n")
        impostors.extend([silent, wrong])

    session = fake_session(spec, tmp_path, launch=fake_launcher(before=connect_first), hello_timeout=0.2)
    with session:
        assert session.render(1).ok
    for impostor in impostors:
        impostor.settimeout(5)
        assert impostor.recv(100) == b""  # hung up on, never sent a request
        impostor.close()


def test_a_blender_that_loaded_another_file_is_refused(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "other-file")
    outcome = session.render(1)
    assert outcome.error == f"Blender loaded '/elsewhere.blend' rather than {str(spec.blend)!r}"
    assert not session.alive


def test_garbage_from_the_driver_ends_the_session(spec: SessionSpec, tmp_path: Path) -> None:
    session = fake_session(spec, tmp_path, "garbage-1")
    outcome = session.render(1)
    assert outcome.error == "Blender's session driver sent b'this is not json'" and not session.alive


def test_a_chatty_blender_never_blocks(spec: SessionSpec, tmp_path: Path) -> None:
    with fake_session(spec, tmp_path, "chatty") as session:
        outcome = session.render(4)
    assert outcome.ok
    printed = 1 + 200_000 + 1  # "Fra:4 rendering", the chatter, "Saved:"
    startup = ["Blender 9.9 (fake)", "token on the command line: False"]  # the first frame's log has them whole
    assert outcome.log[:2] == startup
    assert outcome.log[2] == f"[{printed - 10_000} earlier lines are in {tmp_path / 'logs' / 'session.log'}]"
    assert outcome.log[-2:] == ["Fra:4 chatter 199999", f"Saved: '{outcome.path}'"]
    assert len(outcome.log) == 2 + 10_001
    assert "Fra:4 chatter 0\n" in (tmp_path / "logs" / "session.log").read_text()


def test_a_failing_console_does_not_stop_the_reading(spec: SessionSpec, tmp_path: Path) -> None:
    def closed_console(line: str) -> None:
        raise ValueError("I/O operation on closed file")

    with fake_session(spec, tmp_path, "chatty", on_line=closed_console) as session:
        assert session.render(1).ok


def test_a_missing_blender_is_an_error_not_an_exception(spec: SessionSpec, tmp_path: Path) -> None:
    missing = SessionSpec(7, str(tmp_path / "no-blender"), spec.blend, spec.output_dir, "CYCLES", 2)
    outcome = BlenderSession(missing, tmp_path / "log.txt").render(1)
    assert outcome.error is not None and outcome.error.startswith(f"cannot start Blender ({missing.blender}):")


# -- real Blender ---------------------------------------------------------------------------------

FRAMES = [1, 2, 3]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-frame turning cube, 64×36, 4 samples, its Cycles noise seed animated: every frame number shows."""
    from netrender.samples import build_scene

    path = build_scene(tmp_path_factory.mktemp("scene") / "tiny.blend", blender=BLENDER or "blender",
                       frames=len(FRAMES), size="64x36", samples=4)
    subprocess.run([BLENDER or "blender", "-b", str(path), "--python-exit-code", "1", "--python-expr",
                    "import bpy; bpy.context.scene.cycles.use_animated_seed = True; bpy.ops.wm.save_mainfile()"],
                   check=True, capture_output=True, timeout=120)
    path.with_name(path.name + "1").unlink(missing_ok=True)
    return path


@pytest.fixture(scope="module")
def reference(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Each frame from its own ``blender -b FILE -f N``, the fresh process a session must equal."""
    output = tmp_path_factory.mktemp("reference")
    frames = {f: render_locally(scene, [f], output)[f] for f in FRAMES}
    assert differences(frames[1], frames[2]) != [] and differences(frames[2], frames[3]) != []
    return frames


def real_spec(scene: Path, output: Path, **options: bool) -> SessionSpec:
    return SessionSpec(1, BLENDER or "blender", scene, output, "CYCLES", 2, **options)


@pytest.fixture
def sessions() -> Iterator[Sessions]:
    pool = Sessions()
    yield pool
    pool.close()


def assert_identical(outcome: FrameOutcome, reference: dict[int, Path]) -> None:
    assert outcome.error is None and outcome.path is not None, "\n".join(outcome.log[-20:])
    assert differences(outcome.path, reference[outcome.frame]) == [], outcome.frame


@pytest.mark.blender
@pytest.mark.parametrize("persistent_data", [False, True], ids=["plain", "persistent-data"])
def test_a_session_renders_the_same_pixels_as_blender_f(
    scene: Path, reference: dict[int, Path], tmp_path: Path, persistent_data: bool
) -> None:
    spec = real_spec(scene, tmp_path / "out", persistent_data=persistent_data)
    with BlenderSession(spec, tmp_path / "session.log") as session:
        for count, frame in enumerate((3, 1, 2)):  # out of order: a frame must not depend on the one before
            outcome = session.render(frame)
            assert outcome.path == blender.frame_file(spec.output_dir, frame)
            assert_identical(outcome, reference)
            assert f"Saved: '{outcome.path}'" in outcome.log
            # Proof that persistent data is in effect: Cycles keeps the still plane, re-syncing only the cube.
            synced = {line.rsplit("| ", 1)[-1] for line in outcome.log if "| Synchronizing object |" in line}
            assert synced == ({"SampleCube"} if persistent_data and count else {"Plane", "SampleCube"})
        assert session.frames == 3 and session.alive
    assert not session.alive


@pytest.mark.blender
def test_a_killed_blender_is_replaced_and_no_frame_is_lost(
    scene: Path, reference: dict[int, Path], tmp_path: Path, sessions: Sessions
) -> None:
    spec = real_spec(scene, tmp_path / "out")
    assert_identical(sessions.render(spec, tmp_path / "job.log", 1), reference)
    first = sessions.current
    assert first is not None and first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    lost = first.render(2)
    assert lost.error == "Blender was killed by SIGKILL before frame 2 was done" and not first.alive
    again = sessions.render(spec, tmp_path / "job.log", 2)
    assert sessions.last_decision == Decision("replace", "the running Blender has ended")
    assert sessions.current is not first and sessions.current is not None and sessions.current.pid != first.pid
    assert_identical(again, reference)
    assert_identical(sessions.render(spec, tmp_path / "job.log", 3), reference)


@pytest.mark.blender
def test_a_corrupt_file_fails_fast_with_blenders_message(scene: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.blend"
    corrupt.write_bytes(scene.read_bytes()[:3000])
    session = BlenderSession(real_spec(corrupt, tmp_path / "out"), tmp_path / "session.log", start_timeout=120)
    started = time.monotonic()
    outcome = session.render(1)
    assert time.monotonic() - started < 20
    assert outcome.error == f"Error: Failed to read blend file '{corrupt}': Missing DNA block"
    assert not session.alive and outcome.error in outcome.log


@pytest.mark.blender
def test_thumbnails_still_appear_in_a_session(scene: Path, reference: dict[int, Path], tmp_path: Path) -> None:
    spec = real_spec(scene, tmp_path / "out", thumbnails=True)
    with BlenderSession(spec, tmp_path / "session.log") as session:
        outcomes = [session.render(frame) for frame in (2, 1)]
    for outcome in outcomes:
        assert_identical(outcome, reference)
        thumbnail = blender.thumbnail_file(spec.output_dir, outcome.frame)
        assert thumbnail.read_bytes().startswith(b"\x89PNG"), outcome.log
    assert sorted(p.name for p in spec.output_dir.iterdir()) == [
        "000001.exr", "000001.thumb.png", "000002.exr", "000002.thumb.png"]
