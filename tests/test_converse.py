"""``newsbot converse``: a reader's typical messages sent to the bot, every reply printed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from tests.conftest import LiveServer, write_config


def test_the_typical_conversation_over_the_sample_pages(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = CliRunner().invoke(main, ["--config", str(cfg), "converse"])
    assert r.exit_code == 0, r.output
    turns = r.output.split("读者 > ")[1:]
    assert len(turns) >= 15
    said = {t.splitlines()[0].strip(): t for t in turns}
    assert "新收录" in said["今天有什么新闻"]  # today's digest
    assert "第 2/" in said["下一页。"]
    assert "没有找到“韩立心”，为您找到“韩立新”" in said["韩立心"]
    assert "唐红梅" in said["我想看一下唐红梅书记的事迹。"].splitlines()[1]
    assert "养老驿站" in said["社區養老"]  # a card or a list, in simplified characters
    assert "订阅成功：党建" in said["订阅 党建"]
    assert not (tmp_path / "store.db").exists()  # the configured store is not touched


def test_a_messages_file_against_a_running_bot(tmp_path: Path, services) -> None:  # type: ignore[no-untyped-def]
    from bot.app import create_app

    msgs = tmp_path / "msgs.txt"
    msgs.write_text("# a comment\n帮助\n\n最新\n", encoding="utf-8")
    with LiveServer(create_app(services)) as srv:
        r = CliRunner().invoke(main, ["--config", str(tmp_path / "newsbot.toml"), "converse",
                                      str(msgs), "--url", f"{srv.url}/wechat"])
    assert r.exit_code == 0, r.output
    assert r.output.count("读者 > ") == 2 and "读者 > 帮助" in r.output
    assert "暂时还没有新闻" in r.output  # the running bot's own (empty) store


def test_bad_input_is_one_line_and_an_exit_code(tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--config", cfg, "converse", str(empty)])
    assert r.exit_code == 2 and "no messages" in r.output
    r = CliRunner().invoke(main, ["--config", cfg, "converse", "--url", "not a url"])
    assert r.exit_code == 2 and "not a web address" in r.output
    r = CliRunner().invoke(main, ["--config", cfg, "converse", "--pages", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no such file" in r.output
