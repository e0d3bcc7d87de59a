"""The custom menu: WeChat's limits, `newsbot menu push/show` through the emulator, and a
handler for every click key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.emulator import Emulator
from bot.menu import MenuError, build_menu, click_keys
from bot.router import build_router
from handlers.base import Context, Message
from tests.conftest import NOWHERE, ROOT, write_config

EXAMPLE = tomllib.loads((ROOT / "config.example.toml").read_text("utf-8"))
EXAMPLE_BUTTONS = EXAMPLE["menu"]["buttons"]


def click(key: str) -> dict[str, str]:
    return {"name": key.lower()[:4], "type": "click", "key": key}


def test_the_example_menu_is_valid() -> None:
    menu = build_menu(EXAMPLE_BUTTONS)
    assert 1 <= len(menu["button"]) <= 3
    assert click_keys(EXAMPLE_BUTTONS)


@pytest.mark.parametrize("buttons, problem", [
    ([], "empty"),
    ([click("A"), click("B"), click("C"), click("D")], "has 4 buttons, WeChat allows 3"),
    ([{"name": "最新党建新闻动态", "type": "click", "key": "K"}], "name is 24 bytes"),
    ([{"name": "帮助", "type": "click"}], "needs a key"),
    ([{"name": "官网", "type": "view", "url": "example.org"}], "needs an http(s) url"),
    ([{"name": "帮助", "type": "tap", "key": "K"}], "type 'tap' is not one of"),
    ([{"name": "帮助"}], "needs a type"),
    ([{"name": "更多", "sub_button": [click(f"K{i}") for i in range(6)]}], "has 6 sub buttons"),
    ([{"name": "更多", "type": "click", "key": "K", "sub_button": [click("A")]}],
     "takes no type, key or url"),
])
def test_menus_that_break_the_limits_are_refused(buttons: list[Any], problem: str) -> None:
    with pytest.raises(MenuError) as e:
        build_menu(buttons)
    assert problem in str(e.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(MenuError) as e:
        build_menu([{"name": "a", "type": "click"},
                    {"name": "更多", "sub_button": [{"name": "b", "type": "view"}]}])
    assert str(e.value).splitlines() == [
        '[menu] buttons[1] "a": a click button needs a key',
        '[menu] buttons[2].sub_button[1] "b": a view button needs an http(s) url',
    ]


def test_every_click_key_of_the_example_menu_has_a_handler(config: Any) -> None:
    router = build_router()
    for key in click_keys(EXAMPLE_BUTTONS):
        msg = Message(type="event", source="o_menu", target="gh_newsbot", create_time=0,
                      event="click", key=key)
        ctx = Context(user="o_menu", is_admin=False, config=config, state=None, store=None)
        assert router.match(msg, ctx) is not None, f"no handler for the menu's {key} button"


def _cli(tmp_path: Path, emulator: Emulator, menu: str = "") -> tuple[CliRunner, list[str]]:
    cfg = write_config(tmp_path, menu)
    text = cfg.read_text("utf-8").replace(
        f'api_base_url = "{NOWHERE}"', f'api_base_url = "{emulator.url}"', 1)
    cfg.write_text(text, "utf-8")
    return CliRunner(), ["--config", str(cfg)]


def test_menu_push_and_show_through_the_api(tmp_path: Path, emulator: Emulator) -> None:
    runner, args = _cli(tmp_path, emulator, """
[menu]
buttons = [
  { name = "最新党建", type = "click", key = "LATEST_DANGJIAN" },
  { name = "更多", sub_button = [
      { name = "帮助", type = "click", key = "HELP" },
      { name = "官网", type = "view", url = "https://example.org/news" },
  ] },
]
""")
    empty = runner.invoke(main, [*args, "menu", "show"])
    assert empty.exit_code == 0 and "no custom menu" in empty.output
    pushed = runner.invoke(main, [*args, "menu", "push"])
    assert pushed.exit_code == 0, pushed.output
    assert "menu pushed" in pushed.output
    stored = emulator.account.menu
    assert stored is not None and stored["button"][0]["key"] == "LATEST_DANGJIAN"
    shown = runner.invoke(main, [*args, "menu", "show"])
    assert shown.exit_code == 0
    assert shown.output.splitlines() == [
        "最新党建  [click LATEST_DANGJIAN]",
        "更多",
        "  帮助  [click HELP]",
        "  官网  [view https://example.org/news]",
    ]
    raw = runner.invoke(main, [*args, "menu", "show", "--json"])
    shown_json = json.loads(raw.output)["menu"]["button"]  # as WeChat answers menu/get:
    assert shown_json[0] == {**stored["button"][0], "sub_button": []}  # every button lists
    assert shown_json[1]["sub_button"][1] == {**stored["button"][1]["sub_button"][1],
                                              "sub_button": []}


def test_menu_push_refuses_a_bad_menu_before_calling_wechat(tmp_path: Path,
                                                             emulator: Emulator) -> None:
    runner, args = _cli(tmp_path, emulator, """
[menu]
buttons = [{ name = "帮助", type = "click" }]
""")
    r = runner.invoke(main, [*args, "menu", "push"])
    assert r.exit_code == 1
    assert "needs a key" in r.output and "Traceback" not in r.output
    assert emulator.stats().get("calls:menu/create", 0) == 0


def test_menu_push_dry_run_prints_the_body(tmp_path: Path, emulator: Emulator) -> None:
    runner, args = _cli(tmp_path, emulator, """
[menu]
buttons = [{ name = "帮助", type = "click", key = "HELP" }]
""")
    r = runner.invoke(main, [*args, "menu", "push", "--dry-run"])
    assert r.exit_code == 0
    assert json.loads(r.output) == {"button": [{"name": "帮助", "type": "click", "key": "HELP"}]}
    assert emulator.account.menu is None


def test_menu_push_reports_wechat_refusing(tmp_path: Path, emulator: Emulator) -> None:
    runner, args = _cli(tmp_path, emulator, """
[menu]
buttons = [{ name = "帮助", type = "click", key = "HELP" }]
""")
    emulator.inject("error", "menu/create", errcode=40164)
    r = runner.invoke(main, [*args, "menu", "push"])
    assert r.exit_code == 1
    assert "WeChat refused the menu" in r.output and "40164" in r.output


def test_pushing_without_a_menu_says_where_to_start(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    r = CliRunner().invoke(main, ["--db", str(tmp_path / "s.db"), "menu", "push", "--dry-run"])
    assert r.exit_code == 1
    assert "no [menu] buttons" in r.output and "config.example.toml" in r.output
