"""``newsbot admin add|remove|list``: who may run the account by messaging it."""

from __future__ import annotations

import click

from bot.cli import CliState, main, operator

# The service's modules are imported inside the commands: heavy, and each needs its own.

_OPENID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _check_openid(openid: str) -> str:
    openid = openid.strip()
    if not (4 <= len(openid) <= 64) or not set(openid) <= _OPENID_CHARS:
        raise click.BadParameter(f"{openid!r} does not look like an openid", param_hint="OPENID")
    return openid


@main.group()
def admin() -> None:
    """Manage the account's admins (besides [admin] openids in the config).

    \b
    Example:
      newsbot admin add oAbC123xyz
      newsbot admin list
      newsbot admin remove oAbC123xyz
    """


@admin.command("add")
@click.argument("openid")
@click.pass_obj
def add(obj: CliState, openid: str) -> None:
    """Let OPENID run the account's # commands. The change is audited.

    \b
    Example:
      newsbot admin add oAbC123xyz
    """
    from store import admins

    openid = _check_openid(openid)
    if admins.add(obj.store(), openid, by=operator()):
        click.echo(f"{openid} is now an admin (takes effect within seconds)")
    else:
        click.echo(f"{openid} is already an admin")


@admin.command("remove")
@click.argument("openid")
@click.pass_obj
def remove(obj: CliState, openid: str) -> None:
    """Revoke OPENID. Admins listed in the config must be removed there.

    \b
    Example:
      newsbot admin remove oAbC123xyz
    """
    from store import admins

    openid = openid.strip()
    if admins.remove(obj.store(), openid, by=operator()):
        click.echo(f"{openid} is no longer an admin")
        if openid in obj.config.admin_openids():
            click.echo("note: it is still listed in [admin] openids of the config", err=True)
        return
    if openid in obj.config.admin_openids():
        raise click.ClickException(
            f"{openid} is set in the config ([admin] openids in {obj.config.path}); remove it there"
        )
    raise click.ClickException(f"{openid} is not an admin")


@admin.command("list")
@click.pass_obj
def list_(obj: CliState) -> None:
    """List the admins: from the config and from the store.

    \b
    Example:
      newsbot admin list
    """
    from store import admins

    rows = [(o, "config", "", "") for o in sorted(obj.config.admin_openids())]
    rows += [(a.openid, "store", a.added_at, a.added_by) for a in admins.all_admins(obj.store())]
    if not rows:
        click.echo("no admins: add one with `newsbot admin add OPENID` or [admin] openids")
        return
    for openid, where, at, by in rows:
        click.echo("\t".join(x for x in (openid, where, at, by) if x))
