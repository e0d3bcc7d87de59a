"""Digest subscriptions by category, and who follows the account and when they last spoke.

订阅 alone (and the 订阅 menu button) subscribes to every category, because that is what a
user pressing "subscribe" expects; the reply says so and how to narrow it. 退订 alone drops
every category. The unfollow event stops all pushes; following again restores the categories
the user had chosen, and the welcome says so.
"""

from __future__ import annotations

import re

from handlers.base import END, Context, Message, Routes
from store import subscribers
from store.categories import CATEGORIES

routes = Routes()

ALL_WORDS = ("全部", "所有", "全", "all")
CHOICES = "可选：订阅 党建、订阅 社区、订阅 全部"


def _names(cats: list[str]) -> str:
    return "、".join(cats)


def _delivery(ctx: Context) -> str:
    """When the digest comes, promised only while the schedule is on."""
    if ctx.config.digest["enabled"]:
        return f"每天 {ctx.config.digest['time']} 给您推送新报道摘要"
    return "每日推送目前暂停，恢复后会给您推送新报道摘要；现在发送“今日”即可查看今天的新闻"


# what people put after a category's name: 党建新闻, 社区类, 党建的报道 (alone: 订阅新闻 = all)
_SUFFIXES = re.compile(r"(?:新闻|报道|栏目|摘要|类|的)+$")


def parse_categories(arg: str) -> list[str] | None:
    """``党建`` / ``社区`` / ``全部`` (also ``党建 社区``, ``党建,社区``, ``党建新闻``); ``None``
    if unknown."""
    arg = re.sub(END + "$", "", arg.strip())
    if not arg or arg.lower() in ALL_WORDS:
        return list(CATEGORIES)
    for sep in "，,、和及+":
        arg = arg.replace(sep, " ")
    words = [w for w in (_SUFFIXES.sub("", w) for w in arg.split()) if w]
    if not words or words in (["党建社区"], ["社区党建"]):
        words = list(CATEGORIES)
    if any(w not in CATEGORIES for w in words):
        return None
    return [c for c in CATEGORIES if c in words]


def subscribe_reply(ctx: Context, arg: str) -> str:
    cats = parse_categories(arg)
    if cats is None:
        return f"没有“{arg.strip()[:20]}”这个栏目。{CHOICES}。"
    before = subscribers.get(ctx.store, ctx.user)
    had = set(before.categories) if before else set()
    sub = subscribers.subscribe(ctx.store, ctx.user, cats)
    new = [c for c in cats if c not in had]
    if not new:
        head = f"您已经订阅了{_names(cats)}，无需重复订阅。"
    else:
        head = f"订阅成功：{_names(new)}。"
    text = f"{head}当前订阅：{_names(sub.categories)}。\n{_delivery(ctx)}。"
    if not arg.strip() and new:
        text += "\n“订阅”默认订阅全部栏目；只想看一类，发送“退订 社区”或“退订 党建”。"
    return text + "\n发送“退订”可随时取消。"


_ASKING = r"(?:我要|我想|我想要|帮我|请|请帮我)?"  # 我要订阅, 请帮我退订


@routes(regex=_ASKING + r"订阅\s*(.{0,10})", priority=40)
def subscribe(msg: Message, ctx: Context) -> str:
    return subscribe_reply(ctx, ctx.match.group(1) if ctx.match else "")


@routes(event="click", key="SUBSCRIBE", priority=40)
def subscribe_click(msg: Message, ctx: Context) -> str:
    return subscribe_reply(ctx, "")


@routes(regex=_ASKING + r"(?:退订|取消订阅|取消推送|停止推送|不要推送了?|别推送了?|不再推送)"
        r"\s*(.{0,10})", priority=40)
def unsubscribe(msg: Message, ctx: Context) -> str:
    arg = ctx.match.group(1) if ctx.match else ""
    cats = parse_categories(arg)
    if cats is None:
        return (
            f"没有“{arg.strip()[:20]}”这个栏目。"
            "可选：退订 党建、退订 社区，或只发“退订”全部取消。"
        )
    cur = subscribers.get(ctx.store, ctx.user)
    if cur is None or not cur.categories:
        return "您目前没有订阅。发送“订阅”即可订阅每日新闻摘要。"
    dropped = [c for c in cats if c in cur.categories]
    if not dropped:
        return f"您没有订阅{_names(cats)}（当前订阅：{_names(cur.categories)}）。"
    sub = subscribers.unsubscribe(ctx.store, ctx.user, cats)
    left = sub.categories if sub else []
    if left:
        return f"已退订{_names(dropped)}。您仍订阅{_names(left)}。"
    return "已退订，不再给您推送新闻摘要。想再订阅时发送“订阅”即可。"


@routes(regex=r"(?:我的订阅|订阅状态|查看订阅)" + END, priority=45)
def my_subscriptions(msg: Message, ctx: Context) -> str:
    cur = subscribers.get(ctx.store, ctx.user)
    if cur is None or not cur.categories:
        return f"您还没有订阅。{CHOICES}。"
    return (
        f"您订阅了：{_names(cur.categories)}。{_delivery(ctx)}。\n"
        "发送“退订”取消全部，或“退订 党建”“退订 社区”取消一类。"
    )


@routes(event="unsubscribe", priority=40)
def unfollow(msg: Message, ctx: Context) -> None:
    """The user left the account: nothing may be pushed to them any more."""
    subscribers.set_following(ctx.store, ctx.user, False)


@routes.observe
def note_activity(msg: Message, ctx: Context) -> None:
    """A user message or menu click opens the 48-hour customer-service window the digest uses;
    a follow makes the user reachable again (before the welcome reads their subscriptions)."""
    if msg.type != "event" or msg.event == "click":
        subscribers.touch(ctx.store, ctx.user, later=True)
    elif msg.event == "subscribe":
        subscribers.set_following(ctx.store, ctx.user, True)
