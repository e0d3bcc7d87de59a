"""Auto-reply rules as WeChat's console has them, kept in the store.

A rule has a ``kind``: ``keyword`` (answers texts its keywords match), ``welcome`` (answers a
follow), ``default`` (answers what nothing else answered) or ``menu`` (answers a click on a
console menu button, by ``menu_key``). Its keywords match the whole text (``equal``) or a part
of it (``contain``); its replies are ``text`` (``content``), ``image`` (``media_id``) or
``news`` (``title``, ``description``, ``url``, ``picurl``), sent all (``all``) or one picked at
random (``random``). There is at most one welcome and one default rule: adding one replaces it.

Every change is audited in its own transaction and moves ``rules.generation`` in ``meta``, so
a process caching the rules (``handlers.rules``) sees another process's change at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from store import audit
from store.db import Store, now_iso

KINDS = ("keyword", "welcome", "default", "menu")
MATCHES = ("equal", "contain")
MODES = ("all", "random")
REPLY_TYPES = ("text", "image", "news")
SINGLE = ("welcome", "default")  # one of each
MENU_KEY_PREFIX = "RULE_MENU_"  # the click keys of console menu buttons that answered themselves
GENERATION_KEY = "rules.generation"
MENU_KEY = "rules.menu"


@dataclass(frozen=True)
class Keyword:
    text: str
    match: str = "equal"  # equal: the whole text; contain: a part of it


@dataclass
class Rule:
    kind: str
    replies: list[dict[str, str]]
    keywords: list[Keyword] = field(default_factory=list)
    name: str = ""
    mode: str = "all"
    menu_key: str = ""
    origin: str = ""
    id: int = 0
    added_at: str = ""

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)


class RuleError(ValueError):
    """A rule that cannot be stored as given; the message says why."""


def check(rule: Rule) -> None:
    if rule.kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS)}")
    if rule.mode not in MODES:
        raise RuleError(f"reply mode must be one of {', '.join(MODES)}")
    if rule.kind == "keyword" and not rule.keywords:
        raise RuleError("a keyword rule needs at least one keyword")
    if any(not k.text.strip() or k.match not in MATCHES for k in rule.keywords):
        raise RuleError(f"a keyword needs text and a match of {', '.join(MATCHES)}")
    if not rule.replies:
        raise RuleError("a rule needs at least one reply")
    for r in rule.replies:
        if r.get("type") not in REPLY_TYPES:
            raise RuleError(f"a reply's type must be one of {', '.join(REPLY_TYPES)}")


def _row(rule: Rule) -> dict[str, Any]:
    return {"kind": rule.kind, "name": rule.name, "reply_mode": rule.mode,
            "keywords": json.dumps([asdict(k) for k in rule.keywords], ensure_ascii=False),
            "replies": json.dumps(rule.replies, ensure_ascii=False), "menu_key": rule.menu_key,
            "origin": rule.origin, "added_at": rule.added_at or now_iso()}


def _rule(r: Any) -> Rule:
    return Rule(id=int(r[0]), kind=r[1], name=r[2] or "", mode=r[3] or "all",
                keywords=[Keyword(**k) for k in json.loads(r[4] or "[]")],
                replies=json.loads(r[5] or "[]"), menu_key=r[6] or "", origin=r[7] or "",
                added_at=r[8] or "")


_COLUMNS = "id, kind, name, reply_mode, keywords, replies, menu_key, origin, added_at"


def all_rules(store: Store) -> list[Rule]:
    """Every rule, in the order they were added."""
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM reply_rules ORDER BY id").fetchall()
    return [_rule(r) for r in rows]


def get(store: Store, rule_id: int) -> Rule | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM reply_rules WHERE id = ?",
                           [rule_id]).fetchone()
    return _rule(row) if row else None


def _bump(store: Store) -> None:
    store.db.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                     " WHERE key = ?", [GENERATION_KEY])


def _insert(store: Store, rule: Rule) -> Rule:
    check(rule)
    row = store.db.execute(
        "INSERT INTO reply_rules (kind, name, reply_mode, keywords, replies, menu_key, origin,"
        " added_at) VALUES (:kind, :name, :reply_mode, :keywords, :replies, :menu_key, :origin,"
        " :added_at) RETURNING id", _row(rule)).fetchone()
    stored = get(store, int(row[0]))
    assert stored is not None
    return stored


def add(store: Store, rule: Rule, who: str) -> tuple[Rule, Rule | None]:
    """Store ``rule``; returns it with its id, and the welcome or default rule it replaced."""
    rule.origin = rule.origin or who
    with store.transaction():
        replaced = None
        if rule.kind in SINGLE:
            replaced = next((r for r in all_rules(store) if r.kind == rule.kind), None)
            if replaced is not None:
                store.db.execute("DELETE FROM reply_rules WHERE id = ?", [replaced.id])
        stored = _insert(store, rule)
        audit.record(store, who, "rule-add", before=replaced.snapshot() if replaced else None,
                     after=stored.snapshot())
        _bump(store)
    return stored, replaced


def remove(store: Store, rule_id: int, who: str) -> Rule | None:
    """Delete rule ``rule_id``; returns what it was, or ``None`` when there is none."""
    with store.transaction():
        gone = get(store, rule_id)
        if gone is None:
            return None
        store.db.execute("DELETE FROM reply_rules WHERE id = ?", [rule_id])
        audit.record(store, who, "rule-remove", before=gone.snapshot())
        _bump(store)
    return gone


def replace_imported(store: Store, rules: list[Rule], menu: dict[str, Any] | None,
                     who: str) -> list[Rule]:
    """Put the console's rules (and its menu, when given) in place of those imported before;
    rules added by hand stay, but a welcome or default rule imported replaces theirs."""
    for r in rules:
        check(r)
    with store.transaction():
        before = [r.snapshot() for r in all_rules(store) if r.origin == "console"]
        store.db.execute("DELETE FROM reply_rules WHERE origin = 'console'")
        kinds = sorted({r.kind for r in rules if r.kind in SINGLE})
        if kinds:
            marks = ", ".join("?" for _ in kinds)
            store.db.execute(f"DELETE FROM reply_rules WHERE kind IN ({marks})", kinds)
        stored = [_insert(store, Rule(**{**r.snapshot(), "origin": "console",
                                         "keywords": r.keywords})) for r in rules]
        if menu is not None:
            store.db.execute("DELETE FROM meta WHERE key = ?", [MENU_KEY])
            store.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                             [MENU_KEY, json.dumps(menu, ensure_ascii=False)])
        audit.record(store, who, "rules-import", before=before,
                     after=[r.snapshot() for r in stored])
        _bump(store)
    return stored


def console_menu(store: Store) -> dict[str, Any] | None:
    """The console menu imported last (``menu/create``'s shape), or ``None``."""
    row = store.db.execute("SELECT value FROM meta WHERE key = ?", [MENU_KEY]).fetchone()
    return json.loads(row[0]) if row else None
