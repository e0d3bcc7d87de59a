"""``#链接 URL`` against pages served by a local HTTP server: a WeChat-style article page, a
news-site page (GBK, declared only in a <meta>), and the ways a fetch goes wrong."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.app import Services
from bot.config import Config, load_config
from store import articles
from store.audit import entries
from store.webfetch import FetchError, fetch_html
from tests.conftest import Bot, LiveServer, free_port, write_config

ADMIN = "o_admin_editor"
READER = "o_reader_1"

WECHAT_PAGE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1.0">
<meta property="og:title" content="金水区楼院党小组让“小事”有人管">
<meta property="og:type" content="article">
<title>金水区楼院党小组让“小事”有人管</title>
<link rel="stylesheet" href="/mmbizwap/zh_CN/htmledition/style/page.css">
</head>
<body id="activity-detail" class="zh_CN wx_wap_page">
<div id="js_article" class="rich_media">
 <div class="rich_media_inner">
  <div id="page-content" class="rich_media_area_primary">
   <div class="rich_media_area_primary_inner">
    <h1 class="rich_media_title" id="activity-name">
      金水区楼院党小组让“小事”有人管
    </h1>
    <div id="meta_content" class="rich_media_meta_list">
     <span class="rich_media_meta rich_media_meta_text">文/社区通讯员</span>
     <span class="rich_media_meta rich_media_meta_nickname" id="profileBt">
       <a href="javascript:void(0);" id="js_name">金水社区在线</a></span>
     <em id="publish_time" class="rich_media_meta rich_media_meta_text">2024-06-21 18:30</em>
    </div>
    <div class="rich_media_content js_underline_content" id="js_content" style="visibility: hidden;">
     <section style="margin: 0 8px;">
      <p style="text-align: justify;"><span style="font-size: 15px;">楼道灯坏了、下水道堵了、车棚里的电动车乱停乱放，这些过去没人牵头的“小事”，如今在金水区的老旧楼院里都有了着落。今年以来，街道在每个楼院成立党小组，由退休党员担任小组长，把居民的烦心事一件件办在家门口。</span></p>
      <p style="text-align: justify;"><span style="font-size: 15px;">家住三号院的刘阿姨说，以前报修要跑好几趟，现在在楼院群里说一声，党小组长当天就上门登记，物业第二天就来维修。楼院党小组还定期召开议事会，大家一起商量加装充电桩、清理杂物的办法。</span></p>
      <p style="text-align: justify;"><span style="font-size: 15px;">街道党工委负责人介绍，下一步将把楼院党小组的做法推广到辖区全部老旧小区，并为小组长开展业务培训，让党组织的作用延伸到居民身边的每一个角落。</span></p>
      <p style="text-align: center;"><img data-src="https://example.invalid/photo.jpg" class="rich_pages wxw-img"></p>
     </section>
    </div>
    <div class="rich_media_tool_area"><div class="rich_media_tool" id="js_toobar3">
     <a id="js_view_source" href="##" style="display:none;">阅读原文</a>
     <div id="js_read_area3" class="media_tool_meta" style="display:none;">阅读 <span id="readNum3"></span></div>
    </div></div>
   </div>
  </div>
 </div>
</div>
<script type="text/javascript">var msg_title = '金水区楼院党小组让“小事”有人管'; var ct = "1718965800";</script>
</body></html>
"""

NEWS_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>社区食堂开到家门口 老人吃饭不再愁_本地新闻_城市新闻网</title>
</head>
<body>
<div class="topbar"><a href="/">首页</a> | <a href="/news/">新闻</a> | <a href="/gov/">政务</a> | <a href="/life/">生活</a> | <a href="/login">登录</a></div>
<div class="nav"><ul><li><a href="/">首页</a></li><li><a href="/local/">本地</a></li><li><a href="/china/">国内</a></li><li><a href="/video/">视频</a></li></ul></div>
<div class="crumbs">您的位置：<a href="/">首页</a> &gt; <a href="/local/">本地新闻</a> &gt; 正文</div>
<div class="main">
 <div class="article">
  <h1>社区食堂开到家门口 老人吃饭不再愁</h1>
  <div class="info">2024-06-20 09:12　来源：城市日报　作者：本报记者　责任编辑：值班编辑</div>
  <div class="content" id="article-content">
   <p>　　“一荤两素一汤，只要十块钱，离家走路五分钟。”中午十一点半，在建设路街道幸福社区的长者食堂里，七十六岁的王大爷端着餐盘，找了个靠窗的位置坐下。</p>
   <p>　　幸福社区六十岁以上的老人占常住人口的三成多，不少老人子女不在身边，做饭成了难题。社区党委牵头，利用闲置的活动用房改建食堂，引入专业餐饮企业运营，八十岁以上老人和困难老人还能享受就餐补贴。</p>
   <p>　　食堂开业三个月来，日均就餐超过两百人次。社区还组织志愿者为行动不便的老人送餐上门，并在食堂设置意见簿，根据老人们的口味调整菜单，少油少盐、软烂易嚼。</p>
   <p>　　街道负责人表示，今年将在辖区再建两处社区食堂，让更多老人在家门口吃上热乎饭。</p>
  </div>
  <div class="share">分享到：微信 微博 QQ空间</div>
  <div class="editor">【责任编辑：值班编辑】</div>
 </div>
 <div class="side"><h3>热点推荐</h3><ul><li><a href="/a/1.html">夏季防汛工作部署会召开</a></li><li><a href="/a/2.html">城市书房延长开放时间</a></li><li><a href="/a/3.html">地铁新线路开通试运营</a></li></ul></div>
</div>
<div class="footer">版权所有 城市新闻网　未经授权禁止转载　备案号：示例ICP备00000000号</div>
</body></html>
"""


async def wechat_article(request: Request) -> Response:
    return HTMLResponse(WECHAT_PAGE)


async def news_article(request: Request) -> Response:
    # GBK bytes, the charset only in the page's <meta>: as many older news sites serve them
    return Response(NEWS_PAGE.encode("gb18030"), media_type="text/html")


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
    return HTMLResponse(WECHAT_PAGE)


async def dribble(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"<!DOCTYPE html><html><body>"
        for _ in range(30):  # every chunk is quick; the whole takes far too long
            await asyncio.sleep(0.1)
            yield b"<p>" + "慢".encode() * 50 + b"</p>"
        yield b"</body></html>"

    return StreamingResponse(body(), media_type="text/html")


async def pdf(request: Request) -> Response:
    return Response(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
                    media_type="application/pdf")


async def big(request: Request) -> Response:
    return HTMLResponse("<html><body>" + "<p>很长的网页。</p>" * 20000 + "</body></html>")


async def moved(request: Request) -> Response:
    return RedirectResponse("/s/wechat-article", status_code=302)


async def loop_redirect(request: Request) -> Response:
    return RedirectResponse("/loop", status_code=302)


async def missing(request: Request) -> Response:
    return HTMLResponse("<html><body>not here</body></html>", status_code=404)


async def no_article(request: Request) -> Response:
    return HTMLResponse("<html><head><title>登录</title></head><body><form>"
                        "<input name=u><input name=p type=password></form></body></html>")


SITE = Starlette(routes=[
    Route("/s/wechat-article", wechat_article),
    Route("/local/2024/0620/community-canteen.html", news_article),
    Route("/slow", slow),
    Route("/dribble", dribble),
    Route("/report.pdf", pdf),
    Route("/big", big),
    Route("/moved", moved),
    Route("/loop", loop_redirect),
    Route("/missing", missing),
    Route("/login", no_article),
])


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LiveServer(SITE) as srv:
        yield srv.url


@pytest.fixture
def config(tmp_path: Path) -> Config:
    extra = (f'[admin]\nopenids = ["{ADMIN}"]\nfetch_timeout = 1.0\n'
             "fetch_max_bytes = 200000\nfetch_private = true\n[server]\nreply_budget = 30.0\n")
    return load_config(write_config(tmp_path, extra), env={})


def say(bot: Bot, text: str, user: str = ADMIN) -> str:
    r = bot.send(text, user=user)
    assert r.status == 200 and r.kind == "text", r.raw
    return r.text


# -- happy paths ---------------------------------------------------------------------------------
def test_link_imports_a_wechat_article_page(bot: Bot, services: Services, site: str) -> None:
    url = f"{site}/s/wechat-article"
    reply = say(bot, f"#链接 {url}")
    assert reply.startswith("已添加 #1《金水区楼院党小组让“小事”有人管》"), reply
    a = articles.get(services.store, 1)
    assert a.url == url and a.published == "2024-06-21"
    text = "\n".join(a.body)
    assert "楼道灯坏了" in text and "角落" in text
    assert "阅读原文" not in text and "msg_title" not in text
    (e,) = entries(services.store)
    assert (e.admin, e.action, e.article_id) == (ADMIN, "link", 1)
    assert e.after["url"] == url
    # the same URL again changes nothing
    assert "未做改动" in say(bot, f"#链接 {url}")
    assert articles.count(services.store) == 1


def test_link_imports_a_news_site_page_in_gbk(bot: Bot, services: Services, site: str) -> None:
    url = f"{site}/local/2024/0620/community-canteen.html"
    reply = say(bot, f"#url {url}")
    assert reply.startswith("已添加 #1《社区食堂开到家门口 老人吃饭不再愁》"), reply
    a = articles.get(services.store, 1)
    text = "\n".join(a.body)
    assert "长者食堂" in text and "热乎饭" in text
    for chrome in ("热点推荐", "版权所有", "您的位置", "分享到"):
        assert chrome not in text
    assert "社区" in a.effective_categories and a.url == url


def test_link_follows_a_short_redirect(bot: Bot, services: Services, site: str) -> None:
    reply = say(bot, f"#链接 {site}/moved")
    assert reply.startswith("已添加 #1"), reply
    assert articles.get(services.store, 1).url == f"{site}/s/wechat-article"


# -- what goes wrong ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/slow", "1 秒内没有响应"),
        ("/dribble", "1 秒内没有响应"),
        ("/report.pdf", "该链接是PDF 文件，不是网页"),
        ("/big", "网页太大"),
        ("/loop", "跳转次数过多"),
        ("/missing", "HTTP 404"),
        ("/login", "没能从该网页提取出文章正文"),
    ],
)
def test_link_failures_are_clear_and_change_nothing(
    bot: Bot, services: Services, site: str, path: str, expected: str
) -> None:
    reply = say(bot, f"#链接 {site}{path}")
    assert expected in reply, reply
    assert articles.count(services.store) == 0 and entries(services.store) == []


def test_link_to_an_unreachable_host(bot: Bot, services: Services) -> None:
    reply = say(bot, f"#链接 http://127.0.0.1:{free_port()}/article")
    assert reply.startswith("无法连接到 127.0.0.1"), reply
    assert articles.count(services.store) == 0


def test_link_needs_a_web_address(bot: Bot, services: Services) -> None:
    assert "请给出网址" in say(bot, "#链接")
    assert "只支持 http:// 或 https://" in say(bot, "#链接 ftp://example.invalid/a.html")
    assert "只支持 http:// 或 https://" in say(bot, "#链接 金水区楼院")
    assert articles.count(services.store) == 0


def test_a_non_admin_link_is_a_search_and_fetches_nothing(
    bot: Bot, services: Services, site: str
) -> None:
    reply = say(bot, f"#链接 {site}/s/wechat-article", user=READER)
    assert "已添加" not in reply and articles.count(services.store) == 0


# -- the operator's import ---------------------------------------------------------------------
def test_cli_import_takes_web_addresses_as_link_does(
    config: Config, services: Services, site: str
) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    cfg = str(config.path)
    out = CliRunner().invoke(main, ["--config", cfg, "import", f"{site}/s/wechat-article"])
    assert out.exit_code == 0, out.output
    assert "1 stories added" in out.output
    (a,) = articles.every(services.store)
    assert a.title == "金水区楼院党小组让“小事”有人管" and a.url == f"{site}/s/wechat-article"
    # a file instead of a page: said (no #添加 hint here), the rest still imported, exit 1
    out = CliRunner().invoke(main, ["--config", cfg, "import", f"{site}/report.pdf",
                                    f"{site}/local/2024/0620/community-canteen.html"])
    assert out.exit_code == 1
    assert f"{site}/report.pdf: 该链接是PDF 文件，不是网页，无法提取文章。" in out.output
    assert "#添加" not in out.output and "1 stories added" in out.output
    assert articles.count(services.store) == 2
    out = CliRunner().invoke(main, ["--config", cfg, "import", "ftp://example.org/page.html"])
    assert out.exit_code == 1
    assert "ftp://example.org/page.html: only http:// and https:// addresses" in out.output


# -- the fetcher on its own -----------------------------------------------------------------------
def test_loopback_and_private_addresses_are_refused_by_default(site: str) -> None:
    for url in (f"{site}/s/wechat-article", "http://localhost:9/", "http://10.1.2.3/a",
                "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(FetchError, match="不抓取内网或本机地址"):
            fetch_html(url)


def test_a_redirect_into_a_private_address_is_refused() -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://127.0.0.1:8080/admin"})

    with pytest.raises(FetchError, match="不抓取内网或本机地址"):
        fetch_html("http://93.184.216.34/article", transport=httpx.MockTransport(handler))


def test_fetch_reports_what_it_got(site: str) -> None:
    got = fetch_html(f"{site}/local/2024/0620/community-canteen.html", allow_private=True)
    assert got.content_type == "text/html" and "社区食堂开到家门口" in got.html
    assert got.size == len(NEWS_PAGE.encode("gb18030"))
