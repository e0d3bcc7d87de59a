"""Admin commands through the webhook: signed XML in, reply out, store and audit checked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.app import Services
from bot.callback import message_xml, sign_request
from bot.config import Config, load_config
from store import articles
from store.audit import entries
from tests.conftest import PAGE_SETS, Bot, page_text, write_config

ADMIN = "o_admin_editor"
ADMIN_2 = "o_admin_second"
READER = "o_reader_1"
READER_2 = "o_reader_2"

STORY = (
    "#添加 花园口村网格员上门走访独居老人\n"
    "本报讯 近日，花园口村的网格员带着米面油，逐户走访村里的独居老人，询问他们的冷暖和难处。\n"
    "网格员把老人们提出的需求一一记在本子上，能当场办的当场办，办不了的报到村党支部统一协调。"
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # a generous reply budget: these tests check what the reply says, not how fast it comes
    extra = f'[admin]\nopenids = ["{ADMIN}", "{ADMIN_2}"]\n[server]\nreply_budget = 30.0\n'
    return load_config(write_config(tmp_path, extra), env={})


def say(bot: Bot, text: str, user: str = ADMIN) -> str:
    r = bot.send(text, user=user)
    assert r.status == 200, r.raw
    return r.text if r.kind == "text" else r.render()


def count(services: Services) -> int:
    return articles.count(services.store)


def add_story(bot: Bot) -> int:
    reply = say(bot, STORY)
    assert reply.startswith("已添加 #"), reply
    return int(reply.split("#", 1)[1].split("《", 1)[0])


# -- help --------------------------------------------------------------------------------------
def test_help_lists_every_command_and_each_has_its_own(bot: Bot) -> None:
    text = say(bot, "#帮助")
    for name in ("#添加", "#完成", "#取消", "#链接", "#删除", "#确认", "#改标题", "#分类",
                 "#列表", "#查看", "#统计", "#推送预览", "#推送"):
        assert name in text
    one = say(bot, "#帮助 删除")
    assert "用法：#删除 编号" in one and "#确认" in one and "#del" in one
    assert "用法：#分类" in say(bot, "＃帮助 #类")  # full-width #, alias
    assert "没有“飞行”这个命令" in say(bot, "#帮助 飞行")
    assert "没有“#飞行”这个命令" in say(bot, "#飞行 123")


def test_everyday_words_for_the_commands_work_too(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    # longer words win over the one-character aliases they start with (#类别 is not #类 别)
    assert "分类：党建（人工设定）" in say(bot, f"#类别 {aid} 党建")
    assert articles.get(services.store, aid).effective_categories == ["党建"]
    say(bot, f"#修改标题 {aid} 花园口村网格员走访独居老人")
    assert "花园口村网格员走访独居老人" in say(bot, f"#详情 {aid}")
    added = say(bot, "#新增 紫荆社区开设四点半课堂\n紫荆社区党支部在活动室开设四点半课堂，退休教师义务辅导。")
    assert added.startswith("已添加 #") and count(services) == 2
    assert "#确认" in say(bot, f"#移除 {aid}")


# -- #添加 -------------------------------------------------------------------------------------
def test_add_in_one_message(bot: Bot, services: Services) -> None:
    reply = say(bot, STORY)
    assert reply.startswith("已添加 #1《花园口村网格员上门走访独居老人》")
    a = articles.get(services.store, 1)
    assert a is not None and a.body[0].startswith("本报讯 近日") and len(a.body) == 2
    assert "社区" in a.effective_categories
    (e,) = entries(services.store)
    assert (e.admin, e.action, e.article_id, e.before) == (ADMIN, "add", 1, None)
    assert e.after["title"] == "花园口村网格员上门走访独居老人"


def test_add_same_title_again_updates_the_story(bot: Bot, services: Services) -> None:
    add_story(bot)
    reply = say(bot, STORY + "\n老人们说，网格员来了，心里踏实。")
    assert reply.startswith("已更新同标题的稿件 #1")
    assert count(services) == 1 and len(articles.get(services.store, 1).body) == 3
    e = entries(services.store)[0]
    assert e.action == "add" and len(e.before["body"]) == 2 and len(e.after["body"]) == 3
    assert "未做改动" in say(bot, STORY + "\n老人们说，网格员来了，心里踏实。")
    assert len(entries(services.store)) == 2  # no change, no entry


def test_add_missing_title_is_refused(bot: Bot, services: Services) -> None:
    long_line = "本报讯 " + "社区干部走进楼院听取居民意见，" * 6
    reply = say(bot, f"#添加 {long_line}\n第二段。")
    assert reply.startswith("缺少标题") and "第一行" in reply
    assert count(services) == 0 and entries(services.store) == []


def test_add_title_without_body_opens_a_draft_and_empty_draft_is_refused(
    bot: Bot, services: Services
) -> None:
    assert "草稿已开始《只有标题》" in say(bot, "#添加 只有标题")
    assert say(bot, "#完成") == "正文为空，未保存《只有标题》。"
    assert count(services) == 0
    assert "已放弃草稿《只有标题》" in say(bot, "#取消")
    say(bot, "#添加")
    assert "草稿为空" in say(bot, "#完成")
    assert count(services) == 0 and entries(services.store) == []


def test_a_20kb_body_is_added_in_one_message(bot: Bot, services: Services) -> None:
    para = "社区党支部组织党员志愿者为楼院居民义务理发、量血压，并上门为行动不便的老人送去午餐。"
    body = "\n".join([para] * 160)
    text = f"#添加 志愿服务进楼院\n{body}"
    assert 20_000 <= len(text.encode()) < 30_000
    reply = say(bot, text)
    assert reply.startswith("已添加 #1《志愿服务进楼院》") and f"正文 {len(para) * 160} 字" in reply
    assert len(articles.get(services.store, 1).body) == 160


def test_a_body_over_the_limit_is_refused_clearly(bot: Bot, services: Services) -> None:
    chunk = "居民议事会上大家畅所欲言，" * 700  # ~9,100 characters, ~27 KB per message
    say(bot, "#添加 超长稿件")
    for _ in range(3):
        assert "已收到" in say(bot, chunk)
    reply = say(bot, chunk)
    assert reply.startswith("内容太长") and "上限" in reply
    assert "已收到 3 段" in say(bot, "#取消")  # the draft kept what fitted
    assert count(services) == 0


def test_multi_message_draft(bot: Bot, services: Services) -> None:
    assert "草稿已开始" in say(bot, "#添加")
    assert "草稿《小区加装电梯惠民生》，已收到 1 段" in say(
        bot, "小区加装电梯惠民生\n老旧小区的居民盼了多年的电梯，今年终于装上了。"
    )
    assert "已收到 2 段" in say(bot, "社区召开协调会，逐户征求意见，低层住户也签了同意书。")
    assert "#1" not in say(bot, "#列表")  # other commands work while drafting
    assert "已有" not in say(bot, "#统计")
    assert "未完成的草稿《小区加装电梯惠民生》" in say(bot, "#添加 另一篇\n正文。")
    assert count(services) == 0
    reply = say(bot, "#完成")
    assert reply.startswith("已添加 #1《小区加装电梯惠民生》") and "2 段" in reply
    a = articles.get(services.store, 1)
    assert a.body == ["老旧小区的居民盼了多年的电梯，今年终于装上了。",
                      "社区召开协调会，逐户征求意见，低层住户也签了同意书。"]
    # the draft is closed: plain text is a search again, not more body
    say(bot, "电梯")
    assert articles.get(services.store, 1).body == a.body
    assert "没有进行中的草稿" in say(bot, "#完成")


def test_a_web_address_sent_alone_is_draft_text_or_a_pointer_to_link(
    bot: Bot, services: Services
) -> None:
    url = "https://news.example.org/2026/12/elevator.html"
    assert say(bot, url) == f"要导入这篇文章，请发送：#链接 {url}"
    assert "链接我暂时打不开" in say(bot, url, user=READER)
    say(bot, "#添加 小区加装电梯惠民生")
    assert "已收到 1 段" in say(bot, url)
    assert say(bot, "#完成").startswith("已添加 #1")
    assert articles.get(services.store, 1).body == [url]


def test_drafts_are_per_admin(bot: Bot, services: Services) -> None:
    say(bot, "#添加 第一位管理员的稿件")
    assert "没有进行中的草稿" in say(bot, "#完成", user=ADMIN_2)
    say(bot, "正文一段。")
    assert say(bot, "#完成").startswith("已添加 #1《第一位管理员的稿件》")


# -- #删除 / #确认 ------------------------------------------------------------------------------
def test_delete_asks_for_confirmation(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    prompt = say(bot, f"#删除 {aid}")
    assert prompt.startswith(f"确认删除 #{aid}《花园口村网格员上门走访独居老人》") and "#确认" in prompt
    assert count(services) == 1
    assert "没有待确认的操作" in say(bot, "#确认", user=ADMIN_2)  # another admin cannot confirm
    assert say(bot, "#确认") == f"已删除 #{aid}《花园口村网格员上门走访独居老人》。"
    assert count(services) == 0
    e = entries(services.store)[0]
    assert (e.action, e.article_id, e.after) == ("delete", aid, None)
    assert e.before["body"][0].startswith("本报讯")  # enough to restore it
    assert "没有待确认的操作" in say(bot, "#确认")


def test_delete_can_be_cancelled_and_bad_ids_are_refused(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    say(bot, f"#删除{aid}")  # no space: still the id
    assert "已取消待确认的操作：删除 #1" in say(bot, "#取消")
    assert "没有待确认的操作" in say(bot, "#确认")
    assert count(services) == 1
    assert say(bot, "#删除 999").startswith("没有编号为 999 的稿件")
    assert "请给出稿件编号" in say(bot, "#删除")
    assert "请给出稿件编号" in say(bot, "#删除 第一篇")
    assert count(services) == 1 and [e.action for e in entries(services.store)] == ["add"]


def test_confirmation_does_not_hit_a_new_story_with_a_reused_id(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    say(bot, f"#删除 {aid}")
    articles.delete(services.store, aid)  # removed meanwhile (e.g. from the command line)
    articles.save(services.store, articles.Article(title="另一篇", body=["正文。"]))
    assert articles.get(services.store, aid).title == "另一篇"
    assert "已被修改或替换，未删除" in say(bot, "#确认")
    assert articles.get(services.store, aid).title == "另一篇"


# -- #改标题 / #分类 ----------------------------------------------------------------------------
def test_retitle(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    reply = say(bot, f"#改标题 {aid} 网格员走访独居老人")
    assert reply == f"已修改 #{aid} 的标题：\n《花园口村网格员上门走访独居老人》→《网格员走访独居老人》"
    assert articles.get(services.store, aid).title == "网格员走访独居老人"
    e = entries(services.store)[0]
    assert (e.action, e.before["title"], e.after["title"]) == (
        "retitle", "花园口村网格员上门走访独居老人", "网格员走访独居老人"
    )
    assert e.before["body"] == e.after["body"] and e.after["edited"] == ["title"]
    assert "缺少新标题" in say(bot, f"#改标题 {aid}")
    assert "没有编号为 42 的稿件" in say(bot, "#改标题 42 新标题")
    assert "标题太长" in say(bot, f"#改标题 {aid} " + "长" * 80)
    assert "请给出稿件编号" in say(bot, "#改标题 新标题")
    assert articles.get(services.store, aid).title == "网格员走访独居老人"
    assert len(entries(services.store)) == 2


def test_categorise(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    assert "分类：党建（人工设定）" in say(bot, f"#分类 {aid} 党建")
    assert articles.get(services.store, aid).effective_categories == ["党建"]
    assert [a.id for a in articles.latest(services.store, category="党建")] == [aid]
    assert "分类：党建、社区" in say(bot, f"#分类 {aid} 社区 党建")
    assert "分类：未分类（人工设定）" in say(bot, f"#分类 {aid} 无")
    a = articles.get(services.store, aid)
    assert a.category_override == [] and a.effective_categories == []
    assert "（自动分类）" in say(bot, f"#分类 {aid} 自动")
    assert articles.get(services.store, aid).category_override is None
    e = entries(services.store)[0]
    assert e.action == "categorise" and e.before["category_override"] == []
    assert e.after["category_override"] is None
    assert "不认识的分类：体育" in say(bot, f"#分类 {aid} 体育")
    assert "缺少分类" in say(bot, f"#分类 {aid}")
    assert "没有编号为 7 的稿件" in say(bot, "#分类 7 党建")
    assert len(entries(services.store)) == 5


# -- #列表 / #查看 ------------------------------------------------------------------------------
def test_list_and_view(bot: Bot, services: Services) -> None:
    assert "还没有稿件" in say(bot, "#列表")
    for i in range(12):
        articles.save(services.store, articles.Article(
            title=f"第{i + 1}篇社区新闻", body=[f"社区居民第{i + 1}次议事会召开。"]))
    text = say(bot, "#列表")
    assert text.splitlines()[0] == "最近 10 篇（共 12 篇）："
    assert text.splitlines()[1].startswith("#12 ") and "#3 " in text and "#2 " not in text
    assert say(bot, "#列表 3").splitlines()[1:] == [
        "#12 [社区] 第12篇社区新闻", "#11 [社区] 第11篇社区新闻", "#10 [社区] 第10篇社区新闻"]
    assert "条数应是正整数" in say(bot, "#列表 很多")
    assert len(say(bot, "#ls 30").encode()) < 2000
    view = say(bot, "#查看 5")
    assert view.startswith("#5《第5篇社区新闻》") and "正文：" in view and "/articles/5" in view
    assert "没有编号为 99 的稿件" in say(bot, "#查看 99")
    assert "请给出稿件编号" in say(bot, "#查看")
    assert entries(services.store) == []  # reading is not audited


# -- #统计 ---------------------------------------------------------------------------------------
def test_stats(bot: Bot, services: Services) -> None:
    aid = add_story(bot)
    articles.save(services.store, articles.Article(
        title="党支部开展主题党日活动", body=["党支部全体党员重温入党誓词，上了一堂党课。"]))
    for q in ("网格员", "网格员", "网格员", "独居老人", "游泳馆开放时间"):
        say(bot, q, user=READER)
    say(bot, "游泳馆开放时间", user=READER_2)
    services.store.db["digests"].insert({
        "started_at": "2024-06-21T00:00:05+00:00", "finished_at": "2024-06-21T00:00:09+00:00",
        "status": "done", "channel": "customer_service", "report": '{"sent": 3}'})
    text = say(bot, "#统计")
    lines = text.splitlines()
    assert lines[0] == "稿件 2 篇：党建 1，社区 1，未分类 0", text
    assert "上次推送：#1，2024年6月21日 08:00，已完成，客服消息：新闻 0 篇，发送 0/0" in text
    assert "今日消息 8 条，其中搜索 6 次" in text  # add + 6 searches + #统计
    assert "热门搜索：网格员（3）；游泳馆开放时间（2）；独居老人（1）" in text
    nothing = next(ln for ln in lines if ln.startswith("近 7 天没搜到的"))
    assert "游泳馆开放时间（2）" in nothing and "网格员" not in nothing
    assert aid == 1

    # the operator's `newsbot stats` says the same, and --json gives the figures
    from click.testing import CliRunner

    from bot.cli import main

    cfg = str(services.config.path)
    out = CliRunner().invoke(main, ["--config", cfg, "stats"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == lines[0]
    assert "今日消息 8 条，其中搜索 6 次" in out.output
    out = CliRunner().invoke(main, ["--config", cfg, "stats", "--json"])
    figures = json.loads(out.output)
    assert figures["stories"] == 2 and figures["searches_today"] == 6
    assert figures["top_queries_7d"][0] == ["网格员", 3]
    assert figures["not_found_7d"][0] == ["游泳馆开放时间", 2]


# -- authorisation ------------------------------------------------------------------------------
EVERY_COMMAND = [
    "#帮助", "#帮助 删除", STORY, "#添加", "#版面", "#完成", "#取消", "#链接 http://127.0.0.1:9/x",
    "#删除 1", "#确认", "#改标题 1 被改掉的标题", "#分类 1 无", "#列表", "#查看 1", "#统计",
    "#推送预览", "#推送", "#飞行",
]


def test_a_non_admin_gets_an_ordinary_search_for_every_command(
    bot: Bot, services: Services
) -> None:
    aid = add_story(bot)
    before = articles.get(services.store, aid)
    audit_before = entries(services.store)
    for text in EVERY_COMMAND:
        reply = say(bot, text, user=READER)
        # exactly what another reader gets for the same text: the search, nothing of the admin
        assert reply == say(bot, text, user=READER_2), text
        for word in ("命令", "管理", "#确认", "草稿", "已删除", "已添加", "稿件", "编号"):
            assert word in text or word not in reply, (text, reply)
    assert say(bot, "#确认", user=READER) == say(bot, "#确认", user=READER_2)
    assert count(services) == 1
    after = articles.get(services.store, aid)
    assert (after.title, after.category_override, after.body) == (
        before.title, before.category_override, before.body)
    assert entries(services.store) == audit_before


def test_admin_added_with_the_cli_is_recognised(config: Config, make_bot, services: Services) -> None:
    from bot.app import build_services
    from store import admins

    admins.add(services.store, "o_new_editor", by="cli:test")
    b = make_bot(build_services(config))  # a process started after the change
    assert say(b, "#列表", user="o_new_editor") == "还没有稿件。发送 #添加 或 #链接 添加。"
    assert "还没有稿件" not in say(b, "#列表", user="o_someone_else")


# -- replays -------------------------------------------------------------------------------------
def test_a_replayed_admin_request_acts_once(bot: Bot, services: Services) -> None:
    w = services.config.wechat
    req = sign_request(message_xml(user=ADMIN, text=STORY), w["token"])
    first = bot.http.post("/wechat", params=req.params, content=req.body)
    second = bot.http.post("/wechat", params=req.params, content=req.body)
    assert first.status_code == second.status_code == 200
    assert "已添加 #1" in first.text and second.text == first.text
    assert count(services) == 1 and len(entries(services.store)) == 1


def test_a_replayed_delete_confirmation_acts_once(bot: Bot, services: Services) -> None:
    add_story(bot)
    articles.save(services.store, articles.Article(title="第二篇", body=["正文。"]))
    say(bot, "#删除 1")
    w = services.config.wechat
    req = sign_request(message_xml(user=ADMIN, text="#确认"), w["token"])
    first = bot.http.post("/wechat", params=req.params, content=req.body)
    say(bot, "#删除 2")  # a new pending delete must not be confirmed by the replay
    second = bot.http.post("/wechat", params=req.params, content=req.body)
    assert "已删除 #1" in first.text and second.text == first.text
    assert [a.id for a in articles.latest(services.store)] == [2]


def test_an_old_captured_request_is_refused(bot: Bot, services: Services) -> None:
    w = services.config.wechat
    old = int(time.time()) - 3600
    req = sign_request(message_xml(user=ADMIN, text=STORY, create_time=old), w["token"],
                       timestamp=old)
    r = bot.http.post("/wechat", params=req.params, content=req.body)
    assert r.status_code == 403
    assert count(services) == 0 and entries(services.store) == []


def test_a_replay_after_the_dedup_record_expired_still_acts_once(tmp_path: Path, make_bot) -> None:
    from bot.app import build_services

    cfg = load_config(write_config(
        tmp_path, f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n'), env={})
    cfg.values["state"]["dedup_ttl"] = 0  # the webhook forgets each reply at once
    s = build_services(cfg)
    b = make_bot(s)
    req = sign_request(message_xml(user=ADMIN, text=STORY), cfg.wechat["token"])
    first = b.http.post("/wechat", params=req.params, content=req.body)
    time.sleep(0.01)
    second = b.http.post("/wechat", params=req.params, content=req.body)
    assert "已添加 #1" in first.text
    assert "已添加 #1" in second.text
    assert articles.count(s.store) == 1 and len(entries(s.store)) == 1


# -- a whole newspaper page ------------------------------------------------------------------------
# a page of each set long enough to be taken for a page when pasted with #添加, and another one
WHOLE = {"own": "06", "seed": "000"}
IN_PARTS = {"own": "03", "seed": "001"}


@pytest.mark.parametrize("kind", PAGE_SETS)
def test_a_whole_page_goes_through_the_page_import(bot: Bot, services: Services,
                                                   kind: str) -> None:
    from store.ingest import parse_page

    page = page_text(kind, WHOLE[kind])
    expected = [a.title for a in parse_page(page, "p")]
    assert len(expected) >= 2
    reply = say(bot, "#添加\n" + page)  # pasted with #添加: recognised as a page
    assert reply.startswith(f"版面已导入：新增 {len(expected)} 篇"), reply
    stored = [a.title for a in articles.latest(services.store, limit=50)]
    assert sorted(stored) == sorted(expected)
    for t in expected:
        assert t in reply
    assert {e.action for e in entries(services.store)} == {"import_page"}
    assert len(entries(services.store)) == len(expected)
    again = say(bot, "#版面\n" + page)
    assert again.startswith(f"版面已导入：新增 0 篇，更新 0 篇，未变 {len(expected)} 篇")


@pytest.mark.parametrize("kind", PAGE_SETS)
def test_a_page_sent_in_parts(bot: Bot, services: Services, kind: str) -> None:
    page = page_text(kind, IN_PARTS[kind])
    lines = page.splitlines()
    half = len(lines) // 2
    assert "版面已开始" in say(bot, "#版面")
    say(bot, "\n".join(lines[:half]))
    assert "版面（尚无标题），已收到 2 段" in say(bot, "\n".join(lines[half:]))
    reply = say(bot, "#完成")
    assert reply.startswith("版面已导入：新增 "), reply
    assert articles.count(services.store) >= 2


def test_a_page_with_no_story_is_a_clear_error(bot: Bot, services: Services) -> None:
    reply = say(bot, "#版面\n扫一扫 关注我们")
    assert reply.startswith("版面导入失败") and "#添加" in reply, reply
    assert articles.count(services.store) == 0


def test_an_expired_draft_is_gone(services: Services, make_bot) -> None:  # type: ignore[no-untyped-def]
    services.config.values["admin"]["draft_ttl"] = 0  # every draft expires at once
    bot = make_bot(services)
    assert "草稿已开始《过期的稿件》" in say(bot, "#添加 过期的稿件")
    say(bot, "正文第一段。")  # no draft any more: an ordinary search
    assert "没有进行中的草稿" in say(bot, "#完成")
    assert articles.count(services.store) == 0


def test_a_body_past_the_webhook_cap_is_refused_before_any_handler(
    bot: Bot, services: Services
) -> None:
    r = bot.post_xml(message_xml(user=ADMIN, text="#添加 太大的消息\n" + "字" * 25_000))
    assert r.status_code == 413
    assert articles.count(services.store) == 0 and entries(services.store) == []
