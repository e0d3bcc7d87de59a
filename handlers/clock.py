"""Times as admins and operators read them: in ``[digest] timezone`` (Beijing time unless
configured), as 12月7日 21:49. The store keeps UTC ISO stamps; nothing shown to a person does."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


def zone(config: Any) -> ZoneInfo:
    """The zone of ``config`` ([digest] timezone), or the zone named by a string."""
    if isinstance(config, str):
        return ZoneInfo(config or DEFAULT_TZ)
    digest = getattr(config, "digest", None) or {}
    return ZoneInfo(digest.get("timezone") or DEFAULT_TZ)


def _moment(value: str | float | datetime) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(value, UTC)
    else:
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # the store's stamps are UTC


def shown(value: str | float | datetime | None, config: Any, now: float | None = None) -> str:
    """``value`` (an ISO stamp, a unix time or a datetime) as local 12月7日 21:49, with the year
    when it is not this year's; "-" when there is none, and text that is not a time as it is."""
    if value is None or value == "":
        return "-"
    dt = _moment(value)
    if dt is None:
        return str(value)
    tz = zone(config)
    local = dt.astimezone(tz)
    this_year = datetime.fromtimestamp(time.time() if now is None else now, tz).year
    year = "" if local.year == this_year else f"{local.year}年"
    return f"{year}{local.month}月{local.day}日 {local:%H:%M}"


def shown_date(value: str | None, config: Any) -> str:
    """The local date of an ISO stamp as 2024-07-02 (for columns of dates); "-" when none."""
    if not value:
        return "-"
    dt = _moment(value)
    if dt is None or len(value.strip()) <= 10:
        return value[:10]
    return dt.astimezone(zone(config)).date().isoformat()
