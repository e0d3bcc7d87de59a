"""Customer-service and mass messages: the windows, budgets, quotas and idempotency."""

from __future__ import annotations

from typing import Any

from bot.emulator import rules as R
from bot.emulator.account import Account
from bot.emulator.rules import err


def _text_problem(body: dict[str, Any]) -> tuple[str, int]:
    """The text content and 0, or '' and an error code."""
    text = body.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content.strip():
        return "", 44004
    if len(content.encode("utf-8")) > R.TEXT_BYTES:
        return "", 45002
    return content, 0


def custom_send(acct: Account, body: dict[str, Any], now: float) -> dict[str, Any]:
    """``message/custom/send``: one message to one follower inside their window.

    WeChat documents no ``clientmsgid`` for this call and delivers a repeat again; so does the
    emulator, unless started with ``custom_clientmsgid=True`` (its own extension, off by
    default): then a repeat within 24 h is answered ``ok`` with ``duplicate: true`` and
    delivers nothing.
    """
    openid = body.get("touser")
    msgtype = body.get("msgtype")
    if not isinstance(openid, str) or not openid:
        return err(40003)
    u = acct.users.get(openid)
    if u is None:
        return err(40003)
    record: dict[str, Any] = {"channel": "custom", "openid": openid, "msgtype": msgtype}
    if msgtype == "text":
        content, code = _text_problem(body)
        if code:
            return err(code)
        record["content"] = content
    elif msgtype == "news":
        news = body.get("news")
        arts = news.get("articles") if isinstance(news, dict) else None
        if not isinstance(arts, list) or not arts:
            return err(44003)
        if len(arts) > R.CUSTOM_NEWS_ARTICLES:
            return err(45008)
        a = arts[0] if isinstance(arts[0], dict) else {}
        record["content"] = str(a.get("title", ""))
        record["articles"] = [
            {k: str(a.get(k, "")) for k in ("title", "description", "url", "picurl")}
        ]
    elif msgtype == "image":
        image = body.get("image")
        media = image.get("media_id") if isinstance(image, dict) else None
        if not isinstance(media, str) or not media:
            return err(40007)  # (the emulator keeps no media: any id given is taken)
        record["content"] = f"[image {media}]"
    else:
        return err(40008)
    if not u.following:
        return err(43004)
    cmid = (body.get("clientmsgid") or None) if acct.custom_clientmsgid else None
    if acct._seen("custom", cmid, now) is not None:
        return {"errcode": 0, "errmsg": "ok", "duplicate": True}
    code = acct._window(u, now)
    if code:
        acct.stats[f"refused:{code}"] += 1
        return err(code)
    record.update({"clientmsgid": cmid, "at": now})
    acct._deliver(record)
    result = {"errcode": 0, "errmsg": "ok"}
    acct._remember("custom", cmid, now, result)
    return result


def _mass(acct: Account, body: dict[str, Any], now: float, recipients: list[str],
          extra: dict[str, Any]) -> dict[str, Any]:
    msgtype = body.get("msgtype")
    if msgtype == "mpnews":
        return err(40007)  # no drafts exist in the emulator, so no media_id is valid
    if msgtype != "text":
        return err(40008)
    content, code = _text_problem(body)
    if code:
        return err(code)
    cmid = body.get("clientmsgid") or None
    if cmid is not None and (not isinstance(cmid, str) or len(cmid) > R.CLIENTMSGID_CHARS):
        return err(45067)
    seen = acct._seen("mass", cmid, now)
    if seen is not None:
        return err(45065, msg_id=seen["msg_id"])
    day = R.day_of(now)
    if acct.account_type == "subscription" and acct.mass_days[day] >= R.MASS_PER_DAY_SUBSCRIPTION:
        acct.stats["refused:45028"] += 1
        return err(45028)
    acct.mass_days[day] += 1
    msg_id = acct._next_msg_id()
    month = R.month_of(now)
    for openid in recipients:
        u = acct.users.get(openid)
        if u is None or not u.following:
            continue
        if acct.account_type == "service" and u.mass_by_month[month] >= R.MASS_PER_MONTH_SERVICE:
            acct.stats["mass_over_monthly_limit"] += 1
            continue
        u.mass_by_month[month] += 1
        acct._deliver({"channel": "mass", "openid": openid, "msgtype": "text",
                       "content": content, "msg_id": msg_id, "clientmsgid": cmid, "at": now,
                       **extra})
    # (msg_data_id comes only with mpnews sends, which the emulator has no drafts for)
    result = {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id}
    acct._remember("mass", cmid, now, result)
    return result


def mass_sendall(acct: Account, body: dict[str, Any], now: float) -> dict[str, Any]:
    """``message/mass/sendall``: to every follower, or to the followers with a tag."""
    flt = body.get("filter")
    if not isinstance(flt, dict):
        return err(47001)
    if flt.get("is_to_all"):
        tag_id = None
        recipients = list(acct.users)
    else:
        # group_id is the field's older name, still sent by wechatpy and still taken
        tag_id = flt.get("tag_id", flt.get("group_id"))
        if not isinstance(tag_id, int) or tag_id not in acct.tags:
            return err(45159)
        recipients = [o for o, u in acct.users.items() if tag_id in u.tags]
    return _mass(acct, body, now, recipients, {"tag_id": tag_id})


def mass_send(acct: Account, body: dict[str, Any], now: float) -> dict[str, Any]:
    """``message/mass/send``: to a list of 2 to 10,000 openids; certified service accounts only
    (a subscription account is answered 48001)."""
    if acct.account_type == "subscription":
        return err(48001)
    touser = body.get("touser")
    if not isinstance(touser, list):
        return err(47001)
    if not R.MASS_SEND_MIN <= len(touser) <= R.MASS_SEND_MAX:
        return err(40130)
    return _mass(acct, body, now, list(dict.fromkeys(map(str, touser))), {})
