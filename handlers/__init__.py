"""What the bot does: one module per capability, each declaring its routes with ``Routes``."""

from __future__ import annotations

from typing import Any

from handlers import admin, digest, fallback, latest, search, subscriptions, today
from handlers import help as help_
from handlers.base import Routes

# Modules whose ``routes`` make up the bot, in priority order of declaration.
MODULES = (
    help_,
    subscriptions,
    today,  # 今日: today's digest as a passive reply (before latest: 今天的新闻 is today's)
    latest,
    search,  # holds the default: text no other route claims
    fallback,
    admin,  # admins' #commands (admin-only routes; others' #… stays a search)
    digest,  # no routes: its setup starts the daily schedule with the service
)


def route_sets() -> list[Routes]:
    return [m.routes for m in MODULES]


def build_router() -> Any:
    from bot.router import Router

    return Router(*route_sets())


def setup_services(services: Any) -> None:
    """Give each module a chance to attach what it needs to the running services."""
    for m in MODULES:
        setup = getattr(m, "setup", None)
        if setup is not None:
            setup(services)
