"""Function services refuse oversized bodies (413) without reading them to the end.

A client streams a body with chunked transfer encoding (no Content-Length, so the declared-size
check cannot help) far larger than `FUNCTION_MAX_BODY_BYTES`, over a raw socket so we see
exactly when the server answers. The answer must be 413 with a JSON error body, it must come
after the server read little more than the limit (we stop sending the moment it answers), and
the process's memory must not have grown by anything like the body. A declared
Content-Length above the limit is refused before any of the body is read.
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator

import pytest

from stampede.tools import localstack
from support.service import Service, service

LIMIT = 1024 * 1024
GIVE_UP_AFTER = 512 * 1024 * 1024  # what a server reading everything would have to swallow
CHUNK = b"[" * 65536


@pytest.fixture(scope="module")
def movers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("body-limit")
    redis_server = localstack.redis_server(workdir).start()
    try:
        with service(
            "function-movers",
            ["function", "movers"],
            workdir,
            {"REDIS_URL": redis_server.url, "FUNCTION_MAX_BODY_BYTES": str(LIMIT)},
        ) as svc:
            yield svc
    finally:
        redis_server.stop()


def _headers(extra: str) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: fn\r\nce-specversion: 1.0\r\nce-type: dev.stampede.stocks.aggregate.v1\r\n"
        f"ce-source: /huge\r\nce-id: huge-1\r\ncontent-type: application/json\r\n{extra}\r\n"
    ).encode()


def _read_answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"connection closed without an answer: {data!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return status, json.loads(body[:length])


def test_chunked_body_above_the_limit_gets_413_without_being_read(movers: Service) -> None:
    rss_before = movers.rss()
    sent = 0
    with socket.create_connection(("127.0.0.1", movers.proc.port), timeout=30) as sock:
        sock.sendall(_headers("Transfer-Encoding: chunked\r\n"))
        frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
        while sent < GIVE_UP_AFTER:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break
            assert writable, "the server neither reads nor answers"
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(CHUNK)
        status, body = _read_answer(sock)
    assert status == 413
    assert body["error"] == "too_large" and body["status"] == "error"
    assert sent < 64 * LIMIT, f"the server read {sent / 1e6:.0f} MB before answering"
    growth = movers.rss() - rss_before
    print(
        f"413 after {sent / 1e6:.1f} MB sent (limit {LIMIT / 1e6:.1f} MB), RSS +{growth / 1e6:.1f} MB"
    )
    assert growth < 16 * LIMIT, f"RSS grew by {growth / 1e6:.1f} MB"
    assert movers.running


def test_declared_length_above_the_limit_is_refused_before_the_body(movers: Service) -> None:
    with socket.create_connection(("127.0.0.1", movers.proc.port), timeout=30) as sock:
        sock.sendall(_headers(f"Content-Length: {100 * LIMIT}\r\n"))
        status, body = _read_answer(sock)  # no body byte was sent
    assert status == 413 and body["error"] == "too_large"
    dropped = movers.metrics().by("stampede_function_dropped_total", "reason")
    assert dropped.get("too_large", 0) >= 2
