"""What the bot does: one module per capability, each declaring its routes with ``Routes``.

The bot is handed :data:`ROUTES` (as Starlette is handed ``routes=[...]``) and compiles them
into its dispatch; :func:`shared` makes what the handlers keep for the life of a process.
"""

from __future__ import annotations

from handlers import admin, fallback, latest, rules, search, subscriptions, today
from handlers import help as help_
from handlers.admin import AdminDirectory
from handlers.base import Routes, Settings, Shared
from handlers.generations import Counters
from handlers.search_cache import SearchCache
from store.db import Store

# The modules whose ``routes`` make up the bot, in priority order of declaration.
MODULES = (
    help_,
    subscriptions,
    today,  # 今日: today's digest as a passive reply (before latest: 今天的新闻 is today's)
    latest,
    rules,  # the console's auto-replies: after newsbot's own words, before the search
    search,  # holds the default: text no other route claims
    fallback,
    admin,  # admins' #commands (admin-only routes; others' #… stays a search)
)
ROUTES: list[Routes] = [m.routes for m in MODULES]


def shared(config: Settings, store: Store | None) -> Shared:
    """The admin directory (the config's admins and the store's; without a store, the
    config's alone), the process's search cache and its compiled keyword rules."""
    is_admin = (
        AdminDirectory(config, store) if store is not None else config.admin_openids().__contains__
    )
    counters = Counters()  # both caches check the store's generations in one read
    return Shared(is_admin=is_admin, search_cache=SearchCache(counters=counters),
                  rules=rules.RuleCache(counters))
