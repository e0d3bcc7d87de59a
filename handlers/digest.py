"""The daily digest: the stories added since the last digest, pushed to their subscribers.

``preview`` says what would go to whom; ``run_digest`` sends it and returns a report. Both
return plain data with a ``summary()`` text, for the CLI, the scheduler and admin commands.

Channels ([digest] channel):

* ``customer_service``: one text per subscriber holding only their categories, to those whose
  48-hour window is open (``last_seen``); the others are skipped and counted.
* ``mass``: the subscribers of each category are tagged, then one text mass send per category
  tag. A subscription account has one mass send a day: a second one is skipped, not tried, and a
  45028 from the platform is reported, never retried.

At least once, repeats bounded: the whole plan is written to the push log before the first
call, and each row is marked before and after its call (see ``store.pushlog``). A later run
first finishes any digest a crash (or a failure) left unfinished, sending only rows not yet
done, and sends uncertain rows again with the same ``clientmsgid`` (a platform that honours it
drops the repeat; WeChat does so for mass sends only). ``slot`` (the local date
of a scheduled run) makes a scheduled digest run at most once per day.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.clock import shown
from handlers.digest_mass import MassSender, sends_left_today
from handlers.digest_render import Edition, Story, customer_service_text, mass_text
from handlers.digest_send import Progress, push
from handlers.listing import article_url
from store import articles, pushlog, subscribers
from store.categories import CATEGORIES
from store.db import Store
from store.pushlog import Delivery

log = logging.getLogger("newsbot.digest")

WINDOW = 48 * 3600  # the customer-service window after a user's last message
REASONS = {
    "out_of_window": "48 小时内未互动（客服消息窗口已关闭）",
    "window_budget": "窗口内 5 条客服消息已用完",
    "not_following": "已取消关注",
    "mass_quota": "今日群发次数已用完",
    "api_quota": "接口调用次数已用完",
    "no_stories": "所订分类今日无新闻",
    "no_subscribers": "该分类无订阅者",
}


def reason_words(reason: str) -> str:
    """A push log reason as an admin reads it: the known ones in words, a platform error by
    its code (the error's own English text stays in the log and `newsbot digest status`)."""
    if reason in REASONS:
        return REASONS[reason]
    head = reason.split(":", 1)[0].strip()
    if head == "unavailable":
        return "微信接口暂时不可用，下次运行重试"
    if head.lstrip("-").isdigit():
        return f"微信接口错误 {head}"
    return reason or "原因不明"


# How a person is told a run's channel and status (never the config's or the store's words).
CHANNEL_WORDS = {"customer_service": "客服消息", "mass": "群发"}
STATUS_WORDS = {"done": "已完成", "failed": "未完成（有失败待重试）", "running": "进行中",
                "empty": "没有新闻，未推送"}


class DigestBusy(Exception):
    """Another digest run holds the store's run lease; the message names it."""


@dataclass
class Recipient:
    openid: str  # or tag:<category> on the mass channel
    categories: list[str]
    action: str  # send or skip
    reason: str = ""


@dataclass
class DigestPlan:
    channel: str
    since: str | None
    stories: dict[str, list[Story]]
    recipients: list[Recipient]
    texts: dict[str, str]  # "党建,社区" (or a tag) -> the text that goes out
    unfinished: list[int] = field(default_factory=list)  # digests a run would finish first
    timezone: str = ""  # [digest] timezone: how ``since`` is shown

    @property
    def empty(self) -> bool:
        return not any(self.stories.values())

    @property
    def article_ids(self) -> list[int]:
        """Every story the digest carries, once (a story may be in both categories)."""
        return sorted({s.id for v in self.stories.values() for s in v})

    def counts(self) -> dict[str, int]:
        send = sum(1 for r in self.recipients if r.action == "send")
        return {"stories": len(self.article_ids),
                "send": send, "skip": len(self.recipients) - send}

    def summary(self) -> str:
        lines = []
        if self.unfinished:
            lines.append(f"先续发未完成的摘要 #{', #'.join(map(str, self.unfinished))}")
        if self.empty:
            if self.since:
                lines.append(f"没有新闻（自 {shown(self.since, self.timezone)} 以来），不会推送。")
            else:  # no digest has gone out yet: every story was a candidate
                lines.append("没有可推送的新闻（还没有推送过），不会推送。")
            return "\n".join(lines)
        c = self.counts()
        per = "，".join(f"{k} {len(v)} 篇" for k, v in self.stories.items() if v)
        channel = CHANNEL_WORDS.get(self.channel, self.channel)
        lines.append(f"新闻 {c['stories']} 篇（{per}），渠道 {channel}")
        lines.append(f"将发送 {c['send']}，跳过 {c['skip']}")
        for reason, n in _count_reasons(r.reason for r in self.recipients if r.action == "skip"):
            lines.append(f"  跳过：{reason_words(reason)} {n}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel, "since": self.since, "unfinished": self.unfinished,
            "stories": {k: [asdict(s) for s in v] for k, v in self.stories.items()},
            "recipients": [asdict(r) for r in self.recipients], "texts": self.texts,
            "counts": self.counts(),
        }


@dataclass
class DigestReport:
    digest_id: int | None
    status: str  # done, failed (rows left to retry), empty, already (slot ran), lost (a newer
    # run took the lease while this one stalled: it stopped sending)
    channel: str
    stories: int = 0
    total: int = 0
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    left: int = 0  # rows not tried: the push stopped early because WeChat looked down
    seconds: float = 0.0
    resumed: list[DigestReport] = field(default_factory=list)
    note: str = ""

    def summary(self) -> str:
        lines = [f"续发摘要 #{r.digest_id}：{r._line()}" for r in self.resumed]
        if self.status == "empty":
            lines.append(f"摘要 #{self.digest_id}：没有新闻，未推送。")
        elif self.status == "already":
            lines.append(f"今日（{self.note}）的定时摘要已运行过，未重复推送。")
        elif self.status == "lost":
            lines.append("另一次推送接管了本次运行（本次运行曾停顿过久），本次不再发送，"
                         "余下的由接管的运行发送。")
        elif self.digest_id is not None:
            lines.append(f"摘要 #{self.digest_id}：{self._line()}")
        return "\n".join(lines)

    def _line(self) -> str:
        out = f"新闻 {self.stories} 篇，发送 {self.sent}/{self.total}"
        for label, d in (("跳过", self.skipped), ("失败", self.failed)):
            for reason, n in sorted(d.items(), key=lambda kv: -kv[1]):
                out += f"；{label} {n}（{reason_words(reason)}）"
        if self.left:
            out += f"；微信接口不可用，提前停止，{self.left} 条留待下次运行"
        if self.status == "failed":
            out += "；失败的将在下次运行时重试"
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["resumed"] = [r.to_dict() for r in self.resumed]
        return d


def _count_reasons(reasons: Any) -> list[tuple[str, int]]:
    return Counter(reasons).most_common()


# -- what is new -------------------------------------------------------------------------------
def _story(a: articles.Article, config: Any) -> Story:
    return Story(
        id=int(a.id or 0), title=a.title, url=article_url(config, a),
        categories=tuple(a.effective_categories), summary=a.summary, published=a.published,
    )


def edition(config: Any, started_at: str | None = None) -> Edition:
    """How a digest reads: dated the local day it goes out (or went out, ``started_at``)."""
    tz = ZoneInfo(config.digest["timezone"])
    when = datetime.fromisoformat(started_at) if started_at else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Edition(day=when.astimezone(tz).date(), cap=max(1, int(config.digest["max_stories"])))


def fresh_ids(store: Store) -> tuple[str | None, dict[str, list[int]]]:
    """(since, ids by category newest first) of the stories added after the last digest
    began, less the ones it carried (a story saved in its very second)."""
    last = pushlog.latest(store)
    since = last.started_at if last else None
    carried = set(last.article_ids) if last else set()
    sql = "SELECT id, COALESCE(category_override, categories) FROM articles"
    args: list[Any] = []
    if since:
        sql += " WHERE added_at >= ?"
        args.append(since)
    by_cat: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for aid, cats in store.db.execute(sql + " ORDER BY added_at DESC, id DESC", args):
        if int(aid) in carried:
            continue
        for c in json.loads(cats or "[]"):
            if c in by_cat:
                by_cat[c].append(int(aid))
    return since, by_cat


def collect(store: Store, config: Any) -> tuple[str | None, dict[str, list[Story]]]:
    """(since, stories by category newest first): every story :func:`fresh_ids` finds. The
    text lists ``max_stories`` per category and counts the rest, which 今日 lists."""
    since, ids = fresh_ids(store)
    found = {a.id: _story(a, config)
             for a in articles.many(store, sorted({i for v in ids.values() for i in v}))}
    return since, {c: [found[i] for i in v if i in found] for c, v in ids.items()}


def _plan_rows(
    store: Store, config: Any, by_cat: dict[str, list[Story]], now: float
) -> tuple[list[Recipient], dict[str, str]]:
    channel = config.digest["channel"]
    subs = subscribers.for_digest(store)
    recipients: list[Recipient] = []
    texts: dict[str, str] = {}
    if channel == "mass":
        left = sends_left_today(store, config)
        for c in CATEGORIES:
            if not by_cat[c]:
                continue
            if not any(c in s.categories for s in subs):
                recipients.append(Recipient(f"tag:{c}", [c], "skip", "no_subscribers"))
            elif left is not None and left <= 0:
                recipients.append(Recipient(f"tag:{c}", [c], "skip", "mass_quota"))
            else:
                left = None if left is None else left - 1
                recipients.append(Recipient(f"tag:{c}", [c], "send"))
                texts[f"tag:{c}"] = mass_text(by_cat, c, edition=edition(config))
        return recipients, texts
    for s in subs:
        cats = [c for c in s.categories if by_cat.get(c)]
        if not cats:
            recipients.append(Recipient(s.openid, list(s.categories), "skip", "no_stories"))
        elif s.last_seen is None or now - s.last_seen >= WINDOW:
            recipients.append(Recipient(s.openid, cats, "skip", "out_of_window"))
        else:
            recipients.append(Recipient(s.openid, cats, "send"))
            key = ",".join(cats)
            if key not in texts:
                texts[key] = customer_service_text(by_cat, cats, edition=edition(config))
    return recipients, texts


def preview(store: Store, config: Any, now: float | None = None) -> DigestPlan:
    """What a digest run now would send, and to whom; changes nothing."""
    since, by_cat = collect(store, config)
    recipients, texts = _plan_rows(store, config, by_cat, time.time() if now is None else now)
    return DigestPlan(
        channel=config.digest["channel"], since=since, stories=by_cat, recipients=recipients,
        timezone=config.digest["timezone"],
        texts=texts, unfinished=[d.id for d in pushlog.unfinished(store)],
    )


# -- sending -----------------------------------------------------------------------------------
def run_digest(
    store: Store,
    api: Any,
    config: Any,
    *,
    progress: Progress | None = None,
    slot: str | None = None,
    now: float | None = None,
) -> DigestReport:
    """Finish any unfinished digest, then send the new one (unless ``slot`` already ran).

    ``api`` is the outbound client (``send_text``, ``mass_send_text``, tags); its exceptions
    carry ``errcode``. Raises :class:`DigestBusy` when another run is under way."""
    got = pushlog.take_lease(store, pushlog.lease_owner(), float(config.digest["lease_ttl"]))
    if got.lease is None:
        raise DigestBusy(f"another digest run is under way ({got.holder})")
    lease = got.lease
    resumed: list[DigestReport] = []
    try:
        for d in pushlog.unfinished(store):
            resumed.append(_execute(store, api, config, d, progress, lease))
        channel = config.digest["channel"]
        if slot is not None and pushlog.slot_taken(store, slot):
            return DigestReport(None, "already", channel, resumed=resumed, note=slot)
        plan = preview(store, config, now)
        if plan.empty:
            d = pushlog.start(
                store, channel=channel, since=plan.since, article_ids=[], recipients=[],
                slot=slot, status="empty", report={"note": "no new stories"}, lease=lease,
            )
            if d is None:
                return DigestReport(None, "already", channel, resumed=resumed, note=slot or "")
            log.info("digest %s: no new stories since %s, nothing sent", d.id, plan.since)
            return DigestReport(d.id, "empty", channel, resumed=resumed)
        ids = plan.article_ids
        rows = [
            Delivery(
                r.openid, r.categories, "pending" if r.action == "send" else "skipped", r.reason
            )
            for r in plan.recipients
        ]
        layout = {c: [s.id for s in v] for c, v in plan.stories.items()}
        d = pushlog.start(
            store, channel=channel, since=plan.since, article_ids=ids, recipients=rows, slot=slot,
            report={"plan": layout}, lease=lease,
        )
        if d is None:
            return DigestReport(None, "already", channel, resumed=resumed, note=slot or "")
        report = _execute(store, api, config, d, progress, lease)
        report.resumed = resumed
        return report
    except pushlog.LeaseLost as e:
        log.warning("digest run stopped: %s", e)
        return DigestReport(None, "lost", config.digest["channel"], resumed=resumed, note=str(e))
    finally:
        pushlog.drop_lease(store, lease)


def _execute(
    store: Store,
    api: Any,
    config: Any,
    d: pushlog.Digest,
    progress: Progress | None,
    lease: pushlog.Lease,
) -> DigestReport:
    """Send the rows of digest ``d`` still to send; finish it with its report."""
    started = time.monotonic()
    # The stories as planned: a resumed digest sends what it set out to send.
    layout: dict[str, list[int]] = d.report.get("plan") or {}
    by_cat = {
        c: [_story(a, config) for a in articles.many(store, layout.get(c, []))]
        for c in CATEGORIES
    }
    rows = pushlog.due(store, d.id)
    total = sum(sum(v.values()) for v in pushlog.tally(store, d.id).values())
    if d.channel == "mass":
        send = _mass_sender(store, api, config, by_cat, rows, d)
    else:
        texts: dict[tuple[str, ...], str] = {}

        def send(row: Delivery) -> None:
            key = tuple(row.categories)
            if key not in texts:
                texts[key] = customer_service_text(
                    by_cat, row.categories, edition=edition(config, d.started_at))
            api.send_text(row.openid, texts[key], clientmsgid=row.clientmsgid)

    log.info("digest %s: %d deliveries to make (%s)", d.id, len(rows), d.channel)
    stopped = push(
        store, d.id, rows, send, concurrency=int(config.digest["concurrency"]),
        rate=float(config.digest["rate"]), progress=progress,
        done_before=total - len(rows), total=total, lease=lease,
    )
    tally = pushlog.tally(store, d.id)
    retry = bool(pushlog.due(store, d.id))  # failed rows to retry, or rows a stop left
    report = DigestReport(
        digest_id=d.id, status="failed" if retry else "done", channel=d.channel,
        stories=len(d.article_ids), total=sum(sum(v.values()) for v in tally.values()),
        sent=sum(tally.get("sent", {}).values()), skipped=dict(tally.get("skipped", {})),
        failed=dict(tally.get("failed", {})), seconds=round(time.monotonic() - started, 3),
        left=sum(tally.get("pending", {}).values()) + sum(tally.get("sending", {}).values()),
        note=f"stopped early: {stopped}" if stopped else "",
    )
    pushlog.finish(store, d.id, report.status, {**report.to_dict(), "plan": layout}, lease)
    log.info("digest %s: %s", d.id, report._line())
    return report


def _mass_sender(
    store: Store, api: Any, config: Any, by_cat: dict[str, list[Story]], rows: list[Delivery],
    d: pushlog.Digest,
) -> Callable[[Delivery], None]:
    """Tag each category's subscribers, then one mass send per tag, within the daily quota."""
    return MassSender(store, api, config, by_cat, rows, edition(config, d.started_at)).send
