"""``newsbot store``: move a whole store between backends."""

from __future__ import annotations

import click

from bot.cli import CliState, main, progress_bar


@main.group("store")
def store_group() -> None:
    """The article store as a whole.

    \b
    Example:
      newsbot store copy --to postgresql://newsbot@db.internal/newsbot
    """


@store_group.command("copy")
@click.option("--to", "dest", required=True, metavar="URL|FILE",
              help="The empty store to fill: a postgresql:// URL or a new SQLite file.")
@click.pass_obj
def copy_cmd(obj: CliState, dest: str) -> None:
    """Copy every story (ids kept), subscriber, digest and push log, audit entry and admin of
    the configured store into an empty one, with a progress bar and a row count of both at the
    end. Moving to PostgreSQL for several hosts, or back to a file.

    \b
    Example:
      newsbot store copy --to postgresql://newsbot@db.internal/newsbot
      newsbot --db postgresql://newsbot@db.internal/newsbot store copy --to newsbot.db
    """
    from pathlib import Path

    from store.copy import copy
    from store.db import is_url, open_configured

    source = obj.store()
    if not is_url(dest) and Path(dest).exists() and Path(dest).stat().st_size:
        raise click.ClickException(f"{dest} exists: copy into a new file only")
    target = open_configured(obj.config, dest)
    try:
        with progress_bar(eta=True) as bar:
            task = bar.add_task("copying", total=None)
            report = copy(source, target, lambda done, total: bar.update(
                task, completed=done, total=total))
    finally:
        target.close()
    counts = ", ".join(f"{t} {n}" for t, n in report.counts.items())
    click.echo(f"copied {report.total} rows to {getattr(target, 'path', dest)}; both stores"
               f" count: {counts}")
