"""Article pages over HTTP: content, escaping, 404s, and the page as a phone shows it in a real
headless Chromium (driven over the DevTools protocol on a loopback port)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.app import Services, create_app
from store import articles
from store.articles import Article
from store.ingest import import_text
from tests.conftest import PAGE_SETS, LiveServer, page_set

STORY = Article(
    title="“小巷管家”守护老街坊的幸福生活",
    subtitle="青石街道探索党建引领基层治理新路径",
    kicker="基层治理",
    authors=["本报记者 林晓", "通讯员 周可"],
    body=[
        "清晨七点，青石街道柳荫社区的“小巷管家”陈大姐已经走完了第一圈。"
        "她负责的三条小巷住着两百多户居民，谁家老人独居、谁家水管老化，她心里都有一本账。",
        "去年以来，街道党工委把党支部建在网格上，每个网格配一名党员“小巷管家”，"
        "居民的小事在巷子里就能解决。",
        "“以前有事不知道找谁，现在出门就能碰到管家。”居民老李说。",
    ],
    captions=["“小巷管家”陈大姐（右）走访独居老人。 本报记者 林晓 摄"],
    categories=["党建", "社区"],
    source="测试晚报 2024年6月21日 第5版",
    published="2024-06-21",
)


@pytest.fixture
def story_id(services: Services) -> int:
    aid, _ = articles.save(services.store, STORY)
    return aid


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as c:
        yield c


def test_page_shows_the_whole_story(client: TestClient, story_id: int) -> None:
    r = client.get(f"/articles/{story_id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<title>“小巷管家”守护老街坊的幸福生活 - 党建社区新闻</title>" in html
    for part in (STORY.title, STORY.subtitle, STORY.kicker, "本报记者 林晓", "通讯员 周可",
                 "2024年6月21日", "图片说明", STORY.captions[0], "测试晚报"):
        assert part in html, part
    for para in STORY.body:
        assert f"<p>{para}</p>" in html
    assert html.index(STORY.body[0]) < html.index(STORY.body[1]) < html.index(STORY.body[2])
    assert 'class="tag">党建' in html and 'class="tag">社区' in html


def test_page_escapes_everything_from_the_store(client: TestClient, services: Services) -> None:
    aid, _ = articles.save(services.store, Article(
        title="<script>alert(1)</script>标题",
        body=['正文 <img src=x onerror="alert(2)"> & 更多', "第二段 </p><h1>假标题</h1>"],
        authors=["记者 <b>某</b>"],
        captions=["图 <i>说明</i>"],
        source='晚报"><script>',
        picurl='https://img.example/a.jpg"><script>alert(3)</script>',
    ))
    html = client.get(f"/articles/{aid}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;标题" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; 更多" in html
    assert "<h1>假标题</h1>" not in html
    assert "<b>某</b>" not in html and "<i>说明</i>" not in html
    assert '"><script>' not in html
    assert "<script>alert(3)" not in html and "a.jpg&quot;&gt;&lt;script&gt;" in html
    with pytest.raises(articles.BadAddress):  # the store takes no other kind of address
        articles.save(services.store, Article(title="封面", body=["正文。"],
                                              picurl="javascript:alert(3)"))


@pytest.mark.parametrize("raw", ["999999", "0", "abc", "12abc", "-1", "1.5", "%3Cscript%3E",
                                 "9" * 40])
def test_unknown_or_malformed_id_is_a_404_page(client: TestClient, story_id: int, raw: str) -> None:
    r = client.get(f"/articles/{raw}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "页面不存在" in r.text and "<html" in r.text and "党建社区新闻" in r.text
    assert "<script" not in r.text


def test_site_name_comes_from_the_config(tmp_path: Path, make_bot) -> None:  # type: ignore[no-untyped-def]
    from bot.app import build_services
    from bot.config import load_config
    from tests.conftest import write_config

    cfg = load_config(write_config(tmp_path, '[pages]\nsite_name = "金水<新闻>"\n'), env={})
    s = build_services(cfg)
    aid, _ = articles.save(s.store, STORY)
    with TestClient(create_app(s)) as c:
        html = c.get(f"/articles/{aid}").text
    assert "金水&lt;新闻&gt;" in html and "金水<新闻>" not in html
    s.close()


# -- the page in a real browser at a phone's width -----------------------------------------------
PHONE_W, PHONE_H = 390, 844
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", f"--window-size={PHONE_W},{PHONE_H}", "--remote-debugging-port=0",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    return path


class CDP:
    """The least of the DevTools protocol: one page session over the browser's websocket."""

    def __init__(self, ws: Any, session: str) -> None:
        self.ws, self.session, self.next_id = ws, session, 0

    def call(self, method: str, timeout: float = 20, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params,
                                 "sessionId": self.session}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def wait_event(self, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("method") == name:
                return


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes]) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("chromium did not open its DevTools port")


def _png_pixels(png: bytes, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB pixels (3 bytes each) of the first ``max_rows`` rows of an
    8-bit, non-interlaced PNG, which is what Chromium writes."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(min(h, max_rows)):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, [r[i:i + 3] for r in rows for i in range(0, len(r), bpp)]


VISIBILITY_JS = """
(() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 10));
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            height: r.height, visible: s.visibility === 'visible' && s.display !== 'none'
            && parseFloat(s.opacity) > 0, on_top: !!hit && (hit === el || el.contains(hit)),
            font: parseFloat(s.fontSize), text: el.textContent};
  };
  return JSON.stringify({
    viewport: window.innerWidth, scroll_width: document.documentElement.scrollWidth,
    title: box(document.querySelector('h1')),
    para: box(document.querySelector('.body p')),
  });
})()
"""


@pytest.fixture
def page_in_chromium(services: Services, story_id: int, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from websockets.sync.client import connect

    exe = _chromium()
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    with LiveServer(create_app(services)) as srv:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with connect(_devtools_url(profile, proc), max_size=None, open_timeout=20) as ws:
                ws.send(json.dumps({"id": 1, "method": "Target.createTarget",
                                    "params": {"url": "about:blank"}}))
                target = json.loads(ws.recv(timeout=20))["result"]["targetId"]
                ws.send(json.dumps({"id": 2, "method": "Target.attachToTarget",
                                    "params": {"targetId": target, "flatten": True}}))
                while True:
                    msg = json.loads(ws.recv(timeout=20))
                    if msg.get("id") == 2:
                        break
                cdp = CDP(ws, msg["result"]["sessionId"])
                cdp.call("Emulation.setDeviceMetricsOverride", width=PHONE_W, height=PHONE_H,
                         deviceScaleFactor=1, mobile=True)
                cdp.call("Page.enable")
                cdp.call("Page.navigate", url=f"{srv.url}/articles/{story_id}")
                cdp.wait_event("Page.loadEventFired")
                result = cdp.call("Runtime.evaluate", expression=VISIBILITY_JS, returnByValue=True)
                layout = json.loads(result["result"]["value"])
                shot = cdp.call("Page.captureScreenshot", format="png")
                png = base64.b64decode(shot["data"])
                (tmp_path / "article-390.png").write_bytes(png)
                yield {"layout": layout, "png": png, "path": tmp_path / "article-390.png"}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_title_and_first_paragraph_are_visible_on_a_phone(page_in_chromium: dict) -> None:  # type: ignore[type-arg]
    layout = page_in_chromium["layout"]
    assert layout["viewport"] == PHONE_W
    assert layout["scroll_width"] <= PHONE_W  # nothing forces sideways scrolling
    for name in ("title", "para"):
        el = layout[name]
        assert el["visible"] and el["on_top"], name
        assert el["width"] > 0 and el["height"] > 0, name
        assert el["left"] >= 0 and el["right"] <= PHONE_W, name
        assert el["top"] >= 0 and el["bottom"] <= PHONE_H, name  # on the first screen
        assert el["font"] >= 15, name  # readable without zooming
    assert layout["title"]["text"] == STORY.title
    assert layout["para"]["text"] == STORY.body[0]
    assert layout["title"]["bottom"] <= layout["para"]["top"]

    # and the pixels agree: a red masthead, then text drawn where the title and lead are
    w, h, top = _png_pixels(page_in_chromium["png"], max_rows=360)
    assert (w, h) == (PHONE_W, PHONE_H)
    masthead = top[: w * 30]
    red = sum(1 for p in masthead if p[0] > 150 and p[1] < 80 and p[2] < 80)
    assert red > len(masthead) * 0.5
    lo, hi = int(layout["title"]["top"]), min(360, int(layout["para"]["bottom"]))
    text_area = top[w * lo: w * hi]
    # ink: glyph strokes, or the boxes drawn for them where a machine lacks CJK fonts
    ink = sum(1 for p in text_area if p[0] + p[1] + p[2] < 450)
    assert ink > len(text_area) * 0.01


def test_section_heads_and_no_date_when_none_was_printed(client: TestClient, services: Services) -> None:
    aid, _ = articles.save(services.store, Article(
        title="网格里的烟火气",
        body=["社区把网格划小，每个网格一名党员牵头。", "他的初心和使命", "居民有事，网格员上门。"],
    ))
    html = client.get(f"/articles/{aid}").text
    assert '<h2 class="section">他的初心和使命</h2>' in html
    assert "<p>社区把网格划小，每个网格一名党员牵头。</p>" in html
    # no printed date: no date at all (the day it was filed here is not the story's date)
    assert "收录" not in html and 'class="m date"' not in html
    assert not re.search(r"\d{4}年\d{1,2}月\d{1,2}日", html)


@pytest.mark.parametrize("kind", PAGE_SETS)
def test_every_story_of_whole_pages_has_its_page(client: TestClient, services: Services,
                                                 kind: str) -> None:
    for page in page_set(kind):
        import_text(services.store, page.read_text(encoding="utf-8"), page.name)
    stories = articles.latest(services.store, 100)
    assert len(stories) >= 10
    for a in stories:
        r = client.get(f"/articles/{a.id}")
        assert r.status_code == 200, a.title
        assert f">{escape(a.title)}</h1>" in r.text
        for para in a.body:
            assert escape(para.strip()) in r.text
