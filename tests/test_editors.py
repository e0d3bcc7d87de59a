"""Editors' work through the account (signed XML in, reply out) and the command line: edits
survive imports, junk pages are refused, bylines become authors, every field can be fixed, a
cover comes from an image message, times are local, #统计 agrees with digest status, and only
http(s) addresses are stored. Pages and pictures are served by a loopback server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.app import Services
from bot.cli import main
from bot.config import Config, load_config
from store import articles
from store.audit import entries
from tests.conftest import Bot, LiveServer, write_config

ADMIN = "o_admin_editor"
READER = "o_reader_1"
SAMPLES = Path(__file__).resolve().parent.parent / "store" / "data" / "samples"
PROFILES = SAMPLES / "02_liuwan_profiles.txt"

BYLINE_PAGE = """<html><head><title>社区书记的一天</title></head><body><article>
<h1>社区书记的一天</h1>
<p>本报记者 王磊 通讯员 赵敏</p>
<p>早上七点，东关社区党委书记李红已经走进了桂花巷。她要赶在居民上班前，把加装电梯的意见征询表一户户送到。</p>
<p>巷子里的老住户都认识她，远远就打招呼。李红说，社区的事没有小事，居民的每一句话都要记下来、办到底。</p>
<p>今年以来，社区已经为十二栋老楼加装了电梯，还新建了两处口袋公园，居民的笑脸多了起来。</p>
</article></body></html>"""
JUNK_PAGE = ("<html><head><title>hi</title></head><body><article><h1>hi</h1>"
             "<p>敬请期待！页面正在建设中。</p></article></body></html>")
# The smallest PNG there is: one transparent pixel.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63fcffff3f0005fe02fea7d6a4e60000000049454e44ae426082"
)


async def byline_page(request: Request) -> Response:
    return HTMLResponse(BYLINE_PAGE)


async def junk_page(request: Request) -> Response:
    return HTMLResponse(JUNK_PAGE)


async def picture(request: Request) -> Response:
    return Response(PIXEL, media_type="image/png")


async def fake_picture(request: Request) -> Response:
    return Response(b"<html>not a picture</html>", media_type="image/png")


SITE = Starlette(routes=[
    Route("/news/secretary.html", byline_page),
    Route("/hi", junk_page),
    Route("/mmbiz/pic.png", picture),
    Route("/mmbiz/fake.png", fake_picture),
])


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LiveServer(SITE) as srv:
        yield srv.url


@pytest.fixture
def config(tmp_path: Path) -> Config:
    extra = (f'[admin]\nopenids = ["{ADMIN}"]\nfetch_timeout = 2.0\nfetch_private = true\n'
             '[server]\nreply_budget = 30.0\npublic_url = "https://news.example.org"\n')
    return load_config(write_config(tmp_path, extra), env={})


def say(bot: Bot, text: str, user: str = ADMIN) -> str:
    r = bot.send(text, user=user)
    assert r.status == 200, r.raw
    return r.text if r.kind == "text" else r.render()


def cli(services: Services, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(services.config.path), *args], input=input)


def import_page(services: Services, tmp_path: Path, text: str, *extra: str) -> Result:
    page = tmp_path / "liuwan-2024-07-02.txt"  # the same file name each time: the same page
    page.write_text(text, encoding="utf-8")
    return cli(services, "import", str(page), *extra)


def story(services: Services, aid: int) -> articles.Article:
    a = articles.get(services.store, aid)
    assert a is not None
    return a


# -- edits win over imports -------------------------------------------------------------------
def test_an_edit_survives_a_reimport_says_so_and_both_are_audited(
    bot: Bot, services: Services, tmp_path: Path
) -> None:
    page = PROFILES.read_text(encoding="utf-8")
    r = import_page(services, tmp_path, page)
    assert r.exit_code == 0 and "2 stories added" in r.output, r.output
    jia = next(a for a in articles.every(services.store) if a.title.startswith("贾明"))
    assert say(bot, f"#改标题 {jia.id} 贾明：群众的事就是自家的事").startswith("已修改")
    assert say(bot, f"#改 {jia.id} 作者 林晓岚、王磊").startswith("已修改")

    r = import_page(services, tmp_path, page)
    assert r.exit_code == 0, r.output
    assert "0 stories added, 0 updated, 2 skipped" in r.output
    assert "2 editor changes kept (--overwrite-edits replaces them)" in r.output
    kept = story(services, jia.id)
    assert kept.title == "贾明：群众的事就是自家的事" and kept.authors == ["林晓岚", "王磊"]
    assert articles.count(services.store) == 2

    log = entries(services.store)
    assert [e.action for e in log[:2]] == ["edit", "retitle"] and log[1].admin == ADMIN
    assert log[1].before["title"] == jia.title
    assert log[1].after["title"] == "贾明：群众的事就是自家的事"
    assert [e.action for e in log[2:]] == ["import", "import"]
    assert all(e.before is None and e.after["title"] for e in log[2:])

    r = import_page(services, tmp_path, page, "--overwrite-edits")
    assert r.exit_code == 0 and "1 updated" in r.output and "2 editor changes replaced" in r.output
    back = story(services, jia.id)
    assert back.title == jia.title and back.authors == jia.authors and back.edited == []
    last = entries(services.store)[0]
    assert last.action == "import_update" and last.admin.startswith("cli")
    assert last.before["title"] == "贾明：群众的事就是自家的事" and last.after["title"] == jia.title


def test_a_mended_title_updates_the_same_story_with_the_same_id(
    services: Services, tmp_path: Path
) -> None:
    page = PROFILES.read_text(encoding="utf-8")
    assert import_page(services, tmp_path, page).exit_code == 0
    ids = {a.title: a.id for a in articles.every(services.store)}
    # the importer (or the page) now reads the heading differently: the same story all the same
    mended = page.replace("贾明：把群众的事当成自家的事", "贾明：把群众的事当成自家事")
    assert mended != page
    r = import_page(services, tmp_path, mended)
    assert "0 stories added, 1 updated" in r.output, r.output
    after = {a.title: a.id for a in articles.every(services.store)}
    assert len(after) == 2 and after["贾明：把群众的事当成自家事"] == ids["贾明：把群众的事当成自家的事"]
    r = import_page(services, tmp_path, mended)
    assert "0 stories added, 0 updated, 2 skipped" in r.output


def test_two_stories_of_one_export_that_read_alike_stay_two(
    services: Services, tmp_path: Path
) -> None:
    # two notices of one series: the same wording but for the village and the day
    body = ("柳湾区各村社区本周开展议事会，网格员逐户收集居民对停车、照明和垃圾分类的意见，"
            "汇总后交村两委研究，并在公示栏公开办理结果。")
    rows = [{"title": f"{v}议事会收集居民意见", "source": "liuwan-notices",
             "body": [f"{v}{d}。" + body]} for v, d in (("东村", "周二"), ("西村", "周四"))]
    export = tmp_path / "notices.jsonl"
    export.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                      encoding="utf-8")
    r = cli(services, "import", str(export))
    assert r.exit_code == 0 and "2 stories added, 0 updated" in r.output, r.output
    assert sorted(a.title for a in articles.every(services.store)) == [
        "东村议事会收集居民意见", "西村议事会收集居民意见"]
    r = cli(services, "import", str(export))
    assert "0 stories added, 0 updated, 2 skipped" in r.output, r.output


# -- junk pages, bylines ----------------------------------------------------------------------
def test_a_page_without_an_article_is_refused_by_link_and_import(
    bot: Bot, services: Services, site: str
) -> None:
    reply = say(bot, f"#链接 {site}/hi")
    assert "只找到标题《hi》和 11 字正文" in reply and "至少需要 80 字" in reply, reply
    r = cli(services, "import", f"{site}/hi")
    assert r.exit_code == 1 and "只找到标题《hi》" in r.output and "Traceback" not in r.output
    assert articles.count(services.store) == 0 and entries(services.store) == []
    assert "《hi》" not in say(bot, "最新", user=READER)


def test_bylines_become_authors_from_add_and_from_link(
    bot: Bot, services: Services, site: str
) -> None:
    reply = say(bot, "#添加 楼院议事会开进小区\n记者 王磊 通讯员 赵敏\n"
                     "桂花巷小区的楼院议事会开到了单元门口，居民们围坐一圈，商量车棚怎么改。")
    assert reply.startswith("已添加 #1") and "作者：王磊、赵敏" in reply, reply
    a = story(services, 1)
    assert a.authors == ["王磊", "赵敏"] and len(a.body) == 1 and "记者" not in a.body[0]

    reply = say(bot, f"#链接 {site}/news/secretary.html")
    assert reply.startswith("已添加 #2《社区书记的一天》"), reply
    assert "作者：王磊、赵敏" in reply and "首段：早上七点" in reply
    assert "如有误，发送 #删除 2 撤销" in reply and re.search(r"正文 \d+ 字", reply)
    b = story(services, 2)
    assert b.authors == ["王磊", "赵敏"] and not any("记者" in p for p in b.body)
    page = bot.http.get("/articles/2").text
    assert "王磊" in page and "本报记者" not in page


# -- every field ------------------------------------------------------------------------------
def test_every_field_is_fixed_from_the_account(bot: Bot, services: Services) -> None:
    say(bot, "#添加 网格员走访独居老人\n网格员带着米面油，逐户走访独居老人。\n"
             "老人们提出的需求一一记在本子上，能当场办的当场办。")
    for command, field, value in [
        ("#改 1 标题 花园口村网格员走访独居老人", "title", "花园口村网格员走访独居老人"),
        ("#改 1 副题 米面油送到家门口", "subtitle", "米面油送到家门口"),
        ("#改 1 引题 寒冬送温暖", "kicker", "寒冬送温暖"),
        ("#改 1 作者 记者 王磊 通讯员 赵敏", "authors", ["王磊", "赵敏"]),
        ("#改 1 日期 2024年7月2日", "published", "2024-07-02"),
        ("#改 1 链接 https://paper.example.org/2024/0702/1.html", "url",
         "https://paper.example.org/2024/0702/1.html"),
        ("#改 1 摘要 网格员上门问冷暖。", "summary", "网格员上门问冷暖。"),
        ("#改 1 封面 https://paper.example.org/p.jpg", "picurl", "https://paper.example.org/p.jpg"),
        ("#标题 1 花园口村网格员走访独居老人们", "title", "花园口村网格员走访独居老人们"),
    ]:
        reply = say(bot, command)
        assert reply.startswith("已修改 #1"), (command, reply)
        assert getattr(story(services, 1), field) == value, command
    assert say(bot, "#改正文 1 2 志愿者把需求记在本子上，当场能办的当场办结。").startswith("已修改 #1")
    assert story(services, 1).body[1] == "志愿者把需求记在本子上，当场能办的当场办结。"
    assert "已修改 #1" in say(bot, "#改正文 1 3 雪天里，老人们的屋里暖和了。")  # one more
    assert "已修改 #1" in say(bot, "#改正文 1 1 删除")
    assert story(services, 1).body == ["志愿者把需求记在本子上，当场能办的当场办结。",
                                       "雪天里，老人们的屋里暖和了。"]
    numbered = say(bot, "#查看 1 正文")
    assert numbered.splitlines()[1:] == ["1. 志愿者把需求记在本子上，当场能办的当场办结。",
                                         "2. 雪天里，老人们的屋里暖和了。"]
    assert "整篇正文" in say(bot, "#改正文 1\n第一段新写的。\n第二段新写的。")
    assert "第 2 段" in say(bot, "#改 1 正文 2 第二段又改了。")
    assert "整篇正文" in say(bot, "#改 1 正文\n第一段新写的。\n第二段新写的。")
    a = story(services, 1)
    assert a.body == ["第一段新写的。", "第二段新写的。"]
    assert set(a.edited) == {"title", "subtitle", "kicker", "authors", "published", "url",
                             "summary", "picurl", "body"}
    assert a.summary == "网格员上门问冷暖。"  # the editor's summary stays with new text
    view = say(bot, "#查看 1")
    for line in ("引题：寒冬送温暖", "副题：米面油送到家门口", "作者：王磊、赵敏", "日期：2024-07-02",
                 "封面：https://paper.example.org/p.jpg"):
        assert line in view, view
    marked = next(ln for ln in view.splitlines() if ln.startswith("编辑改过："))
    assert all(w in marked for w in ("标题", "副题", "引题", "作者", "日期", "正文", "封面"))
    # refusals say why and change nothing
    assert "日期“明天”看不懂" in say(bot, "#改 1 日期 明天")
    assert "不认识的字段“颜色”" in say(bot, "#改 1 颜色 红")
    assert "没有第 9 段" in say(bot, "#改正文 1 9 多出来的")
    assert story(services, 1).body == a.body
    # the change is searchable at once, and audited with before and after
    assert "花园口村网格员走访独居老人们" in say(bot, "新写的", user=READER)
    e = entries(services.store)[0]
    assert e.action == "edit" and e.before["body"] != e.after["body"]


def test_every_field_is_fixed_from_the_cli(services: Services, tmp_path: Path) -> None:
    assert import_page(services, tmp_path, PROFILES.read_text(encoding="utf-8")).exit_code == 0
    body = tmp_path / "body.txt"
    body.write_text("第一段。\n\n第二段。\n", encoding="utf-8")
    r = cli(services, "edit", "1", "--title", "守好网格", "--subtitle", "记网格员郑秀梅",
            "--kicker", "人物", "--authors", "孔令军、沈佳", "--published", "2024-07-02",
            "--url", "https://paper.example.org/1", "--cover", "https://paper.example.org/1.jpg",
            "--summary", "一位网格员的一天。", "--body", str(body))
    assert r.exit_code == 0, r.output
    a = story(services, 1)
    assert (a.title, a.subtitle, a.kicker, a.authors, a.published, a.url, a.picurl, a.summary,
            a.body) == ("守好网格", "记网格员郑秀梅", "人物", ["孔令军", "沈佳"], "2024-07-02",
                        "https://paper.example.org/1", "https://paper.example.org/1.jpg",
                        "一位网格员的一天。", ["第一段。", "第二段。"])
    assert cli(services, "edit", "1", "--paragraph", "2", "改过的第二段。").exit_code == 0
    assert story(services, 1).body == ["第一段。", "改过的第二段。"]
    r = cli(services, "edit", "1", "--published", "July")
    assert r.exit_code == 2 and "is not a date" in r.output
    r = cli(services, "edit", "1", "--paragraph", "7", "x")
    assert r.exit_code == 2 and "no paragraph 7" in r.output
    shown = cli(services, "show", "1").output
    assert "edited by hand: " in shown and "title" in shown
    edits = [e for e in entries(services.store) if e.action == "edit"]
    assert len(edits) == 2 and edits[0].before["body"] == ["第一段。", "第二段。"]


# -- cover from an image message --------------------------------------------------------------
def test_a_cover_from_an_image_message_is_kept_and_served(
    bot: Bot, services: Services, site: str
) -> None:
    say(bot, "#添加 社区食堂开张\n社区食堂今天开张，老人们在家门口吃上了热乎饭。")
    assert "请在 10 分钟内发送一张图片" in say(bot, "#封面 1")
    r = bot.send(user=ADMIN, msgtype="image",
                 extra={"PicUrl": f"{site}/mmbiz/pic.png", "MediaId": "media_1"})
    assert r.kind == "text" and r.text.startswith("已设置 #1《社区食堂开张》的封面"), r.raw
    a = story(services, 1)
    m = re.fullmatch(r"https://news\.example\.org/images/(\d+)", a.picurl)
    assert m, a.picurl
    got = bot.http.get(f"/images/{m.group(1)}")
    assert got.status_code == 200 and got.content == PIXEL
    assert got.headers["content-type"] == "image/png"
    assert bot.http.get("/images/999").status_code == 404
    assert a.edited == ["picurl"] and entries(services.store)[0].after["picurl"] == a.picurl
    # the card readers get carries the kept picture
    card = bot.send("社区食堂", user=READER)
    assert card.kind == "news" and card.articles[0]["PicUrl"] == a.picurl
    # no #封面 waiting: a picture gets the ordinary answer; a non-picture is refused
    r = bot.send(user=ADMIN, msgtype="image", extra={"PicUrl": f"{site}/mmbiz/pic.png"})
    assert "图片我暂时看不懂" in r.text
    say(bot, "#封面 1")
    r = bot.send(user=ADMIN, msgtype="image", extra={"PicUrl": f"{site}/mmbiz/fake.png"})
    assert "没能保存这张图片" in r.text and story(services, 1).picurl == a.picurl
    assert "不再等待封面图片" in say(bot, "#取消")


# -- times, stats ------------------------------------------------------------------------------
def test_times_shown_to_admins_and_operators_are_beijing_time(
    bot: Bot, services: Services
) -> None:
    say(bot, "#添加 社区食堂开张\n社区食堂今天开张，老人们在家门口吃上了热乎饭。")
    services.store.db.execute(
        "UPDATE articles SET added_at = '2024-06-21T13:49:00+00:00',"
        " updated_at = '2024-06-21T13:49:00+00:00'")
    services.store.db.execute("UPDATE audit SET at = '2024-06-21T13:49:00+00:00'")
    view = say(bot, "#查看 1")
    assert "添加：2024年6月21日 21:49" in view and "UTC" not in view and "T13" not in view
    shown = cli(services, "show", "1").output
    assert "added: 2024年6月21日 21:49" in shown and "+00:00" not in shown
    assert "\t2024年6月21日 21:49\t" in cli(services, "audit").output
    assert "\t2024-06-21\t" in cli(services, "list").output


def test_stats_read_what_digest_status_reads_and_count_no_commands(
    tmp_path: Path, make_bot
) -> None:  # type: ignore[no-untyped-def]
    from digest_support import Rig, add_people, add_stories

    from bot.app import build_services

    rig = Rig(tmp_path, extra=f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n',
              env={"NEWSBOT_DIGEST_CONCURRENCY": "1"})
    try:
        services = build_services(rig.config)
        abot = make_bot(services)
        add_stories(rig.store, 2)
        people = add_people(rig.store, rig.emu, 14, closed=2, gone=1)
        rig.emu.inject("error", "message/custom/send", count=40, errcode=-1)  # WeChat busy
        say(abot, "#推送")
        report = say(abot, "#确认")
        sent = re.search(r"发送 (\d+)/(\d+)", report)
        assert sent and "跳过" in report and "失败" in report, report
        for text in ("#完成", "#推送", "#养老#"):
            say(abot, text, user=READER)
        stats = say(abot, "#统计")
        line = next(ln for ln in stats.splitlines() if ln.startswith("上次推送："))
        # the same figures, in the same words, as the push report
        figures_said = report.split("：", 1)[1].split("\n")[0].split("；失败的将")[0]
        assert line.endswith("：" + figures_said), (report, line)
        assert "客服消息" in line and ("已完成" in line or "未完成" in line)
        assert "微信接口暂时不可用" in line
        for english in ("done", "failed", "customer_service", "UTC", "unavailable"):
            assert english not in stats
        assert "#完成" not in stats and "#推送" not in stats and "养老（1）" in stats
        figures = json.loads(cli(services, "stats", "--json").output)["last_digest"]
        status = cli(services, "digest", "status").output
        assert f"{figures['sent']}/{figures['total']}" in status
        skipped = sum(int(n) for n in re.findall(r"跳过 (\d+)", report))
        failed = sum(int(n) for n in re.findall(r"失败 (\d+)", report))
        assert (figures["sent"], figures["total"]) == (int(sent[1]), int(sent[2]))
        assert sum(figures["skipped"].values()) == skipped >= len(people.outside)
        assert sum(figures["failed"].values()) == failed > 0
    finally:
        rig.close()


# -- addresses ---------------------------------------------------------------------------------
def test_javascript_addresses_are_refused_from_every_path(
    bot: Bot, services: Services, tmp_path: Path
) -> None:
    say(bot, "#添加 社区食堂开张\n社区食堂今天开张，老人们在家门口吃上了热乎饭。")
    before = story(services, 1)
    bad = "javascript:alert(1)"
    assert "只接受 http:// 或 https://" in say(bot, f"#改 1 链接 {bad}")
    assert "只接受 http:// 或 https://" in say(bot, f"#封面 1 {bad}")
    assert "只支持 http:// 或 https://" in say(bot, f"#链接 {bad}")
    for option in ("--url", "--cover"):
        r = cli(services, "edit", "1", option, bad)
        assert r.exit_code == 2 and "not a web address" in r.output, r.output
    for field in ("url", "picurl"):
        export = tmp_path / f"{field}.jsonl"
        export.write_text(json.dumps({"title": "导入的稿件", "body": ["正文。"], field: bad},
                                     ensure_ascii=False) + "\n", encoding="utf-8")
        r = cli(services, "import", str(export))
        assert r.exit_code == 1 and "line 1" in r.output and "not a web address" in r.output
    after = story(services, 1)
    assert (after.url, after.picurl, after.updated_at) == (before.url, before.picurl,
                                                           before.updated_at)
    assert articles.count(services.store) == 1


# -- readers' #… -------------------------------------------------------------------------------
def test_a_reader_naming_an_admin_command_gets_the_readers_help(
    bot: Bot, services: Services
) -> None:
    say(bot, "#添加 社区养老服务站开门\n社区养老服务站今天开门，老人们在这里吃饭、理发、量血压。")
    for text in ("#帮助", "#统计", "#添加 标题\n正文", "＃删除 1", "#完成"):
        reply = say(bot, text, user=READER)
        assert reply.startswith("欢迎关注！本号提供党建与社区新闻"), (text, reply)
        assert "管理" not in reply and "#删除" not in reply
    assert articles.count(services.store) == 1
    found = say(bot, "#养老#", user=READER)
    assert "社区养老服务站开门" in found


def test_fetching_a_linked_page_again_keeps_the_editors_title(
    bot: Bot, services: Services, site: str
) -> None:
    url = f"{site}/news/secretary.html"
    assert say(bot, f"#链接 {url}").startswith("已添加 #1")
    say(bot, "#改 1 标题 东关社区书记李红的一天")
    again = say(bot, f"#链接 {url}")
    assert "未做改动" in again and "编辑改过的 1 处已保留" in again, again
    assert story(services, 1).title == "东关社区书记李红的一天"
    assert articles.count(services.store) == 1
