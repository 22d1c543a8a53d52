# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's changes to cheroot, on real sockets: fast header lines, one send per small answer, waiting workers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from netrender.master import MasterServer
from netrender.server import httpserver
from netrender.server.httpserver import Corked, LineReader


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_lines_come_whole_from_the_buffer_or_from_the_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    reader = LineReader(ours, "rb", 64)
    theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert reader.readline() == b"GET / HTTP/1.1\r\n"  # the first read fills the buffer
    assert reader.readline() == b"Host: x\r\n"  # this one comes out of it
    theirs.sendall(b"Long: " + b"y" * 100 + b"\r\n\r\n")  # longer than the buffer
    assert reader.readline(10) == b"Long: yyyy"  # a size limit is kept
    assert reader.readline() == b"y" * 96 + b"\r\n"
    assert reader.readline() == b"\r\n"
    assert reader.bytes_read == 16 + 9 + 108 + 2


def test_writes_are_held_and_sent_together_up_to_the_limit() -> None:
    sent: list[bytes] = []
    real = mock.Mock(write=sent.append, bytes_written=7)
    corked = Corked(real, limit=10)
    corked.write(b"head ")
    corked.write(b"body")
    assert sent == []
    corked.flush()
    assert sent == [b"head body"]
    corked.write(b"0123456789abc")  # at the limit: goes at once
    assert sent == [b"head body", b"0123456789abc"]
    assert corked.bytes_written == 7  # cheroot's counters are the real writer's


def request(sock: socket.socket, path: str) -> tuple[bytes, bytes]:
    """Send a GET on a kept-alive connection; the head and body of its answer, read in one go each."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_a_small_answer_leaves_in_one_send_and_the_next_request_is_served(live_master: MasterServer) -> None:
    sends: list[int] = []
    real_send = socket.socket.send

    def counting(self: socket.socket, data: bytes, *args: object) -> int:
        sends.append(len(data))
        return real_send(self, data, *args)

    with socket.create_connection(("127.0.0.1", live_master.port)) as sock, \
            mock.patch.object(socket.socket, "send", counting):
        for _ in range(3):  # the same worker or the selector: the client sees no difference
            head, body = request(sock, "/api/version")
            assert head.startswith(b"HTTP/1.1 200") and "version" in json.loads(body)
    assert len(sends) == 3, "head and body of each answer went in one send"


def test_a_client_slower_than_the_wait_is_served_through_the_selector(
    live_master: MasterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpserver, "NEXT_REQUEST_WAIT", 0.05)
    with socket.create_connection(("127.0.0.1", live_master.port)) as sock:
        request(sock, "/api/version")
        time.sleep(0.3)  # the worker gave the connection back; the selector must hand the next request on
        head, _ = request(sock, "/api/version")
        assert head.startswith(b"HTTP/1.1 200")
