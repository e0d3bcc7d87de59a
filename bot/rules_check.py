"""What answers a text: newsbot's own words, a keyword rule, or the search. For ``newsbot rules
test`` and for the warnings of ``rules add`` / ``rules import`` about keywords that one of
newsbot's own words takes first."""

from __future__ import annotations

from typing import Any

from bot.router import build_router
from bot.state import open_state
from handlers.base import Context, Message, Shared
from handlers.rules import RuleBook, RuleCache, describe
from store import rules as store_rules


def _route(router: Any, config: Any, store: Any, state: Any, text: str) -> str | None:
    """The name of the route a reader's ``text`` takes (``None``: nothing answers)."""
    msg = Message(type="text", source="o_newsbot_rules_check", target="gh_newsbot",
                  create_time=0, id="1", content=text)
    shared = Shared(is_admin=lambda openid: False, rules=RuleCache())
    ctx = Context(user=msg.source, is_admin=False, config=config, state=state, store=store,
                  shared=shared)
    found = router.find(msg, ctx)
    return None if found is None else found.name


def _open(config: Any) -> tuple[Any, Any]:
    return build_router(), open_state(config)


def who_answers(config: Any, store: Any, text: str) -> str:
    router, state = _open(config)
    try:
        name = _route(router, config, store, state, text)
    finally:
        state.close()
    book = RuleBook.build(store_rules.all_rules(store))
    rule = book.find(text)
    if name == "keyword_reply" and rule is not None:
        return f"rule {describe(rule)}"
    if rule is not None:
        return f"newsbot's {name} answers first; rule {rule.id} is not reached"
    if name in (None, getattr(router.default, "__name__", "")):
        default = book.default
        tail = f"; when it finds nothing: rule {describe(default)}" if default else ""
        return f"no rule: the search answers{tail}"
    return f"no rule: newsbot's {name} answers"


def hidden_keywords(config: Any, store: Any, rules: list[Any]) -> list[str]:
    """``keyword (rule N): newsbot's X`` for each full-match keyword of ``rules`` that one of
    newsbot's own words takes first."""
    router, state = _open(config)
    out = []
    try:
        for r in rules:
            for k in r.keywords:
                if k.match != "equal":
                    continue
                name = _route(router, config, store, state, k.text)
                if name not in (None, "keyword_reply"):
                    out.append(f"{k.text} (rule {r.id}): newsbot's {name} answers it first")
    finally:
        state.close()
    return out
