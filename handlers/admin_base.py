"""What every admin command shares: the registry behind ``#帮助``, argument helpers, and the
guard that makes a replayed command answer again without acting again.

A command is declared once with :func:`command` (name, aliases, usage, help); ``handlers.admin``
routes every admin ``#…`` message to the command whose name the text starts with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handlers.base import Context, Message
from store import articles

CommandFunc = Callable[[str, Message, Context], str]
ConfirmFunc = Callable[[dict[str, Any], Message, Context], str]

# A replayed mutating command answers from here instead of acting; kept well past any replay
# window and dedup TTL an operator might configure.
DONE_TTL = 86400
CONFIRM_TTL = 120


class AdminError(Exception):
    """A command cannot be done as asked; ``str(e)`` is the reply to the admin."""


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    usage: str
    summary: str
    detail: str
    func: CommandFunc
    mutates: bool


COMMANDS: list[Command] = []
# Actions that wait for #确认: name -> what to do with the pending record.
CONFIRMABLE: dict[str, ConfirmFunc] = {}
CONFIRM_KEY = "confirm"
COVER_KEY = "cover"  # a #封面 waiting for its picture


def command(
    name: str,
    *aliases: str,
    usage: str,
    summary: str,
    detail: str = "",
    mutates: bool = False,
) -> Callable[[CommandFunc], CommandFunc]:
    """Declare ``#name`` (and ``#alias``…): ``func(args, msg, ctx) -> reply text``."""

    def deco(func: CommandFunc) -> CommandFunc:
        COMMANDS.append(Command(name, aliases, usage, summary, detail, func, mutates))
        return func

    return deco


def find(text: str) -> tuple[Command, str] | None:
    """The command ``text`` (after ``#``) names, and its arguments. The longest name wins, so
    ``#推送预览`` is not ``#推送`` with ``预览``; a Latin alias must end at a word boundary."""
    best: tuple[int, Command] | None = None
    low = text.casefold()
    for cmd in COMMANDS:
        for word in (cmd.name, *cmd.aliases):
            if not low.startswith(word.casefold()):
                continue
            rest = text[len(word):]
            if word.isascii() and rest[:1].isascii() and rest[:1].isalnum():
                continue
            if best is None or len(word) > best[0]:
                best = (len(word), cmd)
    if best is None:
        return None
    return best[1], text[best[0]:].strip()


def lookup(name: str) -> Command | None:
    name = name.strip().lstrip("#").strip()
    found = find(name)
    return found[0] if found and not found[1] else None


_ID = re.compile(r"#?\s*(\d{1,9})\s*号?")


def split_id(args: str, usage: str) -> tuple[int, str]:
    """``"12 rest"`` -> (12, "rest"); a clear error when the id is missing."""
    m = _ID.match(args)
    if not m:
        raise AdminError(f"请给出稿件编号。用法：{usage}")
    return int(m.group(1)), args[m.end():].strip()


def require_article(ctx: Context, article_id: int) -> Any:
    a = articles.get(ctx.store, article_id)
    if a is None:
        raise AdminError(f"没有编号为 {article_id} 的稿件。发送 #列表 查看最近的稿件。")
    return a


def cats_label(categories: list[str]) -> str:
    return "、".join(categories) if categories else "未分类"


# -- pending state per admin (drafts, confirmations) ---------------------------------------------
def state_get(ctx: Context, key: str) -> dict[str, Any] | None:
    raw = ctx.state.get(f"admin:{key}:{ctx.user}")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def state_set(ctx: Context, key: str, value: dict[str, Any], ttl: float) -> None:
    ctx.state.set(f"admin:{key}:{ctx.user}", json.dumps(value, ensure_ascii=False), ttl)


def state_drop(ctx: Context, key: str) -> None:
    ctx.state.delete(f"admin:{key}:{ctx.user}")


def ask_confirmation(ctx: Context, action: str, what: str, **data: Any) -> str:
    """Hold ``action`` until the admin sends #确认 (within ``CONFIRM_TTL``); the prompt."""
    state_set(ctx, CONFIRM_KEY, {"action": action, "what": what, **data}, CONFIRM_TTL)
    return f"确认{what}？\n{CONFIRM_TTL // 60} 分钟内发送 #确认 执行，发送 #取消 放弃。"


# -- acting once ------------------------------------------------------------------------------
def run_once(msg: Message, ctx: Context, act: Callable[[], str]) -> str:
    """Run a mutating command at most once per message: a replay of the same MsgId (past the
    webhook's dedup record) gets the first reply back and changes nothing."""
    if not msg.id:
        return act()
    key = f"admin:done:{msg.source}:{msg.id}"
    if not ctx.state.set_if_absent(key, "", DONE_TTL):
        return ctx.state.get(key) or "该指令正在执行，请稍候查看结果。"
    try:
        reply = act()
    except BaseException:
        ctx.state.delete(key)  # it did not happen: a retry may try again
        raise
    ctx.state.set(key, reply, DONE_TTL)
    return reply
