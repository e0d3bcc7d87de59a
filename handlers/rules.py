"""The console's auto-replies, kept by newsbot once the account's server is switched on (WeChat
then stops applying them): keyword rules, the welcome on follow, the default reply, and the
replies of the console menu's buttons.

Where a rule stands: admins' commands and a pick in an open list come first (number rules such
as "回复1" are common in the console; a rule never hides a pick), then newsbot's own words
(帮助, 订阅, 最新, 下一页…), then the keyword rules, then the search, and the default reply
only when the search found nothing (or for a message newsbot cannot read). A full match beats a
partial one; among equals the rule added first wins. Texts and keywords are compared after the
same folding: full-width forms, traditional characters, case, trailing punctuation.

``reply_mode`` all: every reply; the texts go as one message, and a picture or news beyond the
first reply follows as a customer-service message. random: one reply picked at random.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from handlers import listing
from handlers.base import Article, Context, Image, Message, News, Reply, Routes, Text
from handlers.generations import Counters
from store import query
from store import rules as store_rules
from store.rules import MENU_KEY_PREFIX, Rule

log = logging.getLogger("newsbot.rules")
routes = Routes()

PRIORITY = 35  # above the picks (30) and the search, below newsbot's own words (40 and up)
_TRAILING = re.compile(r"[\s!！。.~～?？,，、…;；:：]+$")


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """``text`` as rules compare it: NFKC, simplified, case-folded, no trailing punctuation."""
    return _TRAILING.sub("", query.normalise(text).strip())


@dataclass
class RuleBook:
    """The rules compiled for matching: one dict look-up for full matches, then a scan of the
    partial keywords in rule order."""

    equal: dict[str, Rule] = field(default_factory=dict)
    contain: list[tuple[str, Rule]] = field(default_factory=list)
    menu: dict[str, Rule] = field(default_factory=dict)
    welcome: Rule | None = None
    default: Rule | None = None

    @classmethod
    def build(cls, rules: list[Rule]) -> RuleBook:
        book = cls()
        for r in rules:
            if r.kind in ("welcome", "default"):
                setattr(book, r.kind, r)
            elif r.kind == "menu" and r.menu_key:
                book.menu.setdefault(r.menu_key, r)
            for k in r.keywords if r.kind == "keyword" else ():
                key = fold(k.text)
                if not key:
                    continue
                if k.match == "equal":
                    book.equal.setdefault(key, r)
                else:
                    book.contain.append((key, r))
        return book

    def find(self, text: str) -> Rule | None:
        key = fold(text)
        if not key:
            return None
        hit = self.equal.get(key)
        if hit is not None:
            return hit
        for word, rule in self.contain:
            if word in key:
                return rule
        return None


class RuleCache:
    """The process's compiled rules, rebuilt when the store's rules generation moves (read once
    per turn of the event loop with the stories', see handlers.generations)."""

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters = counters or Counters()
        self._lock = threading.Lock()
        self._book: tuple[int, RuleBook] | None = None

    def book(self, store: Any) -> RuleBook:
        gen = self.counters.current(store).rules
        held = self._book
        if held is not None and held[0] == gen:
            return held[1]
        with self._lock:
            book = RuleBook.build(store_rules.all_rules(store))
            self._book = (gen, book)
        return book


def book(ctx: Context) -> RuleBook:
    cache = ctx.shared.rules
    if cache is None:
        return RuleBook.build(store_rules.all_rules(ctx.store))
    return cache.book(ctx.store)


# -- replies ------------------------------------------------------------------------------------
def _value(item: dict[str, str]) -> Reply:
    kind = item.get("type")
    if kind == "image":
        return Image(item.get("media_id", ""))
    if kind == "news":
        arts = item.get("articles") or [item]
        return News([Article(str(a.get("title", "")), str(a.get("description", "")),
                             str(a.get("url", "")), str(a.get("picurl", ""))) for a in arts])
    return Text(item.get("content", ""))


def answer(rule: Rule, msg: Message, ctx: Context) -> Reply:
    """What ``rule`` says to ``msg``: see the module docstring for the two reply modes."""
    if rule.mode == "random":
        return _value(random.choice(rule.replies))
    texts = [r.get("content", "") for r in rule.replies if r.get("type") == "text"]
    others = [_value(r) for r in rule.replies if r.get("type") != "text"]
    values: list[Reply] = ([Text("\n\n".join(texts))] if texts else []) + others
    if len(values) > 1 and ctx.api is not None:
        threading.Thread(target=_send_after, args=(ctx.api, msg.source, values[1:]),
                         daemon=True, name="rule-replies").start()
    return values[0]


def _send_after(api: Any, openid: str, values: list[Reply]) -> None:
    """The replies of a reply-all rule beyond the first, as customer-service messages, after
    the passive reply has had time to arrive."""
    threading.Event().wait(1.0)
    for v in values:
        try:
            if isinstance(v, Image):
                api.send_image(openid, v.media_id)
            elif isinstance(v, News) and v.articles:
                a = v.articles[0]
                api.send_article(openid, a.title, a.description, a.url, a.picurl)
        except Exception:  # the first reply went; these are best effort
            log.warning("a rule's further reply failed user=%s", openid, exc_info=True)


def needs_network(rule: Rule) -> bool:
    return rule.mode == "all" and sum(r.get("type") != "text" for r in rule.replies) + (
        any(r.get("type") == "text" for r in rule.replies)) > 1


# -- the routes ---------------------------------------------------------------------------------
def keyword_rule(msg: Message, ctx: Context) -> Rule | None:
    """The keyword rule that answers ``msg``; none for a pick while a list is open."""
    rule = book(ctx).find(msg.content)
    if rule is None:
        return None
    said = unicodedata.normalize("NFKC", msg.content).strip()
    if listing.PICK.fullmatch(said) and listing.load(ctx) is not None:
        return None
    return rule


def _matches(msg: Message, ctx: Context) -> bool:
    return keyword_rule(msg, ctx) is not None


def _quick(msg: Message, ctx: Context) -> bool:
    rule = keyword_rule(msg, ctx)
    return rule is None or not needs_network(rule)


@routes(type="text", when=_matches, priority=PRIORITY, quick=_quick)
def keyword_reply(msg: Message, ctx: Context) -> Reply:
    rule = keyword_rule(msg, ctx)
    return None if rule is None else answer(rule, msg, ctx)


def _menu_button(msg: Message, ctx: Context) -> bool:
    return msg.key.startswith(MENU_KEY_PREFIX) and msg.key in book(ctx).menu


@routes(event="click", when=_menu_button, priority=PRIORITY, quick=True)
def menu_reply(msg: Message, ctx: Context) -> Reply:
    rule = book(ctx).menu.get(msg.key)
    return None if rule is None else answer(rule, msg, ctx)


def welcome_reply(msg: Message, ctx: Context) -> Reply:
    """The console's welcome, or ``None`` when there is none."""
    rule = book(ctx).welcome
    return None if rule is None else answer(rule, msg, ctx)


def default_reply(msg: Message, ctx: Context) -> Reply:
    """The console's reply to what nothing answered, or ``None`` when there is none."""
    rule = book(ctx).default
    return None if rule is None else answer(rule, msg, ctx)


# -- for people ---------------------------------------------------------------------------------
KIND_LABELS = {"keyword": "关键词", "welcome": "被关注回复", "default": "收到消息回复",
               "menu": "菜单按钮"}
_REPLY_LABELS = {"text": "文字", "image": "图片", "news": "图文"}


def describe_reply(item: dict[str, Any]) -> str:
    kind = item.get("type", "")
    if kind == "text":
        body = " ".join(str(item.get("content", "")).split())
        return body if len(body) <= 30 else body[:29] + "…"
    if kind == "image":
        return f"[图片 {item.get('media_id', '')}]"
    arts = item.get("articles") or [item]
    return f"[图文 {arts[0].get('title', '')}]"


def describe(rule: Rule) -> str:
    """One line per rule: number, kind or keywords, replies."""
    if rule.kind == "keyword":
        what = "、".join(k.text + ("（包含）" if k.match == "contain" else "")
                        for k in rule.keywords)
    elif rule.kind == "menu":
        what = f"菜单“{rule.name}”"
    else:
        what = KIND_LABELS[rule.kind]
    mode = "（随机一条）" if rule.mode == "random" and len(rule.replies) > 1 else ""
    replies = " / ".join(describe_reply(r) for r in rule.replies)
    return f"{rule.id}. {what} => {replies}{mode}"
