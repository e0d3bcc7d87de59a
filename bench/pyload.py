"""A small keep-alive HTTP load generator, used when ``wrk`` is not installed.

Run as its own process (``python3 -m bench.pyload SPEC.json``) so it never shares the server's
interpreter. It replays the same material as ``bench/replay.lua`` and prints the same
``RESULT {...}`` line. It is slower than wrk: the ceiling row says whether it held up.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _plain_requests(spec: dict, host: str) -> Iterator[bytes]:
    words = [w for w in Path(spec["source"]).read_text(encoding="utf-8").splitlines() if w]
    # one signed path per message (see bench/replay.lua)
    paths = [p for p in Path(spec["path"]).read_text(encoding="utf-8").splitlines() if p]
    ts = paths[0].split("timestamp=")[1].split("&")[0]
    n = spec.get("base", 0)
    while True:
        n += 1
        path = paths[(n - spec.get("base", 0) - 1) % len(paths)]
        body = (
            "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
            f"<FromUserName><![CDATA[o_bench_{n % 997}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{words[n % len(words)]}]]></Content>"
            f"<MsgId>{n}</MsgId></xml>"
        ).encode()
        yield _format(path, body, host)


def _file_requests(spec: dict, host: str) -> Iterator[bytes]:
    reqs = []
    for line in Path(spec["source"]).read_text(encoding="utf-8").splitlines():
        path, body = line.split("\t", 1)
        reqs.append(_format(path, body.encode(), host))
    while True:
        yield from reqs


def _format(path: str, body: bytes, host: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _worker(host: str, port: int, reqs: Iterator[bytes], expect: bytes, deadline: float,
                  lat: list[float], tally: dict[str, int]) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally["socket_errors"] += 1
                await asyncio.sleep(0.01)
                continue
        t0 = time.perf_counter()
        try:
            writer.write(next(reqs))
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            tally["socket_errors"] += 1
            writer.close()
            writer = None
            continue
        lat.append(time.perf_counter() - t0)
        ok = head.startswith(b"HTTP/1.1 200") and expect in body
        tally["good" if ok else "bad"] += 1
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _run(spec: dict) -> dict:
    host, port = spec["host"], spec["port"]
    make = _plain_requests if spec["mode"] == "plain" else _file_requests
    reqs = make(spec, f"{host}:{port}")
    lat: list[float] = []
    tally = {"good": 0, "bad": 0, "socket_errors": 0}
    started = time.perf_counter()
    deadline = started + spec["duration"]
    await asyncio.gather(*(
        _worker(host, port, reqs, spec["expect"].encode(), deadline, lat, tally)
        for _ in range(spec["connections"])
    ))
    elapsed = time.perf_counter() - started
    lat.sort()

    def pct(p: float) -> int:
        return int(lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e6) if lat else 0

    return {
        "requests": len(lat), "duration_us": int(elapsed * 1e6), "wrapped": 0,
        "status_errors": tally["bad"], "p50_us": pct(50), "p90_us": pct(90), "p99_us": pct(99),
        "max_us": int(lat[-1] * 1e6) if lat else 0, **tally,
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print("RESULT " + json.dumps(asyncio.run(_run(spec))), flush=True)


if __name__ == "__main__":
    main()
