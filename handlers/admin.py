"""Admin commands: ``#…`` messages from the account's admins.

The command routes are ``admin=True``; a reader's ``#…`` that names a command gets the readers'
help (:func:`reader_hash`), so the admin interface stays invisible to readers, and other text
with # is read without it. Admins are the openids in ``[admin] openids`` plus those stored
with ``newsbot admin add``; :func:`setup` gives the webhook a cached check of the stored ones.

The commands themselves live in ``admin_draft`` (adding), ``admin_content`` (managing),
``admin_stats`` and ``admin_push``; each declares its name, aliases and help with
``admin_base.command``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from handlers import (  # noqa: F401 - register their commands
    admin_content,
    admin_cover,
    admin_draft,
    admin_push,
    admin_rules,
    admin_stats,
)
from handlers.admin_base import COMMANDS, AdminError, command, find, lookup, run_once
from handlers.base import Context, Message, Routes
from handlers.help import HELP_TEXT
from store import admins

log = logging.getLogger("newsbot.admin")
routes = Routes()
routes.observe(admin_stats.count_message)

ADMIN_REFRESH = 5.0  # seconds a read of the admins table is trusted


class AdminDirectory:
    """``is_admin(openid)`` for the webhook: the config's admins, plus the store's admins read at
    most every ``refresh`` seconds (this runs for every message, so it must not query each time)."""

    def __init__(self, config: Any, store: Any, refresh: float = ADMIN_REFRESH) -> None:
        self.configured = config.admin_openids()
        self.store = store
        self.refresh = refresh
        self._stored: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def stored(self) -> frozenset[str]:
        if time.monotonic() - self._read_at > self.refresh:
            with self._lock:
                if time.monotonic() - self._read_at > self.refresh:
                    try:
                        self._stored = admins.openids(self.store)
                    except Exception:
                        log.exception("cannot read the admins table")
                    self._read_at = time.monotonic()
        return self._stored

    def __call__(self, openid: str) -> bool:
        return openid in self.configured or openid in self.stored()


@routes(regex=r"#.*", admin=True, priority=100)
def admin_command(msg: Message, ctx: Context) -> str:
    text = msg.content.strip().lstrip("#＃").strip()
    found = find(text)
    if found is None:
        word = text.split()[0] if text.split() else ""
        return f"没有“#{word}”这个命令。发送 #帮助 查看全部管理命令。"
    cmd, args = found
    log.info("admin=%s command=%s", ctx.user, cmd.name)
    try:
        if cmd.mutates:
            return run_once(msg, ctx, lambda: cmd.func(args, msg, ctx))
        return cmd.func(args, msg, ctx)
    except AdminError as e:
        return str(e)


@routes(regex=r"[#＃].*", type=("text", "voice"), priority=99)
def reader_hash(msg: Message, ctx: Context) -> Any:
    """A reader's ``#…`` (admins' go to ``admin_command`` above): one that names an admin
    command gets the readers' help, which says nothing of the admin commands; other text with
    # (a hashtag such as #养老#) is taken as if typed without the #."""
    text = msg.content.strip().lstrip("#＃").strip()
    if find(text) is not None:
        return HELP_TEXT
    words = " ".join(text.replace("＃", " ").replace("#", " ").split())
    routes = ctx.shared.routes
    if not words or routes is None:
        return HELP_TEXT
    plain = replace(msg, content=words)
    found = routes.match(plain, ctx)
    return found[0](plain, ctx) if found is not None else None


@routes(type="image", admin=True, priority=30)
def admin_image(msg: Message, ctx: Context) -> Any:
    """An admin's picture: the cover ``#封面`` waits for, else the answer anyone gets."""
    return admin_cover.cover_picture(msg, ctx)


@routes(type="text", admin=True, priority=-100)
def admin_text(msg: Message, ctx: Context) -> Any:
    """Text no other route claims: the next part of an open draft, else an ordinary search."""
    try:
        reply = admin_draft.append_to_draft(msg, ctx)
    except AdminError as e:
        return str(e)
    if reply is not None:
        return reply
    # While an admin has no draft open, their plain text is a search like anyone's.
    routes = ctx.shared.routes
    return routes.default(msg, ctx) if routes is not None and routes.default is not None else None


@command("帮助", "help", "h", usage="#帮助 [命令]", summary="管理命令说明；#帮助 删除 看单个命令")
def help_(args: str, msg: Message, ctx: Context) -> str:
    if args:
        cmd = lookup(args)
        if cmd is None:
            raise AdminError(f"没有“{args}”这个命令。发送 #帮助 查看全部管理命令。")
        names = "、".join(f"#{a}" for a in cmd.aliases)
        lines = [f"用法：{cmd.usage}", cmd.summary]
        if cmd.detail:
            lines.append(cmd.detail)
        if names:
            lines.append(f"简写：{names}")
        return "\n".join(lines)
    lines = ["管理命令（只有管理员可用）："]
    lines += [f"{c.usage}：{c.summary}" for c in COMMANDS]
    lines.append("每个命令的详细说明：#帮助 命令名，如 #帮助 添加")
    return "\n".join(lines)
