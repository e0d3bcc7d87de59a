"""What ``#链接`` (store.webfetch) refuses to fetch and how much a page may cost: addresses that
are not globally routable, a name that answers differently when connecting, proxy settings of
the environment, and compressed answers that inflate beyond any article page.

Every fetch here goes to a loopback server. A test of the address guard stubs the resolver and
makes any other connection fail loudly, so a broken guard cannot reach anything.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import socket
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.config import Config, load_config
from store import articles
from store.webfetch import FetchError, fetch_html, is_public_address
from tests.conftest import Bot, LiveServer, free_port, write_config
from tests.test_admin_link import ADMIN, WECHAT_PAGE, say


def _deep_zeros(size: int) -> bytes:
    """``size`` zero bytes, gzipped, without holding them: a stream of compressed blocks."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    out = [c.compress(block) for _ in range(size >> 20)]
    return b"".join(out) + c.flush()


@functools.cache
def the_bomb() -> bytes:
    """128 MB of zeros gzipped twice: about a kilobyte."""
    return gzip.compress(_deep_zeros(128 << 20), 9)


async def bomb(request: Request) -> Response:
    return Response(the_bomb(), media_type="text/html",
                    headers={"content-encoding": "gzip, gzip"})


async def squeezed(request: Request) -> Response:
    # an article page, gzipped as servers do
    return Response(gzip.compress(WECHAT_PAGE.encode()), media_type="text/html",
                    headers={"content-encoding": "gzip"})


async def flat_but_huge(request: Request) -> Response:
    # a page of one repeated paragraph: fits the size cap, but no article compresses 400-fold
    page = b"<html><body>" + b"<p>a</p>" * 200_000 + b"</body></html>"
    return Response(gzip.compress(page, 9), media_type="text/html",
                    headers={"content-encoding": "gzip"})


async def echo_host(request: Request) -> Response:
    return HTMLResponse(f"<html><body><p>host={request.headers.get('host')}</p></body></html>")


SITE = Starlette(routes=[
    Route("/bomb", bomb), Route("/squeezed", squeezed), Route("/flat", flat_but_huge),
    Route("/host", echo_host),
])


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LiveServer(SITE) as srv:
        yield srv.url


@pytest.fixture
def config(tmp_path: Path) -> Config:
    extra = (f'[admin]\nopenids = ["{ADMIN}"]\nfetch_timeout = 5.0\n'
             "fetch_max_bytes = 2000000\nfetch_private = true\n[server]\nreply_budget = 30.0\n")
    return load_config(write_config(tmp_path, extra), env={})


@pytest.fixture
def no_outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any connection the fetcher tries fails at once (and is recorded)."""
    tried: list[object] = []

    def refuse(address: object, *args: object, **kwargs: object) -> socket.socket:
        tried.append(address)
        raise OSError("connections are refused in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


# -- compressed answers -----------------------------------------------------------------------
def test_a_gzip_bomb_is_refused_under_a_fixed_memory_ceiling(
    bot: Bot, services, site: str  # type: ignore[no-untyped-def]
) -> None:
    assert len(the_bomb()) < 4096
    tracemalloc.start()
    try:
        reply = say(bot, f"#链接 {site}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "压缩" in reply and articles.count(services.store) == 0, reply
    # the cap on the page (2 MB) and a step of inflating, not the bomb's 128 MB
    assert peak < 24 << 20, peak


def test_a_gzipped_article_page_is_imported(bot: Bot, services, site: str) -> None:  # type: ignore[no-untyped-def]
    reply = say(bot, f"#链接 {site}/squeezed")
    assert reply.startswith("已添加 #1《金水区楼院党小组让“小事”有人管》"), reply


def test_a_compression_ratio_no_page_has_is_refused(site: str) -> None:
    with pytest.raises(FetchError, match="压缩比异常"):
        fetch_html(f"{site}/flat", allow_private=True, max_bytes=2_000_000)


def test_the_size_cap_counts_inflated_bytes(site: str) -> None:
    with pytest.raises(FetchError, match="网页太大"):
        fetch_html(f"{site}/squeezed", allow_private=True, max_bytes=2000)


# -- addresses ----------------------------------------------------------------------------------
NOT_GLOBAL = [
    "100.64.0.1",  # carrier-grade NAT (a cloud metadata address lives there)
    "100.100.100.200",
    "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "::1", "fd00::1", "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:100.64.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize("address", NOT_GLOBAL)
def test_addresses_that_are_not_global_are_refused(
    address: str, no_outside_connections: list[object]
) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    with pytest.raises(FetchError, match="不抓取内网或本机地址"):
        fetch_html("http://news.example/a", resolve=lambda host, port: [address])
    assert no_outside_connections == []


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808",
                                     "::ffff:8.8.8.8"])
def test_global_addresses_pass_the_check(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_a_name_with_one_private_answer_among_public_ones_is_refused(
    no_outside_connections: list[object],
) -> None:
    with pytest.raises(FetchError, match="不抓取内网或本机地址"):
        fetch_html("http://news.example/a", resolve=lambda host, port: ["8.8.8.8", "100.64.0.1"])
    assert no_outside_connections == []


def test_a_carrier_grade_nat_address_is_refused_over_the_webhook(
    bot: Bot, services, tmp_path: Path, no_outside_connections: list[object]  # type: ignore[no-untyped-def]
) -> None:
    services.config.values["admin"]["fetch_private"] = False
    reply = say(bot, "#链接 http://100.100.100.200/latest/meta-data/")
    assert "不抓取内网或本机地址" in reply, reply
    assert no_outside_connections == [] and articles.count(services.store) == 0


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_reached(
    site: str,
) -> None:
    port = site.rsplit(":", 1)[1]
    answers = iter(["127.0.0.1", "127.0.0.2"])  # a second answer would reach nothing here
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return [next(answers)]

    got = fetch_html(f"http://news.example:{port}/host", allow_private=True, resolve=rebinding)
    assert asked == ["news.example"]
    assert f"host=news.example:{port}" in got.html  # the name travels in the Host header
    assert got.url == f"http://news.example:{port}/host"


def test_proxy_settings_of_the_environment_are_ignored(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    got = fetch_html(f"{site}/host", allow_private=True)
    assert "host=127.0.0.1" in got.html
