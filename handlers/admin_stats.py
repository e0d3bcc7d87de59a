"""``#统计``: what the account holds and what readers look for (and do not find).

Messages are counted per local day by an observer in the shared state (one counter per day,
kept two days); searches and their hit counts come from the store's ``query_log``, filled by the
search handler.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from handlers.admin_base import command
from handlers.base import Context, Message
from handlers.clock import shown
from handlers.digest import CHANNEL_WORDS, STATUS_WORDS, reason_words
from store import pushlog, subscribers
from store.categories import CATEGORIES

TOP_QUERIES = 5
COUNTER_TTL = 2 * 86400


def local_day(config: Any, now: float) -> datetime:
    """Midnight of the current local day (the digest's time zone), as an aware datetime."""
    tz = ZoneInfo(config.digest["timezone"])
    local = datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


_last_key: tuple[str, int, str] = ("", -1, "")  # (time zone, minute, key): asked per message


def message_counter_key(config: Any, now: float) -> str:
    global _last_key
    tz, minute = config.digest["timezone"], int(now // 60)
    if _last_key[:2] != (tz, minute):  # a day starts on a whole minute in every time zone
        _last_key = (tz, minute, f"stats:messages:{local_day(config, now).date().isoformat()}")
    return _last_key[2]


def count_message(msg: Message, ctx: Context) -> None:
    """Observer: one more message today (retries are deduplicated before dispatch)."""
    ctx.state.add(message_counter_key(ctx.config, ctx.now), 1, COUNTER_TTL)


def _category_counts(db: Any) -> tuple[int, dict[str, int], int]:
    total = int(db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
    by_cat = dict(
        db.execute(
            "SELECT value, COUNT(*) FROM articles,"
            " json_each(COALESCE(articles.category_override, articles.categories))"
            " GROUP BY value"
        ).fetchall()
    )
    none = int(
        db.execute(
            "SELECT COUNT(*) FROM articles"
            " WHERE COALESCE(category_override, categories, '[]') = '[]'"
        ).fetchone()[0]
    )
    return total, by_cat, none


# A search is what a reader typed; a message naming a command (#…) is not one.
_NOT_COMMAND = "substr(query, 1, 1) NOT IN ('#', '＃')"


def _last_digest(store: Any, config: Any, now: float) -> dict[str, Any] | None:
    """The last digest as ``newsbot digest status`` reads it: its rows in the push log."""
    d = pushlog.latest(store)
    if d is None:
        return None
    tally = pushlog.tally(store, d.id)
    return {
        "id": d.id,
        "started": shown(d.started_at, config, now),
        "status": STATUS_WORDS.get(d.status, d.status),
        "channel": CHANNEL_WORDS.get(d.channel, d.channel),
        "stories": len(d.article_ids),
        "sent": sum(tally.get("sent", {}).values()),
        "total": sum(sum(v.values()) for v in tally.values()),
        "skipped": tally.get("skipped", {}),
        "failed": tally.get("failed", {}),
    }


def _fmt_digest(d: dict[str, Any] | None) -> str:
    if d is None:
        return "尚未推送过"
    text = (f"#{d['id']}，{d['started']}，{d['status']}，{d['channel']}：新闻 {d['stories']} 篇，"
            f"发送 {d['sent']}/{d['total']}")
    for label, reasons in (("跳过", d["skipped"]), ("失败", d["failed"])):
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            text += f"；{label} {n}（{reason_words(reason)}）"
    return text


def _top(db: Any, since: str, zero_only: bool) -> list[tuple[str, int]]:
    sql = f"SELECT query, COUNT(*) AS n FROM query_log WHERE at >= ? AND {_NOT_COMMAND}"
    if zero_only:
        sql += " AND hits = 0"
    sql += " GROUP BY query ORDER BY n DESC, MAX(at) DESC LIMIT ?"
    return [(q, int(n)) for q, n in db.execute(sql, (since, TOP_QUERIES)).fetchall()]


def _fmt_top(items: list[tuple[str, int]]) -> str:
    return "；".join(f"{q}（{n}）" for q, n in items) if items else "无"


def collect(store: Any, config: Any, state: Any, now: float) -> dict[str, Any]:
    """The figures of ``#统计`` and ``newsbot stats``."""
    store.flush()  # this process's queued searches count too
    db = store.db
    total, by_cat, none = _category_counts(db)
    day = local_day(config, now)
    today = _utc_iso(day)
    week = _utc_iso(day - timedelta(days=6))
    return {
        "stories": total,
        "by_category": {c: by_cat.get(c, 0) for c in CATEGORIES},
        "uncategorised": none,
        "subscribers": subscribers.count(store),
        "following": int(
            db.execute("SELECT COUNT(*) FROM subscribers WHERE following = 1").fetchone()[0]
        ),
        "last_digest": _last_digest(store, config, now),
        "messages_today": int(state.get(message_counter_key(config, now)) or 0),
        "searches_today": int(
            db.execute(f"SELECT COUNT(*) FROM query_log WHERE at >= ? AND {_NOT_COMMAND}",
                       (today,)).fetchone()[0]
        ),
        "top_queries_7d": _top(db, week, zero_only=False),
        "not_found_7d": _top(db, week, zero_only=True),
    }


def render(figures: dict[str, Any]) -> str:
    f = figures
    return "\n".join([
        (f"稿件 {f['stories']} 篇：党建 {f['by_category']['党建']}，社区 {f['by_category']['社区']}，"
         f"未分类 {f['uncategorised']}"),
        f"订阅推送 {f['subscribers']} 人（已知的关注者 {f['following']} 人）",
        f"上次推送：{_fmt_digest(f['last_digest'])}",
        f"今日消息 {f['messages_today']} 条，其中搜索 {f['searches_today']} 次",
        f"近 7 天热门搜索：{_fmt_top(f['top_queries_7d'])}",
        f"近 7 天没搜到的：{_fmt_top(f['not_found_7d'])}",
    ])


@command("统计", "stats", usage="#统计", summary="稿件、订阅、推送与读者搜索的统计")
def stats(args: str, msg: Message, ctx: Context) -> str:
    return render(collect(ctx.store, ctx.config, ctx.state, ctx.now))
