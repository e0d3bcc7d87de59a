"""``newsbot stats``: the figures an admin gets from ``#统计``, for the operator."""

from __future__ import annotations

import json
import time

import click

from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@click.pass_obj
def stats(obj: CliState, as_json: bool) -> None:
    """Stories by category, subscribers, the last digest, today's messages and searches, and
    the week's top queries and those that found nothing (as #统计 answers an admin).

    \b
    Example:
      newsbot stats
      newsbot --config newsbot.toml stats --json
    """
    from bot.state import StateUnavailable, open_state
    from handlers.admin_stats import collect, render

    cfg = obj.config
    try:  # (the day's message count lives in the shared state)
        state = open_state(cfg)
        try:
            figures = collect(obj.store(), cfg, state, time.time())
        finally:
            state.close()
    except StateUnavailable as e:
        raise click.ClickException(f"cannot read the shared state: {e}") from None
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        click.echo(render(figures))
