"""The ``newsbot`` command line. Each command is thin: it calls what the service calls.

Subcommands live in sibling modules that attach themselves to ``main``; ``COMMAND_MODULES``
lists them. A command imports the service's modules it uses inside itself: they are heavy
(jieba and the search models, the page extractor, the API client, the web server), and so
``newsbot --help`` and each command load only their own.
"""

from __future__ import annotations

import getpass
import importlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot import logs
from bot.config import Config, ConfigError, load_config
from bot.state import StateUnavailable
from store.db import StoreError, open_configured


@dataclass
class CliState:
    config_path: str | None
    db_path: str | None
    _config: Config | None = None
    _store: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            if self.db_path and self.db_path.startswith(("postgresql://", "postgres://")):
                self._config.values["store"].update(backend="postgres", url=self.db_path)
            elif self.db_path:
                self._config.values["store"].update(backend="sqlite",
                                                    path=os.path.abspath(self.db_path))
        return self._config

    def store(self) -> Any:
        """The article store named by ``--db`` or ``[store]``."""
        if self._store is None:
            self._store = open_configured(self.config)
        return self._store


class NewsbotGroup(click.Group):
    """Turns the project's own errors, and SQLite's about the store (full disk, locked,
    damaged), into one clear line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, StoreError, StateUnavailable) as e:
            raise click.ClickException(str(e)) from None
        except (sqlite3.Error, UnicodeDecodeError) as e:
            raise click.ClickException(store_failure(_store_path(ctx), e)) from None


def _store_path(ctx: click.Context) -> str:
    obj = ctx.find_object(CliState)
    try:
        return str(obj.config.resolve(obj.config.store["path"])) if obj else "the store"
    except ConfigError:
        return "the store"


def store_failure(path: str, e: Exception) -> str:
    """What to tell an operator whose command met SQLite failing on the store at ``path``."""
    text = str(e)
    low = text.lower()
    if "full" in low or "i/o error" in low:
        return (f"store {path}: cannot write ({text}); the step that failed left nothing"
                " behind. Free some disk space and run the command again.")
    if "locked" in low or "busy" in low:
        return (f"store {path} is locked by another process ({text}); run the command again"
                " when it has finished.")
    if isinstance(e, UnicodeDecodeError) or "decode" in low or "malformed" in low \
            or type(e) is sqlite3.DatabaseError:
        return (f"store {path} is damaged ({text.split(' with text')[0][:80]}); restore it from a backup"
                " (docs/operations.md).")
    return f"store {path}: {text[:200]}"


@click.group(cls=NewsbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="NEWSBOT_CONFIG",
    help="TOML config file (default: $NEWSBOT_CONFIG, else safe local defaults).",
)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="Article store: a SQLite file, or a postgresql:// URL; overrides [store].")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="newsbot")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_path: str | None, verbose: bool) -> None:
    """newsbot: the WeChat Official Account bot for party-building and community news.

    \b
    Example:
      newsbot serve --demo          # serve on 127.0.0.1:8080 with sample stories
      newsbot send 帮助              # talk to it as a WeChat user would
    """
    logs.configure(logging.DEBUG if verbose else logging.INFO)
    ctx.obj = CliState(config_path, db_path)


def operator() -> str:
    """Who the audit log names for a change made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def progress_bar(disable: bool = False, eta: bool = False) -> Any:
    """The bar of long work (import, reindex, digest send): on stderr, so stdout keeps only the
    results; gone when done; not drawn at all when stderr is not a terminal (a pipe or a log)."""
    console = Console(stderr=True)
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if eta:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True,
                    disable=disable or not console.is_terminal)


COMMAND_MODULES = (
    "serve", "send", "search", "admin", "audit", "digest", "emulator", "menu", "articles", "stats",
    "rules", "converse", "stores",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"bot.cli.{_name}")
