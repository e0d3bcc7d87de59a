"""``newsbot search`` and ``newsbot reindex``: the bot's search, from the command line."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from bot.cli import CliState, main, progress_bar

# The service's modules are imported inside the commands: heavy, and each needs its own.


@main.command()
@click.argument("query")
@click.option("--limit", "-n", default=5, show_default=True, type=click.IntRange(1, 50),
              help="How many hits to print.")
@click.option("--offset", default=0, type=click.IntRange(0), help="Skip this many hits (paging).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def search(obj: CliState, query: str, limit: int, offset: int, as_json: bool) -> None:
    """Search the stories as the bot does; print id, title, summary, snippet and score.

    \b
    Example:
      newsbot search 天河社区养老
      newsbot search glsh --limit 3 --json
    """
    from store.search import index_is_stale
    from store.search import search as run

    if not query.strip():
        raise click.UsageError("give something to search for, e.g. newsbot search 养老")
    store = obj.store()
    if index_is_stale(store):
        click.echo("note: the search index was cut with another dictionary; "
                   "run `newsbot reindex` so every word is found", err=True)
    res = run(store, query, limit=limit, offset=offset)
    if as_json:
        click.echo(json.dumps(asdict(res), ensure_ascii=False, indent=2))
        return
    if not res.hits:
        click.echo(f"nothing found for {res.query!r}")
        return
    click.echo(f"{res.total} stories ({res.mode}: {' '.join(res.terms)})")
    for h in res.hits:
        click.echo(f"\n[{h.article_id}] {h.title}  (score {h.score:.4g})")
        if h.summary:
            click.echo(f"  {h.summary}")
        click.echo(f"  … {h.snippet}")


@main.command()
@click.pass_obj
def reindex(obj: CliState) -> None:
    """Rebuild the search index from the stored stories (after a dictionary change).

    \b
    Example:
      newsbot reindex
    """
    from store.search import rebuild

    with progress_bar() as bar:
        task = bar.add_task("indexing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        n = rebuild(obj.store(), progress=progress)
    click.echo(f"indexed {n} stories")
