"""Shared set-up of the digest tests and bench: an emulator, a store with stories, subscribers
known to both the store and the emulator."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Config, load_config
from bot.emulator import Emulator
from bot.state import open_state
from bot.wxapi import WeChatAPI
from store import articles, subscribers
from store.articles import Article
from store.db import Store, open_configured

APPID, SECRET = "wxtestappid000001", "testsecret"
ROOT = Path(__file__).resolve().parent.parent
ROOT_ENV = {"PYTHONPATH": str(ROOT)}  # a subprocess imports this checkout's newsbot
MIXES = (["党建"], ["社区"], ["党建", "社区"])


def config_for(
    tmp_path: Path, url: str, extra: str = "", env: dict[str, str] | None = None
) -> Config:
    from conftest import write_config

    return load_config(
        write_config(tmp_path, extra), env={"NEWSBOT_WECHAT_API_BASE_URL": url, **(env or {})}
    )


def add_stories(store: Store, n: int = 3, tag: str = "") -> list[int]:
    """``n`` stories in each category, written for these tests."""
    ids = []
    for i in range(n):
        a = Article(title=f"党支部开展主题党日活动{tag}{i}",
                    body=[f"党员们重温入党誓词。第{i}段。"],
                    categories=["党建"])
        b = Article(title=f"网格员走访独居老人{tag}{i}", body=[f"居民们说起小区的变化。第{i}段。"],
                    categories=["社区"])
        ids += [articles.save(store, a)[0], articles.save(store, b)[0]]
    return ids


@dataclass
class People:
    """Who was set up how: the openids by the fate the digest should give them."""

    inside: list[str]  # window open in the store and the emulator: delivered
    outside: list[str]  # last spoke 3 days ago: skipped before any call
    closed: list[str]  # the store thinks the window is open, the emulator knows better: 45015
    gone: list[str]  # unfollowed on WeChat, the bot missed the event: 43004
    cats: dict[str, list[str]]


def add_people(store: Store, emu: Emulator, n: int, *, closed: int = 0, gone: int = 0,
               prefix: str = "o_user_") -> People:
    now = time.time()
    p = People([], [], [], [], {})
    rows = []
    for i in range(n):
        openid = f"{prefix}{i:05d}"
        cats = MIXES[i % 3]
        p.cats[openid] = cats
        rows.append({"openid": openid, "categories": cats})
        emu.follow(openid)
        if i % 7 == 3:
            seen = now - 72 * 3600
            p.outside.append(openid)
        else:
            seen = now - 3600
            if len(p.closed) < closed:
                p.closed.append(openid)
            elif len(p.gone) < gone:
                p.gone.append(openid)
                emu.user_spoke(openid, seen)
                emu.unfollow(openid)
            else:
                p.inside.append(openid)
                emu.user_spoke(openid, seen)
        rows[-1]["seen"] = seen
    import json

    with store.transaction():
        store.db["subscribers"].insert_all(
            [{"openid": r["openid"], "categories": json.dumps(r["categories"], ensure_ascii=False),
              "following": 1, "subscribed_at": "2024-01-01T00:00:00+00:00",
              "updated_at": "2024-01-01T00:00:00+00:00", "last_seen": r["seen"]} for r in rows],
            pk="openid",
        )
    assert subscribers.count(store) == n
    return p


def delivered(emu: Emulator, channel: str = "custom") -> Counter[str]:
    return Counter(d["openid"] for d in emu.deliveries if d["channel"] == channel)


class Rig:
    """Emulator + config + store + state + outbound client for one test."""

    def __init__(self, tmp_path: Path, *, extra: str = "", account_type: str = "subscription",
                 api_kw: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                 custom_clientmsgid: bool = False) -> None:
        self.emu = Emulator(APPID, SECRET, account_type=account_type,
                            custom_clientmsgid=custom_clientmsgid)
        self.url = self.emu.start()
        self.config = config_for(tmp_path, self.url, extra, env)
        self.store = open_configured(self.config)
        self.state = open_state(self.config)
        self.api = WeChatAPI(self.config, self.state, **(api_kw or {}))

    def close(self) -> None:
        self.api.close()
        self.state.close()
        self.store.close()
        self.emu.stop()
