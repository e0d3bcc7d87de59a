"""The console's auto-replies come along: imported from WeChat (the emulator), answered at the
webhook in their place among newsbot's own routes, managed by admin message and by CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import Config, load_config
from bot.emulator import Emulator
from store import articles, audit
from store.articles import Article
from tests.conftest import Bot, write_config

ADMIN = "o_rules_admin"


def _news(title: str) -> dict[str, Any]:
    return {"type": "news", "news_info": {"list": [{
        "title": title, "author": "", "digest": f"{title}的摘要", "show_cover": 1,
        "cover_url": "https://example.org/c.jpg", "content_url": "https://example.org/a",
        "source_url": ""}]}}


def _rule(name: str, words: list[tuple[str, str]], replies: list[dict[str, Any]],
          mode: str = "reply_all") -> dict[str, Any]:
    return {"rule_name": name, "create_time": 1700000000, "reply_mode": mode,
            "keyword_list_info": [{"type": "text", "match_mode": m, "content": w}
                                  for w, m in words],
            "reply_list_info": replies}


CONSOLE_RULES = {
    "is_add_friend_reply_open": 1, "is_autoreply_open": 1,
    "add_friend_autoreply_info": {"type": "text", "content": "欢迎关注花园口社区！办事指南回复“办事”"},
    "message_default_autoreply_info": {"type": "text", "content": "留言已收到，工作日内答复。热线 12345"},
    "keyword_autoreply_info": {"list": [
        _rule("办公时间", [("办公时间", "equal"), ("上班时间", "equal")],
              [{"type": "text", "content": "工作日 9:00-17:00"}]),
        _rule("社保", [("社保", "contain")], [{"type": "text", "content": "社保咨询：12333"}]),
        _rule("二维码", [("二维码", "equal")], [{"type": "img", "content": "MEDIA_QR_1"}]),
        _rule("合集", [("党史合集", "equal")], [_news("党史学习合集")]),
        _rule("抽签", [("抽签", "equal")], [{"type": "text", "content": "上上签"},
                                            {"type": "text", "content": "中签"}], "random_one"),
        _rule("地址", [("地址", "equal")], [{"type": "text", "content": "花园口路 1 号"},
                                            {"type": "text", "content": "乘 8 路公交到站"}]),
        _rule("录音", [("录音", "equal")], [{"type": "voice", "content": "MEDIA_VOICE"}]),
        _rule("养老", [("养老", "equal")], [{"type": "text", "content": "养老服务站：周一至周五"}]),
    ]},
}
CONSOLE_MENU = {"button": [
    {"type": "text", "name": "热线", "value": "便民热线：12345"},
    {"name": "服务", "sub_button": {"list": [
        {"type": "view", "name": "官网", "url": "https://example.org/"},
        {"type": "img", "name": "地图", "value": "MEDIA_MAP"},
        {"type": "video", "name": "宣传片", "value": "https://example.org/v.mp4"},
    ]}},
    {"name": "学习", "sub_button": {"list": [
        {"type": "news", "name": "合集", "value": "MEDIA_NEWS", "news_info": {"list": [{
            "title": "主题教育合集", "digest": "", "author": "", "show_cover": 0,
            "cover_url": "", "content_url": "https://example.org/h", "source_url": ""}]}},
        {"type": "click", "name": "最新", "key": "LATEST"},
    ]}},
]}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    extra = f'[admin]\nopenids = ["{ADMIN}"]\n[server]\nreply_budget = 30.0\n'
    cfg = load_config(write_config(tmp_path, extra), env={})
    cfg.values["wechat"]["api_base_url"] = "http://127.0.0.1:9"
    return cfg


def cli(config: Config, *args: str) -> Any:
    """``newsbot --config … ARGS`` with the test's config alone (no NEWSBOT_* of the process:
    an in-process `newsbot serve` elsewhere in the run leaves some behind)."""
    import os

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NEWSBOT_")}
    env["NEWSBOT_WECHAT_API_BASE_URL"] = config.wechat["api_base_url"]
    return CliRunner().invoke(main, ["--config", str(config.path), *args], env=env)


def text_of(bot: Bot, text: str, user: str = "o_reader") -> str:
    r = bot.send(text, user=user)
    assert r.status == 200, r.raw
    return r.text if r.kind == "text" else r.render()


def _stories(services: Any) -> None:
    for title in ("花园口村网格员走访独居老人", "花园口社区养老服务站开张"):
        articles.save(services.store, Article(title=title, body=[f"{title}。居民们说好。"],
                                              categories=["社区"]))


def test_import_then_the_console_rules_answer_at_the_webhook(
        emulator: Emulator, config: Config, services: Any, bot: Bot) -> None:
    emulator.set_console(autoreply=CONSOLE_RULES, menu=CONSOLE_MENU)
    r = cli(config, "rules", "import")
    assert r.exit_code == 0, r.output
    assert "imported 12 rules" in r.output  # 7 keyword rules, welcome, default, 3 menu buttons
    assert "规则“录音”：语音回复" in r.output  # what newsbot cannot reply with is named
    assert "菜单“宣传片”：视频按钮" in r.output
    assert "menu: 3 buttons imported" in r.output

    assert text_of(bot, "办公时间") == "工作日 9:00-17:00"
    assert text_of(bot, "上班時間！") == "工作日 9:00-17:00"  # traditional, full-width "!"
    assert text_of(bot, "请问社保怎么交") == "社保咨询：12333"
    image = bot.send("二维码", user="o_reader")
    assert (image.kind, image.text) == ("image", "MEDIA_QR_1")
    news = bot.send("党史合集", user="o_reader")
    assert news.kind == "news" and news.articles[0]["Title"] == "党史学习合集"
    assert text_of(bot, "抽签") in ("上上签", "中签")
    assert text_of(bot, "地址") == "花园口路 1 号\n\n乘 8 路公交到站"
    welcome = bot.send(event="subscribe", user="o_newcomer")
    assert welcome.text == "欢迎关注花园口社区！办事指南回复“办事”"


def test_rule_before_search_before_the_default_reply(
        emulator: Emulator, config: Config, services: Any, bot: Bot) -> None:
    emulator.set_console(autoreply=CONSOLE_RULES)
    assert cli(config, "rules", "import").exit_code == 0
    _stories(services)
    assert text_of(bot, "养老") == "养老服务站：周一至周五"  # a story has it too: the rule wins
    assert "网格员走访独居老人" in text_of(bot, "网格员")  # no rule: the search
    assert text_of(bot, "量子计算机") == "留言已收到，工作日内答复。热线 12345"  # nothing found
    assert text_of(bot, "帮助").startswith("欢迎关注！")  # newsbot's own words stay its own
    r = cli(config, "rules", "test", "网格员")
    assert r.output.strip() == ("no rule: the search answers; when it finds nothing: rule "
                                "2. 收到消息回复 => 留言已收到，工作日内答复。热线 12345")


def test_a_number_rule_never_hides_a_pick_in_an_open_list(
        config: Config, services: Any, bot: Bot) -> None:
    _stories(services)
    assert cli(config, "rules", "add", "1", "--reply", "回复1：办事指南").exit_code == 0
    assert text_of(bot, "1") == "回复1：办事指南"  # no list open: the rule
    listed = text_of(bot, "花园口")
    assert "1." in listed or "1、" in listed or "【1】" in listed or "1 " in listed, listed
    picked = text_of(bot, "1")
    assert picked != "回复1：办事指南" and "花园口" in picked


def test_the_console_menu_is_pushed_and_its_buttons_answer(
        emulator: Emulator, config: Config, services: Any, bot: Bot) -> None:
    emulator.set_console(autoreply=CONSOLE_RULES, menu=CONSOLE_MENU)
    assert cli(config, "rules", "import").exit_code == 0
    pushed = cli(config, "menu", "push")
    assert pushed.exit_code == 0, pushed.output
    assert "imported console menu" in pushed.output
    menu = emulator.account.menu
    assert menu is not None and [b["name"] for b in menu["button"]] == ["热线", "服务", "学习"]
    hotline = menu["button"][0]
    assert hotline["type"] == "click"
    assert bot.send(event="CLICK", key=hotline["key"], user="o_reader").text == "便民热线：12345"
    sub = {s["name"]: s for s in menu["button"][1]["sub_button"]}
    assert set(sub) == {"官网", "地图"} and sub["官网"]["type"] == "view"
    picture = bot.send(event="CLICK", key=sub["地图"]["key"], user="o_reader")
    assert (picture.kind, picture.text) == ("image", "MEDIA_MAP")
    study = {s["name"]: s for s in menu["button"][2]["sub_button"]}
    card = bot.send(event="CLICK", key=study["合集"]["key"], user="o_reader")
    assert card.articles[0]["Title"] == "主题教育合集"
    assert study["最新"] == {"type": "click", "name": "最新", "key": "LATEST"}
    again = cli(config, "rules", "import")  # WeChat now reports the pushed menu
    assert "menu: not imported" in again.output and "before the first push" in again.output


def test_admins_manage_rules_by_message_audited(config: Config, services: Any,
                                                bot: Bot) -> None:
    added = text_of(bot, "#规则 添加 办公时间|*社保* => 工作日 9:00-17:00", user=ADMIN)
    assert added == "已添加规则 1. 办公时间、社保（包含） => 工作日 9:00-17:00"
    assert text_of(bot, "我的社保卡丢了") == "工作日 9:00-17:00"
    listed = text_of(bot, "#规则 列表", user=ADMIN)
    assert "1. 办公时间、社保（包含） => 工作日 9:00-17:00" in listed
    assert text_of(bot, "#规则 删除 7", user=ADMIN).startswith("没有编号为 7 的规则")
    assert text_of(bot, "#规则 删除 1", user=ADMIN).startswith("已删除规则 1.")
    assert text_of(bot, "#规则 列表", user=ADMIN).startswith("还没有自动回复规则")
    assert "发送关键词搜索新闻" in text_of(bot, "#规则 列表")  # a reader gets the readers' help
    log = [(e.admin, e.action) for e in audit.entries(services.store)]
    assert log[:2] == [(ADMIN, "rule-remove"), (ADMIN, "rule-add")]


def test_cli_add_list_remove_test(config: Config, services: Any) -> None:
    added = cli(config, "rules", "add", "办公时间", "--reply", "工作日 9:00-17:00")
    assert added.exit_code == 0 and added.output == "added 1. 办公时间 => 工作日 9:00-17:00\n"
    welcome = cli(config, "rules", "add", "--welcome", "--reply", "欢迎")
    assert welcome.exit_code == 0
    taken = cli(config, "rules", "add", "帮助", "--reply", "x")
    assert "帮助 (rule 3): newsbot's help_text answers it first" in taken.output
    assert cli(config, "rules", "list").output.splitlines() == [
        "1. 办公时间 => 工作日 9:00-17:00", "2. 被关注回复 => 欢迎", "3. 帮助 => x"]
    assert cli(config, "rules", "test", "辦公時間。").output == (
        "rule 1. 办公时间 => 工作日 9:00-17:00\n")
    assert cli(config, "rules", "remove", "3").output == "removed 3. 帮助 => x\n"
    missing = cli(config, "rules", "remove", "3")
    assert missing.exit_code == 1 and "there is no rule 3" in missing.output
    assert cli(config, "rules", "add", "无回复").exit_code == 2
    assert cli(config, "rules", "add", "--welcome", "x", "--reply", "y").exit_code == 2
    actions = [e.action for e in audit.entries(services.store)]
    assert actions.count("rule-add") == 3 and actions.count("rule-remove") == 1


def test_import_when_wechat_cannot_be_reached_says_so(config: Config) -> None:
    r = cli(config, "rules", "import")
    assert r.exit_code == 1 and "cannot" in r.output and "Traceback" not in r.output


def test_emulator_console_file_is_checked_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "console.json"
    bad.write_text('{"autoreply": {"keyword_autoreply_info": []}}', encoding="utf-8")
    r = CliRunner().invoke(main, ["emulator", "--port", "1", "--console", str(bad)])
    assert r.exit_code == 2 and "keyword_autoreply_info" in r.output
    bad.write_text("not json", encoding="utf-8")
    r = CliRunner().invoke(main, ["emulator", "--port", "1", "--console", str(bad)])
    assert r.exit_code == 2 and "--console" in r.output and "Traceback" not in r.output


def test_a_reply_all_rule_sends_its_picture_after_the_passive_reply(
        emulator: Emulator, config: Config, services: Any, bot: Bot) -> None:
    import time

    emulator.set_console(autoreply={"keyword_autoreply_info": {"list": [
        _rule("位置", [("位置", "equal")], [{"type": "text", "content": "花园口路 1 号"},
                                          {"type": "img", "content": "MEDIA_MAP"}])]}})
    assert cli(config, "rules", "import").exit_code == 0
    emulator.user_spoke("o_reader")  # WeChat saw the message pass: the 48 h window is open
    assert text_of(bot, "位置") == "花园口路 1 号"
    deadline = time.monotonic() + 20
    while not emulator.deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    [picture] = emulator.deliveries
    assert (picture["openid"], picture["msgtype"]) == ("o_reader", "image")
    assert picture["content"] == "[image MEDIA_MAP]"
