"""The HTTP protocol newsbot runs uvicorn with: uvicorn's httptools protocol plus the two limits
it lacks.

* **A read timeout.** uvicorn starts no timer when a connection opens, so a client that sends
  its headers (or its body) a byte at a time holds a connection, and a file descriptor, as
  long as it likes. Here a request must arrive whole within ``[server] read_timeout`` seconds
  of its first byte (of the connection, for the first request); otherwise the connection is
  answered 408 and closed. Between requests uvicorn's own keep-alive timeout applies.
* **A bound on open connections.** Past ``[server] max_connections`` a new connection is
  answered 503 and closed at once, so the descriptors left over serve the requests in flight
  (the process's descriptor limit is usually 1,024).

WeChat sends a whole request at once and waits 5 seconds for the answer, so neither limit ever
touches it. ``configure`` sets both for the process; a worker of ``serve --workers`` sets them
from its config when it builds its app (``bot.app.app_from_env``).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
              b"content-length: 26\r\nconnection: close\r\n\r\nrequest not read in time\r\n")
_TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
             b"content-length: 22\r\nconnection: close\r\n\r\ntoo many connections\r\n")


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read timeout and a cap on open connections."""

    read_timeout: float = 5.0
    max_connections: int = 800
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(_TOO_MANY)
            transport.close()
            return
        self._start_read_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:  # the next request of a kept-alive connection
            self._start_read_timer()

    def on_message_complete(self) -> None:
        self._stop_read_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_timer()
        super().connection_lost(exc)

    def _start_read_timer(self) -> None:
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            # nothing of this request reached the app yet: it may be told why
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def configure(read_timeout: float, max_connections: int) -> None:
    """Set both limits for the servers this process runs."""
    TimedHttpProtocol.read_timeout = read_timeout
    TimedHttpProtocol.max_connections = max_connections
