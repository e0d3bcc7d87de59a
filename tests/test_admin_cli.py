"""``newsbot admin add|remove|list`` and ``newsbot audit`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.app import build_services
from bot.cli import main
from bot.config import load_config
from store.db import open_store
from tests.conftest import write_config

CONFIGURED = "o_config_admin"


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, f'[admin]\nopenids = ["{CONFIGURED}"]\n')


def run(cfg_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(cfg_path), *args])


def test_admin_add_list_remove(cfg_path: Path) -> None:
    r = run(cfg_path, "admin", "add", "oNewEditor_123")
    assert r.exit_code == 0 and "oNewEditor_123 is now an admin" in r.output
    assert "already an admin" in run(cfg_path, "admin", "add", "oNewEditor_123").output
    lines = run(cfg_path, "admin", "list").output.splitlines()
    assert lines[0] == f"{CONFIGURED}\tconfig"
    assert lines[1].startswith("oNewEditor_123\tstore\t") and "\tcli" in lines[1]

    config = load_config(cfg_path, env={})
    services = build_services(config)
    try:
        assert services.shared.is_admin("oNewEditor_123")
        assert not services.shared.is_admin("o_reader")
    finally:
        services.close()

    r = run(cfg_path, "admin", "remove", "oNewEditor_123")
    assert r.exit_code == 0 and "no longer an admin" in r.output
    assert "oNewEditor_123" not in run(cfg_path, "admin", "list").output


def test_admin_refusals(cfg_path: Path) -> None:
    r = run(cfg_path, "admin", "remove", CONFIGURED)
    assert r.exit_code == 1 and "remove it there" in r.output
    r = run(cfg_path, "admin", "remove", "o_nobody")
    assert r.exit_code == 1 and "o_nobody is not an admin" in r.output
    r = run(cfg_path, "admin", "add", "not an openid!")
    assert r.exit_code == 2 and "does not look like an openid" in r.output
    assert "Traceback" not in r.output


def test_audit_lists_admin_actions(cfg_path: Path, tmp_path: Path) -> None:
    from store import articles, audit

    assert run(cfg_path, "audit").output.strip() == "no audit entries"
    run(cfg_path, "admin", "add", "oEditorA")
    store = open_store(tmp_path / "store.db")
    aid, _ = articles.save(store, articles.Article(title="社区议事会", body=["居民议事。"]))
    with store.transaction():
        audit.record(store, "oEditorA", "retitle", article_id=aid,
                     before={"title": "议事会"}, after={"title": "社区议事会"})
    store.close()

    out = run(cfg_path, "audit").output.splitlines()
    assert len(out) == 2
    assert out[0].split("\t")[2:5] == ["oEditorA", "retitle", f"#{aid}"]
    assert out[0].endswith('{"title": "议事会"} -> {"title": "社区议事会"}')
    assert out[1].split("\t")[3] == "admin_add"
    assert len(run(cfg_path, "audit", "--limit", "1").output.splitlines()) == 1
    only = run(cfg_path, "audit", "--admin", "oEditorA", "--json").output.splitlines()
    assert [json.loads(x)["action"] for x in only] == ["retitle"]
    assert "no audit entries for o_x" in run(cfg_path, "audit", "--admin", "o_x").output
    assert run(cfg_path, "audit", "--limit", "0").exit_code == 2
