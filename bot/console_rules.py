"""WeChat's report of the console's auto-replies and menu, turned into newsbot's rules.

``get_current_autoreply_info`` gives the welcome (``add_friend_autoreply_info``), the default
reply (``message_default_autoreply_info``) and the keyword rules; ``get_current_selfmenu_info``
the menu, whose buttons may answer by themselves (``text``, ``img``, ``news``). newsbot can
answer with text, a picture by media id, and news; voice and video replies are reported as not
carried. A menu button that answered by itself becomes a click button whose key
(``RULE_MENU_n``) a stored ``menu`` rule answers, so the pushed menu behaves as the console's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.rules import MENU_KEY_PREFIX, Keyword, Rule

PASSIVE_TYPES = ("click", "view", "miniprogram", "scancode_push", "scancode_waitmsg",
                 "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select",
                 "media_id", "article_id", "article_view_limited", "view_limited")
KIND_NAMES = {"voice": "语音", "video": "视频", "img": "图片", "news": "图文", "text": "文字"}


@dataclass
class Imported:
    rules: list[Rule] = field(default_factory=list)
    menu: dict[str, Any] | None = None  # menu/create's shape
    not_carried: list[str] = field(default_factory=list)


def _news(info: Any) -> dict[str, Any] | None:
    items = info.get("list") if isinstance(info, dict) else None
    if not isinstance(items, list) or not items:
        return None
    arts = [{"title": str(a.get("title", "")), "description": str(a.get("digest", "")),
             "url": str(a.get("content_url") or a.get("source_url") or ""),
             "picurl": str(a.get("cover_url", ""))} for a in items if isinstance(a, dict)]
    return {"type": "news", "articles": arts} if arts else None


def reply_item(item: Any) -> dict[str, Any] | None:
    """One console reply as newsbot's reply, or ``None`` when newsbot cannot send its kind."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "text" and str(item.get("content", "")).strip():
        return {"type": "text", "content": str(item["content"])}
    if kind == "img" and item.get("content"):
        return {"type": "image", "media_id": str(item["content"])}
    if kind == "news":
        return _news(item.get("news_info"))
    return None


def _single(report: dict[str, Any], open_flag: str, info_key: str, kind: str,
            label: str, out: Imported) -> None:
    info = report.get(info_key)
    if not report.get(open_flag) or not isinstance(info, dict):
        return
    item = reply_item(info)
    if item is None:
        out.not_carried.append(f"{label}：{KIND_NAMES.get(str(info.get('type')), info.get('type'))}"
                               "回复（newsbot 不能发送这种消息）")
        return
    out.rules.append(Rule(kind=kind, name=label, replies=[item]))


def _keyword_rule(raw: Any, out: Imported) -> None:
    if not isinstance(raw, dict):
        return
    name = str(raw.get("rule_name", ""))
    words = [Keyword(str(k.get("content", "")), "contain" if k.get("match_mode") == "contain"
                     else "equal")
             for k in raw.get("keyword_list_info") or [] if isinstance(k, dict)
             and str(k.get("content", "")).strip()]
    replies = []
    for item in raw.get("reply_list_info") or []:
        got = reply_item(item)
        if got is None:
            kind = item.get("type") if isinstance(item, dict) else "?"
            out.not_carried.append(f"规则“{name}”：{KIND_NAMES.get(kind, kind)}回复"
                                   "（newsbot 不能发送这种消息）")
        else:
            replies.append(got)
    if not words or not replies:
        out.not_carried.append(f"规则“{name}”：没有可用的{'关键词' if not words else '回复'}，未导入")
        return
    mode = "random" if raw.get("reply_mode") == "random_one" else "all"
    out.rules.append(Rule(kind="keyword", name=name, keywords=words, replies=replies, mode=mode))


def _button(b: dict[str, Any], out: Imported, counter: list[int]) -> dict[str, Any] | None:
    name = str(b.get("name", ""))
    kind = b.get("type")
    if kind in PASSIVE_TYPES:
        return {k: v for k, v in b.items() if k not in ("sub_button", "value", "news_info")}
    item = (reply_item({"type": kind, "content": b.get("value")}) if kind in ("text", "img")
            else _news(b.get("news_info")) if kind == "news" else None)
    if item is None:
        out.not_carried.append(f"菜单“{name}”：{KIND_NAMES.get(str(kind), kind)}按钮"
                               "（newsbot 不能发送这种消息），未导入")
        return None
    counter[0] += 1
    key = f"{MENU_KEY_PREFIX}{counter[0]}"
    out.rules.append(Rule(kind="menu", name=name, replies=[item], menu_key=key))
    return {"type": "click", "name": name, "key": key}


def convert_menu(selfmenu: Any, out: Imported) -> None:
    buttons = (selfmenu.get("button") if isinstance(selfmenu, dict) else None) or []
    counter = [0]
    top: list[dict[str, Any]] = []
    for b in buttons:
        if not isinstance(b, dict):
            continue
        subs = b.get("sub_button")
        if isinstance(subs, dict):
            subs = subs.get("list")
        if subs:
            kept = [s for s in (_button(x, out, counter) for x in subs if isinstance(x, dict))
                    if s is not None]
            if kept:
                top.append({"name": str(b.get("name", "")), "sub_button": kept})
        elif (one := _button(b, out, counter)) is not None:
            top.append(one)
    out.menu = {"button": top} if top else None


def convert(autoreply: dict[str, Any], selfmenu: dict[str, Any] | None) -> Imported:
    """newsbot's rules (and menu) for WeChat's two reports; ``selfmenu`` ``None``: no menu."""
    out = Imported()
    _single(autoreply, "is_add_friend_reply_open", "add_friend_autoreply_info", "welcome",
            "被关注回复", out)
    _single(autoreply, "is_autoreply_open", "message_default_autoreply_info", "default",
            "收到消息回复", out)
    keyword = autoreply.get("keyword_autoreply_info")
    for raw in (keyword.get("list") if isinstance(keyword, dict) else None) or []:
        _keyword_rule(raw, out)
    if selfmenu is not None and selfmenu.get("is_menu_open"):
        convert_menu(selfmenu.get("selfmenu_info"), out)
    return out
