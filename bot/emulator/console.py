"""What the account's editors set up in WeChat's web console: auto-replies and the menu.

WeChat stops applying them once the account's server (the callback URL) is switched on, but
still reports them: ``get_current_autoreply_info`` gives the auto-reply rules (welcome, default
reply, keyword rules) and ``get_current_selfmenu_info`` the menu, which is the console's until a
menu is pushed through ``menu/create`` and that menu from then on. Both answer in WeChat's
shapes; tests and ``newsbot emulator --console FILE`` give the console's content in the same
shapes.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.emulator.account import Account

EMPTY_AUTOREPLY = {"is_add_friend_reply_open": 0, "is_autoreply_open": 0}


class ConsoleError(ValueError):
    """The console content given to the emulator is not in WeChat's shape."""


def set_console(acct: Account, autoreply: dict[str, Any] | None,
                menu: dict[str, Any] | None) -> None:
    """Give the account console rules (``get_current_autoreply_info``'s shape) and a console
    menu (``selfmenu_info``'s shape: ``{"button": [...]}``, sub buttons as ``{"list": [...]}``)."""
    if autoreply is not None:
        keyword = autoreply.get("keyword_autoreply_info", {"list": []})
        if not isinstance(keyword, dict) or not isinstance(keyword.get("list"), list):
            raise ConsoleError("keyword_autoreply_info must be {\"list\": [...]}")
        acct.console_autoreply = copy.deepcopy(autoreply)
    if menu is not None:
        if not isinstance(menu.get("button"), list):
            raise ConsoleError("the console menu must be {\"button\": [...]}")
        acct.console_menu = copy.deepcopy(menu)


def autoreply_info(acct: Account) -> dict[str, Any]:
    """``get_current_autoreply_info``."""
    got = acct.console_autoreply
    if got is None:
        return dict(EMPTY_AUTOREPLY)
    out = {**EMPTY_AUTOREPLY, **copy.deepcopy(got)}
    for flag in EMPTY_AUTOREPLY:
        out[flag] = int(bool(out[flag]))
    return out


def _as_selfmenu(button: dict[str, Any]) -> dict[str, Any]:
    """A ``menu/create`` button as ``get_current_selfmenu_info`` shows it."""
    out = {k: v for k, v in button.items() if k != "sub_button"}
    if "sub_button" in button:
        out["sub_button"] = {"list": [dict(s) for s in button["sub_button"]]}
    return out


def selfmenu_info(acct: Account) -> dict[str, Any]:
    """``get_current_selfmenu_info``: the pushed menu once there is one, else the console's."""
    if acct.menu is not None:
        return {"is_menu_open": 1,
                "selfmenu_info": {"button": [_as_selfmenu(b) for b in acct.menu["button"]]}}
    if acct.console_menu is not None:
        return {"is_menu_open": 1, "selfmenu_info": copy.deepcopy(acct.console_menu)}
    return {"is_menu_open": 0}
