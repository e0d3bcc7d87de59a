"""Config loading: defaults, the file, the environment, and clear errors naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import DEV_TOKEN, ConfigError, load_config


def test_no_config_runs_on_safe_local_defaults() -> None:
    cfg = load_config(None, env={})
    assert cfg.dev and cfg.server["host"] == "127.0.0.1"
    assert cfg.wechat["token"] == DEV_TOKEN
    assert cfg.store["path"].endswith(".db") and cfg.state["backend"] == "sqlite"


def test_file_values_and_env_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[wechat]\ntoken="t"\nappid="wx1"\n[server]\nport=9000\n[admin]\nopenids=["o1"]\n')
    cfg = load_config(p, env={"NEWSBOT_WECHAT_APPSECRET": "s3cret", "NEWSBOT_SERVER_PORT": "9100"})
    assert cfg.wechat["token"] == "t" and cfg.wechat["appsecret"] == "s3cret"
    assert cfg.server["port"] == 9100 and cfg.admin_openids() == {"o1"}
    assert load_config(None, env={"NEWSBOT_CONFIG": str(p)}).wechat["appid"] == "wx1"


@pytest.mark.parametrize(
    "text, words",
    [
        ('[wechat]\nappid="wx"\n', ["[wechat] token", "missing"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[server]\nport="eighty"\n', ["[server] port", "int"]),
        ('[wechat]\ntoken="t"\nappid="wx"\nencoding_aes_key="short"\n', ["encoding_aes_key", "43"]),
        ('[wechat]\ntoken="t"\nappid="wx"\ntokn="typo"\n', ["[wechat] tokn", "unknown"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[nope]\n', ["[nope]"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[digest]\ntime="25:00"\n', ["[digest] time"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[digest]\ntime="7:5:0"\n', ["'7:5:0'", "23:59"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[server]\nworkers=0\n', ["[server] workers", "1..64"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[digest]\ntimezone="Mars/Base"\n', ["timezone"]),
        ('[wechat]\ntoken="t"\nappid="wx"\n[state]\nbackend="mongo"\n', ["[state] backend"]),
        ("[wechat\ntoken=", ["not valid TOML"]),
    ],
)
def test_bad_config_names_key_and_file(tmp_path: Path, text: str, words: list[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    for w in words:
        assert w in str(e.value)
    assert str(p) in str(e.value)


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NEWSBOT_SERVER_PORT"):
        load_config(None, env={"NEWSBOT_SERVER_PORT": "x"})


def test_a_port_out_of_range_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # 99999 once slipped through (the resolver wraps it) and served on another port
    for args in (["serve", "--port", "99999"], ["serve", "--port", "0"],
                 ["emulator", "--port", "-1"], ["emulator", "--port", "70000"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert "--port" in r.output and "1<=x<=65535" in r.output
        assert "Traceback" not in r.output and "serving" not in r.output
    for env in ({"NEWSBOT_SERVER_PORT": "0"}, {"NEWSBOT_SERVER_PORT": "65536"}):
        with pytest.raises(ConfigError, match="is not a port number"):
            load_config(None, env=env)
    assert load_config(None, env={"NEWSBOT_SERVER_PORT": "65535"}).server["port"] == 65535


def test_cli_reports_config_error_without_traceback(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text('[wechat]\ntoken="t"\nappid="wx"\n[server]\nport=-5\n')
    r = CliRunner().invoke(main, ["--config", str(p), "serve"])
    assert r.exit_code == 1
    assert "[server] port" in r.output and str(p) in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "missing.toml"), "serve"])
    assert r.exit_code != 0 and "not found" in r.output
