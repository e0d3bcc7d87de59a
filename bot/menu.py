"""The account's custom menu: ``[menu] buttons`` checked against WeChat's limits and turned
into the body of ``menu/create``.

WeChat's limits: 1 to 3 top buttons, each either an action or a parent of 1 to 5 sub buttons;
names up to 16 bytes (top) or 60 bytes (sub); a click button needs a ``key`` (up to 128
bytes), a view button an http(s) ``url`` (up to 1024 bytes).
"""

from __future__ import annotations

from typing import Any

MAX_TOP, MAX_SUB = 3, 5
NAME_BYTES_TOP, NAME_BYTES_SUB = 16, 60
KEY_BYTES, URL_BYTES = 128, 1024
KEY_TYPES = ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
             "pic_photo_or_album", "pic_weixin", "location_select")
OTHER_TYPES = ("view", "miniprogram", "media_id", "article_id", "article_view_limited")


class MenuError(ValueError):
    """The menu breaks WeChat's rules; the message lists every problem, one a line."""


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _check(b: Any, where: str, sub: bool, problems: list[str]) -> dict[str, Any]:
    if not isinstance(b, dict):
        problems.append(f"{where}: must be a table with a name")
        return {}
    name = b.get("name")
    label = f'{where} "{name}"' if isinstance(name, str) else where
    limit = NAME_BYTES_SUB if sub else NAME_BYTES_TOP
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: needs a name")
    elif _size(name) > limit:
        problems.append(f"{label}: name is {_size(name)} bytes, WeChat allows {limit} "
                        f"({limit // 3} Chinese characters)")
    out: dict[str, Any] = {"name": name}
    if "sub_button" in b:
        subs = b["sub_button"]
        if sub:
            problems.append(f"{label}: sub buttons cannot have sub buttons")
            return out
        if b.get("type") or b.get("key") or b.get("url"):
            problems.append(f"{label}: a button with sub buttons takes no type, key or url")
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            n = len(subs) if isinstance(subs, list) else "no"
            problems.append(f"{label}: has {n} sub buttons, WeChat allows 1 to {MAX_SUB}")
            return out
        out["sub_button"] = [_check(s, f"{where}.sub_button[{i}]", True, problems)
                             for i, s in enumerate(subs, 1)]
        return out
    kind = str(b.get("type", "")).lower()
    out["type"] = kind
    if kind in KEY_TYPES:
        key = b.get("key")
        if not isinstance(key, str) or not key:
            problems.append(f"{label}: a {kind} button needs a key")
        elif _size(key) > KEY_BYTES:
            problems.append(f"{label}: key is longer than {KEY_BYTES} bytes")
        out["key"] = key
    elif kind == "view":
        url = b.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"{label}: a view button needs an http(s) url")
        elif _size(url) > URL_BYTES:
            problems.append(f"{label}: url is longer than {URL_BYTES} bytes")
        out["url"] = url
    elif kind in OTHER_TYPES:
        out.update({k: v for k, v in b.items() if k not in ("name", "type")})
    else:
        known = ", ".join(KEY_TYPES[:1] + OTHER_TYPES[:1] + KEY_TYPES[1:] + OTHER_TYPES[1:])
        problems.append(f"{label}: type {b.get('type')!r} is not one of {known}"
                        if kind else f"{label}: needs a type (click, view...) or sub_button")
    return out


def build_menu(buttons: list[Any]) -> dict[str, Any]:
    """The ``menu/create`` body for ``buttons``; raises :class:`MenuError` naming each problem."""
    problems: list[str] = []
    if not buttons:
        raise MenuError("[menu] buttons is empty: nothing to push")
    if len(buttons) > MAX_TOP:
        problems.append(f"[menu] has {len(buttons)} buttons, WeChat allows {MAX_TOP}")
    menu = {"button": [_check(b, f"[menu] buttons[{i}]", False, problems)
                       for i, b in enumerate(buttons, 1)]}
    if problems:
        raise MenuError("\n".join(problems))
    return menu


def click_keys(buttons: list[Any]) -> list[str]:
    """Every click key of the menu, in order."""
    keys: list[str] = []
    for b in buttons:
        if not isinstance(b, dict):
            continue
        for s in b.get("sub_button", [b]):
            if isinstance(s, dict) and str(s.get("type", "")).lower() == "click" and s.get("key"):
                keys.append(str(s["key"]))
    return keys


def render_menu(menu: dict[str, Any]) -> str:
    """A menu as an indented outline, for people."""
    lines: list[str] = []

    def what(b: dict[str, Any]) -> str:
        kind = b.get("type", "")
        detail = b.get("key") or b.get("url") or ""
        return f"{b.get('name', '')}  [{kind}{' ' + detail if detail else ''}]"

    for b in menu.get("button", []):
        subs = b.get("sub_button")
        if isinstance(subs, dict):  # menu/get wraps sub buttons as {"list": [...]}
            subs = subs.get("list")
        if subs:
            lines.append(str(b.get("name", "")))
            lines.extend("  " + what(s) for s in subs)
        else:
            lines.append(what(b))
    return "\n".join(lines)
