"""Followers, tags and the custom menu of the emulated account."""

from __future__ import annotations

from typing import Any

from bot.emulator import rules as R
from bot.emulator.account import Account
from bot.emulator.rules import err


def tags_create(acct: Account, body: dict[str, Any]) -> dict[str, Any]:
    tag = body.get("tag")
    name = tag.get("name") if isinstance(tag, dict) else None
    if not isinstance(name, str):
        return err(47001)
    if len(name) > R.TAG_NAME_CHARS:
        return err(45158)
    if not name.strip() or name in acct.tags.values():
        return err(45157)
    if len(acct.tags) >= R.TAGS_PER_ACCOUNT:
        return err(45056)
    acct._next_tag += 1
    acct.tags[acct._next_tag] = name
    return {"tag": {"id": acct._next_tag, "name": name}}


def tags_get(acct: Account) -> dict[str, Any]:
    counts = dict.fromkeys(acct.tags, 0)
    for u in acct.users.values():
        for t in u.tags:
            if u.following and t in counts:
                counts[t] += 1
    return {"tags": [{"id": t, "name": n, "count": counts[t]} for t, n in acct.tags.items()]}


def batchtagging(acct: Account, body: dict[str, Any]) -> dict[str, Any]:
    openids = body.get("openid_list")
    tag_id = body.get("tagid")
    if not isinstance(openids, list) or not 1 <= len(openids) <= R.TAGGING_BATCH:
        return err(40032)
    if tag_id not in acct.tags:
        return err(45159)
    users = [acct.users.get(str(o)) for o in openids]
    if any(u is None for u in users):
        return err(40003)
    for u in users:
        if u is not None:
            u.tags.add(tag_id)
    return {"errcode": 0, "errmsg": "ok"}


def user_get(acct: Account, next_openid: str) -> dict[str, Any]:
    followers = [o for o, u in acct.users.items() if u.following]
    start = followers.index(next_openid) + 1 if next_openid in followers else 0
    page = followers[start : start + R.FOLLOWERS_PAGE]
    out: dict[str, Any] = {"total": len(followers), "count": len(page),
                           "next_openid": page[-1] if page else ""}
    if page:
        out["data"] = {"openid": page}
    return out


def user_info(acct: Account, openid: str) -> dict[str, Any]:
    u = acct.users.get(openid)
    if u is None:
        return err(40003)
    if not u.following:
        return {"subscribe": 0, "openid": openid}
    return {"subscribe": 1, "openid": openid, "language": "zh_CN",
            "subscribe_time": int(u.followed_at), "remark": "", "groupid": 0,
            "tagid_list": sorted(u.tags), "subscribe_scene": "ADD_SCENE_OTHERS",
            "qr_scene": 0, "qr_scene_str": ""}


_TYPES_KEY = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
              "pic_photo_or_album", "pic_weixin", "location_select"}


def _button_problem(b: Any, sub: bool) -> int:
    if not isinstance(b, dict):
        return 47001
    name = b.get("name")
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > (60 if sub else 16):
        return 40025 if sub else 40018
    if "sub_button" in b and not sub:
        subs = b["sub_button"]
        if not isinstance(subs, list) or len(subs) > 5:
            return 40023
        for s in subs:
            code = _button_problem(s, True)
            if code:
                return code
        return 0
    kind = b.get("type")
    if kind in _TYPES_KEY:
        key = b.get("key")
        if not isinstance(key, str) or not key or len(key.encode("utf-8")) > 128:
            return 40026 if sub else 40019
        return 0
    if kind == "view":
        url = b.get("url")
        return 0 if isinstance(url, str) and url.startswith(("http://", "https://")) else 40054
    if kind in ("miniprogram", "media_id", "view_limited", "article_id", "article_view_limited"):
        return 0
    return 40024 if sub else 40017


def menu_create(acct: Account, body: dict[str, Any]) -> dict[str, Any]:
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return err(40016)
    for b in buttons:
        code = _button_problem(b, False)
        if code:
            return err(code)
    acct.menu = {"button": buttons}
    return {"errcode": 0, "errmsg": "ok"}


def menu_get(acct: Account) -> dict[str, Any]:
    """As WeChat answers: every button carries ``sub_button`` (a list, empty for a leaf)."""
    if acct.menu is None:
        return err(46003)
    return {"menu": {"button": [
        {**b, "sub_button": [{**s, "sub_button": []} for s in b.get("sub_button", [])]}
        for b in acct.menu["button"]
    ]}}
