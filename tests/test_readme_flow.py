"""The README's first command, as a newcomer runs it: serve on loopback, then `newsbot send 帮助`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.app import Services
from handlers.help import HELP_TEXT
from tests.conftest import free_port, stop_server, wait_healthy

NEWSBOT = [sys.executable, "-c", "from bot.cli import main; main()"]


def test_serve_demo_then_send_help(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    # the demo's emulator on a port of its own (send goes through it), not the shared 8081
    env["NEWSBOT_WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [*NEWSBOT, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        sent = subprocess.run(
            [*NEWSBOT, "send", "帮助", "--url", f"http://127.0.0.1:{port}/wechat"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == HELP_TEXT.strip()
        assert (tmp_path / "newsbot.db").exists()  # the store lives in the working directory
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert "server" not in health.headers and "date" in health.headers  # no software banner
    finally:
        stop_server(server)


def test_send_to_a_bot_that_is_not_running(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NEWSBOT_WECHAT_API_BASE_URL": "http://127.0.0.1:9"}  # no emulator
    r = subprocess.run(
        [*NEWSBOT, "send", "帮助", "--url", f"http://127.0.0.1:{port}/wechat"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
    )
    assert r.returncode == 1
    assert "cannot reach the bot" in r.stderr and "Traceback" not in r.stderr


def test_send_to_something_that_is_not_a_web_address() -> None:
    from click.testing import CliRunner

    from bot.cli import main

    r = CliRunner().invoke(main, ["send", "帮助", "--url", "127.0.0.1:8080/wechat"])
    assert r.exit_code == 2
    assert "'127.0.0.1:8080/wechat' is not a web address" in r.output
    assert "cannot reach" not in r.output and "Traceback" not in r.output


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from bot.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["--db", str(tmp_path / "s.db"), "serve", "--port", str(port)])
    assert r.exit_code == 1
    assert f"127.0.0.1:{port}" in r.output and "--port" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_a_state_file_it_cannot_open_says_so(tmp_path: Path, workers: str) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    not_a_db = tmp_path / "state.txt"
    not_a_db.write_text("not a database\n" * 100, encoding="utf-8")
    for where, says in [(tmp_path / "missing" / "s.db", "does not exist"),
                        (not_a_db, "file is not a database")]:
        r = CliRunner().invoke(
            main, ["--db", str(tmp_path / "s.db"), "serve", "--port", str(free_port()),
                   "--workers", workers],
            env={"NEWSBOT_STATE_PATH": str(where)},
        )
        assert r.exit_code == 1, r.output
        assert str(where) in r.output and says in r.output and "[state] path" in r.output
        assert "Traceback" not in r.output


def test_serve_on_a_port_it_may_not_use_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import socket

    from click.testing import CliRunner

    from bot.cli import main

    class Refused(socket.socket):
        def bind(self, address: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket, "socket", Refused)
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "s.db"), "serve", "--port", "80"])
    assert r.exit_code == 1
    assert "Permission denied" in r.output and "below 1024" in r.output
    assert "already running" not in r.output


def test_search_without_words_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    for query in ("", "   "):
        r = CliRunner().invoke(main, ["--db", str(tmp_path / "s.db"), "search", query])
        assert r.exit_code == 2 and "give something to search for" in r.output


def test_send_signed_with_another_token_says_how_to_match_the_server(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from bot.app import create_app
    from bot.cli import main
    from tests.conftest import LiveServer

    monkeypatch.delenv("NEWSBOT_CONFIG", raising=False)
    # no emulator (send would go through one): the default address may hold someone else's
    monkeypatch.setenv("NEWSBOT_WECHAT_API_BASE_URL", "http://127.0.0.1:9")
    with LiveServer(create_app(services)) as srv:  # its token is the tests', not the dev one
        r = CliRunner().invoke(main, ["send", "--url", f"{srv.url}/wechat", "帮助"])
    assert r.exit_code == 1
    assert "HTTP 403" in r.output and "dev token" in r.output and "--config" in r.output


def test_send_names_the_events_it_knows() -> None:
    from click.testing import CliRunner

    from bot.cli import main

    r = CliRunner().invoke(main, ["send", "--event", "bogus"])
    assert r.exit_code == 2 and "'bogus' is not one of" in r.output and "subscribe" in r.output
