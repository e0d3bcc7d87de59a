"""The mass channel: tag each category's subscribers, then one text mass send per tag.

A subscription account gets one successful mass send a day (the console's sends count too).
The push log knows ours: once one has gone out today (in [digest] timezone) the next is skipped
without a call. A 45028 from the platform (the console used the quota) is recorded as skipped
and never retried.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.digest_render import Edition, Story, mass_text
from store import pushlog, subscribers
from store.db import Store
from store.pushlog import Delivery

log = logging.getLogger("newsbot.digest")

TAG_PREFIX = "newsbot-"  # tag names the digest owns: newsbot-党建, newsbot-社区


class QuotaUsed(Exception):
    """Today's mass send is used up; carries the platform's code so it is read alike."""

    errcode = 45028

    def __init__(self, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errmsg = errmsg


def _today_start_utc(config: Any) -> str:
    tz = ZoneInfo(config.digest["timezone"])
    local = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC).isoformat(timespec="seconds")


def sends_left_today(store: Store, config: Any) -> int | None:
    """Mass sends the account may still make today; ``None``: no daily limit (service)."""
    if config.wechat["account_type"] != "subscription":
        return None
    return max(0, 1 - pushlog.mass_sent_since(store, _today_start_utc(config)))


class MassSender:
    def __init__(
        self,
        store: Store,
        api: Any,
        config: Any,
        by_cat: dict[str, list[Story]],
        rows: list[Delivery],
        edition: Edition,
    ) -> None:
        self.api = api
        self.by_cat = by_cat
        self.edition = edition
        # The day's sends go to the first rows (ordered by category), decided up front so that
        # concurrent sends cannot race for the quota.
        left = sends_left_today(store, config)
        self.allowed = {r.openid for r in (rows if left is None else rows[:left])}
        self.tags: dict[str, int] = {}
        if rows:
            self._tag(store, [r.categories[0] for r in rows])

    def _tag(self, store: Store, categories: list[str]) -> None:
        """Make each category's tag hold its current subscribers (tagging is idempotent)."""
        known = {t.get("name"): int(t["id"]) for t in self.api.get_tags()}
        subs = subscribers.for_digest(store)
        for c in categories:
            name = TAG_PREFIX + c
            tag_id = known.get(name)
            if tag_id is None:
                tag_id = int(self.api.create_tag(name))
            self.tags[c] = tag_id
            members = [s.openid for s in subs if c in s.categories]
            if members:
                self.api.tag_users(tag_id, members)
            log.info("digest: tag %s (%s) holds %d subscribers", name, tag_id, len(members))

    def send(self, row: Delivery) -> None:
        if row.openid not in self.allowed:
            raise QuotaUsed("one mass send a day: already used today")
        category = row.categories[0]
        self.api.mass_send_text(
            mass_text(self.by_cat, category, edition=self.edition), tag_id=self.tags[category],
            clientmsgid=row.clientmsgid,
        )
