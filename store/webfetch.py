"""Fetching an article page from the web: the HTML only (extraction is ``store.extract``).

Everything that can go wrong with someone else's server is bounded and named: one deadline for
the whole fetch (connect, redirects and body together, so a server dribbling bytes cannot hold a
reply past WeChat's 5 seconds), a size cap on the decoded page counted while it streams, a
short redirect chain, HTML only, and no fetching of addresses that are not globally routable
unless allowed (a chat command must not become a way to probe the server's own network).

The name is resolved once: the address that was checked is the one connected to (the name
kept for the Host header and for TLS), so a name that answers differently a moment later
cannot lead the fetch elsewhere. Proxy settings of the environment are ignored (a proxy would
connect to a name of its own resolving). Compressed pages are inflated here, a bounded piece at
a time, and a compression ratio no article page has is refused: a small answer cannot make the
worker inflate it into memory. Each failure is a :class:`FetchError` whose message can be shown
to the admin as it is.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

USER_AGENT = "Mozilla/5.0 (compatible; newsbot/0.1; +article import)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
REDIRECTS = (301, 302, 303, 307, 308)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030"}
# What a page may arrive compressed with; each layer is inflated here, bounded (see _Inflater).
ACCEPT_ENCODING = "gzip, deflate"
_ZLIB_OR_GZIP = 32 + zlib.MAX_WBITS  # zlib's header detection: gzip or zlib framing
_INFLATE_STEP = 64 * 1024  # bytes one layer may put out per call
# HTML compresses a few times over, markup-heavy pages some tens of times; beyond this ratio
# (once the page is past _RATIO_FROM bytes) the answer is a bomb, not an article.
MAX_RATIO = 100
_RATIO_FROM = 256 * 1024
# NAT64's well-known prefix: the IPv4 address it reaches is in the last 32 bits
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], list[str]]


def is_web_address(text: str) -> bool:
    """Whether ``text`` starts as an address this module fetches (http:// or https://, any
    case); what follows is checked when it is fetched."""
    return text[:8].lower().startswith(("http://", "https://"))


class FetchError(Exception):
    """The page could not be fetched as an article; ``str(e)`` says why, for the admin or the
    operator. ``paste``: the address answered (a PDF, a picture, a page without article text),
    so pasting the story's text is the way to add it."""

    def __init__(self, message: str, paste: bool = False) -> None:
        super().__init__(message)
        self.paste = paste


@dataclass
class Fetched:
    url: str  # after redirects
    html: str
    content_type: str
    status: int
    size: int  # bytes received
    data: bytes = b""  # the body as received, for a picture (fetch_image)


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is globally routable, judging an IPv4 address carried inside an IPv6 one
    (IPv4-mapped, NAT64, 6to4) by that IPv4 address, which ``is_global`` does not look at."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return is_public_address(inner)
    return ip.is_global


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host``, as the system resolves them."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """Where a fetch goes: the name it was asked for and the address checked for it."""

    host: str
    address: str

    def url_for(self, url: str) -> str:
        """``url`` pointed at the checked address instead of the name."""
        parts = urlsplit(url)
        ip = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{ip}:{parts.port}" if parts.port else ip
        return urlunsplit(parts._replace(netloc=netloc))


def _check_target(url: str, allow_private: bool, resolve: Resolver) -> Target:
    """The name and checked address of ``url`` when it may be fetched; FetchError otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise FetchError("链接无效，请检查网址。") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("链接无效：只支持 http:// 或 https:// 开头的网址。")
    host = parts.hostname
    try:
        found = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = [ipaddress.ip_address(a.split("%")[0])
                     for a in resolve(host, port or (443 if parts.scheme == "https" else 80))]
        except (OSError, UnicodeError, ValueError):
            raise FetchError(f"无法连接到 {host}：域名无法解析，请检查链接。") from None
    if not found:
        raise FetchError(f"无法连接到 {host}：域名无法解析，请检查链接。")
    if not allow_private and not all(is_public_address(ip) for ip in found):
        raise FetchError(f"出于安全考虑，不抓取内网或本机地址（{host}）。")
    return Target(host, str(found[0]))


def _is_html(head: bytes) -> bool:
    """For a response without Content-Type: does it start like an HTML page?"""
    sniff = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1024].lower()
    return sniff.startswith(b"<") and (b"<html" in sniff or b"<!doctype html" in sniff)


def _not_a_page(content_type: str, head: bytes) -> FetchError:
    if content_type == "application/pdf" or head.startswith(b"%PDF"):
        kind = "PDF 文件"
    elif content_type.startswith("image/"):
        kind = "图片"
    else:
        kind = f"{content_type or '未知类型的'}文件"
    return FetchError(f"该链接是{kind}，不是网页，无法提取文章。", paste=True)


def decode_html(raw: bytes, header_charset: str | None) -> str:
    """Bytes to text: the header's charset, else the page's <meta>, else UTF-8, else GB18030."""
    candidates = []
    if header_charset:
        candidates.append(header_charset)
    m = _META_CHARSET.search(raw[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        name = _CHARSET_ALIASES.get(name.lower(), name.lower())
        try:
            return raw.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("gb18030", "replace")


def fetch_html(
    url: str,
    *,
    timeout: float = 3.0,
    max_bytes: int = 2_000_000,
    max_redirects: int = 3,
    allow_private: bool = False,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = system_resolver,
    image: bool = False,
) -> Fetched:
    """GET ``url`` and return its HTML within ``timeout`` seconds in all; FetchError otherwise.
    ``resolve`` answers a name's addresses (a test's stub; the system's by default).
    ``image``: a picture (IMAGE_TYPES) is wanted instead, returned in ``Fetched.data``."""
    url = url.strip()
    deadline = time.monotonic() + timeout
    with httpx.Client(
        follow_redirects=False, transport=transport, trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
    ) as client:
        for _hop in range(max_redirects + 1):
            target = _check_target(url, allow_private, resolve)
            try:
                return _get(client, url, target, deadline, timeout, max_bytes, image)
            except _Redirect as r:
                url = r.location
        raise FetchError(f"网页跳转次数过多（超过 {max_redirects} 次），无法导入。")


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _timed_out(timeout: float, host: str) -> FetchError:
    return FetchError(
        f"网页在 {timeout:g} 秒内没有响应（{host}），请稍后再试，或用 #添加 粘贴正文。"
    )


def _remaining(deadline: float, timeout: float, host: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(timeout, host)
    return left


def _too_big(max_bytes: int) -> FetchError:
    return FetchError(f"网页太大（超过 {max_bytes // 1000} KB），无法导入。")


class _Inflater:
    """The body as sent (``Content-Encoding``: identity, gzip or deflate, in layers) to the
    page, a bounded piece at a time: no layer puts out more than ``_INFLATE_STEP`` bytes per
    call, and the page stops at ``max_bytes`` or at a ratio no page has, whatever the
    compressed size."""

    def __init__(self, encodings: list[str], max_bytes: int) -> None:
        self.layers = []
        for name in reversed(encodings):  # the last applied is the first to undo
            if name in ("gzip", "x-gzip", "deflate"):
                self.layers.append(zlib.decompressobj(_ZLIB_OR_GZIP))
            elif name != "identity":
                raise FetchError(f"网页的压缩格式（{name}）不受支持，无法导入。")
        self.max_bytes = max_bytes
        self.received = 0
        self.chunks: list[bytes] = []
        self.size = 0

    def feed(self, raw: bytes) -> None:
        self.received += len(raw)
        self._through(0, raw)

    def _through(self, depth: int, data: bytes) -> None:
        if depth == len(self.layers):
            self._keep(data)
            return
        layer = self.layers[depth]
        while True:
            try:
                out = layer.decompress(data, _INFLATE_STEP)
            except zlib.error:
                raise FetchError("网页的压缩数据已损坏，无法导入。") from None
            data = layer.unconsumed_tail
            if out:
                self._through(depth + 1, out)
            if not data and len(out) < _INFLATE_STEP:
                return

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise _too_big(self.max_bytes)
        if self.size > _RATIO_FROM and self.size > MAX_RATIO * max(self.received, 1):
            raise FetchError("网页的压缩比异常（疑似压缩炸弹），已拒绝导入。")
        self.chunks.append(data)

    def page(self) -> bytes:
        return b"".join(self.chunks)


def fetch_image(url: str, **limits: Any) -> Fetched:
    """GET the picture at ``url`` (JPEG, PNG, GIF or WebP) with fetch_html's limits."""
    return fetch_html(url, image=True, **limits)


def _get(
    client: httpx.Client, url: str, target: Target, deadline: float, timeout: float,
    max_bytes: int, image: bool = False,
) -> Fetched:
    host = target.host
    extensions = {"sni_hostname": host} if url[:6].lower() == "https:" else {}
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    try:
        with client.stream(
            "GET", target.url_for(url), headers={"Host": netloc}, extensions=extensions,
            timeout=_remaining(deadline, timeout, host),
        ) as resp:
            if resp.status_code in REDIRECTS and resp.headers.get("location"):
                raise _Redirect(urljoin(url, resp.headers["location"]))
            if resp.status_code >= 400:
                raise FetchError(f"网页返回错误 HTTP {resp.status_code}（{host}），无法导入。")
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if image and ctype not in IMAGE_TYPES:
                raise FetchError(f"该链接不是图片（{ctype or '未知类型'}），请发送 JPEG、PNG 或 GIF 图片。")
            if ctype and ctype not in HTML_TYPES and not image:
                raise _not_a_page(ctype, b"")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_big(max_bytes)
            encodings = [e.strip().lower() for e in
                         resp.headers.get("content-encoding", "").split(",") if e.strip()]
            body = _Inflater(encodings, max_bytes)
            for chunk in resp.iter_raw():
                body.feed(chunk)
                _remaining(deadline, timeout, host)
            raw = body.page()
            if image:
                if not raw:
                    raise FetchError(f"图片内容为空（{host}）。")
                return Fetched(url, "", ctype, resp.status_code, body.size, raw)
            if not ctype and not _is_html(raw[:1024]):
                raise _not_a_page(ctype, raw[:8])
            if not raw.strip():
                raise FetchError(f"网页内容为空（{host}）。")
            return Fetched(url, decode_html(raw, resp.charset_encoding), ctype,
                           resp.status_code, body.received)
    except httpx.TimeoutException:
        raise _timed_out(timeout, host) from None
    except httpx.ConnectError:
        raise FetchError(f"无法连接到 {host}：网站不可达或地址有误。") from None
    except httpx.InvalidURL:
        raise FetchError("链接无效，请检查网址。") from None
    except httpx.HTTPError as e:
        raise FetchError(f"抓取网页失败（{host}）：{type(e).__name__}。") from None
