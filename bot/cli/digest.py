"""``newsbot digest``: preview, send and inspect the daily digest."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bot.cli import CliState, main, progress_bar

# The service's modules are imported inside the commands: heavy, and each needs its own.


@main.group()
def digest() -> None:
    """The daily digest of new stories: preview, send now, last runs.

    \b
    Example:
      newsbot digest preview
      newsbot digest send
      newsbot digest status
    """


@digest.command()
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True,
              help="Recipients to list (0 = all).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@click.pass_obj
def preview(obj: CliState, limit: int, as_json: bool) -> None:
    """Print what a digest sent now would carry, and to whom; sends nothing.

    \b
    Example:
      newsbot digest preview --limit 50
    """
    from handlers.digest import REASONS
    from handlers.digest import preview as make_preview

    plan = make_preview(obj.store(), obj.config)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(plan.summary())
    if plan.empty:
        return
    for category, stories in plan.stories.items():
        for s in stories:
            click.echo(f"  [{category}] #{s.id} {s.title}")
    shown = plan.recipients if limit == 0 else plan.recipients[:limit]
    click.echo("recipients:" if plan.recipients else
               "recipients: none yet (users subscribe by sending 订阅 to the account)")
    for r in shown:
        what = "、".join(r.categories) or "-"
        if r.action == "send":
            click.echo(f"  send  {r.openid}  {what}")
        else:
            click.echo(f"  skip  {r.openid}  {what}  ({REASONS.get(r.reason, r.reason)})")
    if len(shown) < len(plan.recipients):
        click.echo(f"  … and {len(plan.recipients) - len(shown)} more (--limit 0 lists all)")
    for key, text in plan.texts.items():
        click.echo(f"--- text for {key} ({len(text.encode('utf-8'))} bytes) ---")
        click.echo(text)


@digest.command()
@click.option("--no-progress", is_flag=True, help="No progress bar (for cron and logs).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def send(obj: CliState, no_progress: bool, as_json: bool) -> None:
    """Send the digest now: finish any unfinished one, then the new stories; print the report.

    Exits 1 when some deliveries failed; run it again to retry them (nothing goes twice).
    Also exits 1 when this run stalled past [digest] lease_ttl and another run took over: it
    then stops sending at once, and the other run sends the rest.

    \b
    Example:
      newsbot --config newsbot.toml digest send
    """
    from bot.state import open_state
    from bot.wxapi import WeChatAPI
    from handlers.digest import DigestBusy, run_digest

    cfg = obj.config
    store = obj.store()
    state = open_state(cfg)
    api = WeChatAPI(cfg, state)
    bar = progress_bar(disable=no_progress or as_json, eta=True)
    task = bar.add_task("digest", total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    try:
        with bar:
            report = run_digest(store, api, cfg, progress=progress)
    except DigestBusy as e:
        raise click.ClickException(str(e)) from None
    finally:
        api.close()
        state.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
    if report.status == "lost":
        raise click.ClickException(
            f"this run stopped sending: {report.note}; the run that took over sends the rest"
        )
    runs = [report, *report.resumed]
    if any(r.failed for r in runs):
        retry = any(r.status == "failed" for r in runs)
        raise click.ClickException(
            "some deliveries failed (see the report above)"
            + ("; run `newsbot digest send` again to retry them" if retry else "")
        )


@digest.command()
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True,
              help="Runs to show.")
@click.pass_obj
def status(obj: CliState, limit: int) -> None:
    """Show the last digest runs: when, channel, stories, sent, skipped and failed.

    \b
    Example:
      newsbot digest status --limit 5
    """
    from store import pushlog

    store = obj.store()
    runs = pushlog.recent(store, limit)
    if not runs:
        click.echo("no digest has run yet")
        return
    from handlers.clock import shown

    table = Table("id", "started", "slot", "status", "channel", "stories", "sent",
                  "skipped", "failed")
    for d in runs:
        t = pushlog.tally(store, d.id)
        n = _n
        table.add_row(
            str(d.id), shown(d.started_at, obj.config), d.slot or "-", d.status, d.channel,
            str(len(d.article_ids)), f"{n(t, 'sent')}/{sum(sum(v.values()) for v in t.values())}",
            _reasons(t.get("skipped", {})), _reasons(t.get("failed", {})),
        )
    Console(width=160).print(table)
    left = pushlog.unfinished(store)
    if left:
        click.echo(f"unfinished: #{', #'.join(str(d.id) for d in left)} "
                   "(the next `newsbot digest send` or scheduled run finishes them)")


def _n(tally: dict[str, dict[str, int]], status: str) -> int:
    return sum(tally.get(status, {}).values())


def _reasons(d: dict[str, Any]) -> str:
    if not d:
        return "0"
    ranked = sorted(d.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{reason or '?'} {n}" for reason, n in ranked)
