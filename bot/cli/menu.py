"""``newsbot menu``: push the account's custom menu from ``[menu] buttons``, or show it."""

from __future__ import annotations

import json

import click

from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.


def _api(obj: CliState):  # type: ignore[no-untyped-def]
    from bot.state import open_state
    from bot.wxapi import WeChatAPI

    return WeChatAPI(obj.config, open_state(obj.config))


@main.group()
def menu() -> None:
    """The account's custom menu (the buttons under the chat), through the WeChat API.

    \b
    Example:
      newsbot menu push          # check [menu] buttons and send them to WeChat
      newsbot menu show          # what WeChat currently shows
    """


@menu.command()
@click.option("--dry-run", is_flag=True, help="Check the menu and print it; send nothing.")
@click.pass_obj
def push(obj: CliState, dry_run: bool) -> None:
    """Check [menu] buttons against WeChat's limits and push them (menu/create). With no
    [menu] buttons, the console menu `newsbot rules import` imported is pushed.

    \b
    Example:
      newsbot --config newsbot.toml menu push --dry-run
    """
    from bot.menu import MenuError, build_menu, render_menu
    from bot.wxapi import WeChatAPIError
    from store import rules as store_rules

    buttons = obj.config.menu["buttons"]
    if not buttons:
        imported = store_rules.console_menu(obj.store())
        buttons = imported["button"] if imported else []
        if buttons:
            click.echo("no [menu] buttons in the config: pushing the imported console menu")
    if not buttons:
        raise click.ClickException(
            "no [menu] buttons in the config and no console menu imported: nothing to push. "
            "Copy the [menu] section of config.example.toml into your config file and edit "
            "it, or run `newsbot rules import` first"
        )
    try:
        body = build_menu(buttons)
    except MenuError as e:
        raise click.ClickException(f"the menu breaks WeChat's rules:\n{e}") from None
    if dry_run:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    try:
        _api(obj).create_menu(body)
    except WeChatAPIError as e:
        raise click.ClickException(f"WeChat refused the menu: {e}") from None
    click.echo(f"menu pushed to {obj.config.wechat['api_base_url']}:\n{render_menu(body)}")


@menu.command()
@click.option("--json", "as_json", is_flag=True, help="Print WeChat's answer as JSON.")
@click.pass_obj
def show(obj: CliState, as_json: bool) -> None:
    """Show the menu WeChat currently has (menu/get).

    \b
    Example:
      newsbot menu show --json
    """
    from bot.menu import render_menu
    from bot.wxapi import WeChatAPIError

    try:
        got = _api(obj).get_menu()
    except WeChatAPIError as e:
        raise click.ClickException(f"cannot read the menu: {e}") from None
    if as_json:
        click.echo(json.dumps(got, ensure_ascii=False, indent=2))
    elif not got:
        click.echo("the account has no custom menu (push one with `newsbot menu push`)")
    else:
        click.echo(render_menu(got.get("menu", {})))
