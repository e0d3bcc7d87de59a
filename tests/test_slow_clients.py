"""Slow and idle clients against a real uvicorn on a loopback port, run as ``newsbot serve``
runs it (bot.server's protocol): a request that does not arrive whole within the read timeout
is closed, and connections past the cap are turned away at once while real messages still get
through."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from bot import server
from bot.app import Services, create_app
from bot.cli.serve import UVICORN
from tests.conftest import Bot, free_port

READ_TIMEOUT = 0.5
CAP = 16


@pytest.fixture
def served(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(server.TimedHttpProtocol, "read_timeout", READ_TIMEOUT)
    monkeypatch.setattr(server.TimedHttpProtocol, "max_connections", CAP)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                        **UVICORN))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _connect(addr: str) -> socket.socket:
    host, port = addr.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def _read_to_close(s: socket.socket) -> bytes:
    """Everything the server sends until it closes (a socket timeout fails the test)."""
    got = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return got
        got += chunk


def test_a_client_sending_its_headers_slowly_is_closed(served: str) -> None:
    clients = [_connect(served) for _ in range(8)]
    for s in clients:
        s.sendall(b"POST /wechat?signature=x HTTP/1.1\r\nHost: bot\r\n")  # and then nothing
    for s in clients:
        assert _read_to_close(s).startswith(b"HTTP/1.1 408 ")
        s.close()


def test_an_idle_connection_is_closed(served: str) -> None:
    with _connect(served) as s:
        assert _read_to_close(s).startswith(b"HTTP/1.1 408 ")


def test_a_client_sending_its_body_slowly_is_closed(served: str) -> None:
    with _connect(served) as s:
        s.sendall(b"POST /wechat HTTP/1.1\r\nHost: bot\r\nContent-Length: 400\r\n\r\n<xml>")
        assert _read_to_close(s) == b""  # the app was reading: it hears the client is gone


def test_connections_past_the_cap_are_turned_away_and_messages_still_get_through(
    served: str, services: Services
) -> None:
    held = [_connect(served) for _ in range(CAP)]
    for s in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # started, never finished
    with _connect(served) as extra:
        assert _read_to_close(extra).startswith(b"HTTP/1.1 503 ")
    for s in held:  # the read timeout frees them
        _read_to_close(s)
        s.close()
    with httpx.Client(base_url=f"http://{served}", timeout=10) as c:
        reply = Bot(c, services.config).send("帮助")
    assert reply.status == 200 and reply.kind == "text"


def test_a_kept_alive_connection_waits_between_requests(served: str) -> None:
    """The read timeout runs from a request's first byte: a pause between two requests on
    one connection is the keep-alive timeout's business, not the read timeout's."""
    request = b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n"
    with _connect(served) as s:
        for _ in range(2):
            s.sendall(request)
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
            time.sleep(2 * READ_TIMEOUT)
