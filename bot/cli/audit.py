"""``newsbot audit``: the admins' actions, newest first."""

from __future__ import annotations

import json
from typing import Any

import click

from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.


def _brief(value: Any, limit: int = 80) -> str:
    """A before/after value on one line; a story's body is summed up, not printed."""
    if value is None:
        return "-"
    if isinstance(value, dict) and isinstance(value.get("body"), list):
        value = {**value, "body": f"<{len(value['body'])} paragraphs>"}
        value.pop("captions", None)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@main.command()
@click.option("--limit", "-n", type=click.IntRange(1, 100000), default=50, show_default=True,
              help="Entries to show.")
@click.option("--admin", "admin", metavar="OPENID", help="Only this admin's actions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, in full.")
@click.pass_obj
def audit(obj: CliState, limit: int, admin: str | None, as_json: bool) -> None:
    """List the audit log: who did what to which story, when, before and after.

    \b
    Example:
      newsbot audit --limit 20
      newsbot audit --admin oAbC123xyz --json
    """
    from handlers.clock import shown
    from store.audit import entries

    rows = entries(obj.store(), limit=limit, admin=admin)
    if not rows:
        click.echo("no audit entries" + (f" for {admin}" if admin else ""))
        return
    for e in rows:
        if as_json:
            click.echo(json.dumps(e.__dict__, ensure_ascii=False))
            continue
        story = f"#{e.article_id}" if e.article_id is not None else "-"
        click.echo(
            f"{e.id}\t{shown(e.at, obj.config)}\t{e.admin}\t{e.action}\t{story}\t"
            f"{_brief(e.before)} -> {_brief(e.after)}"
        )
