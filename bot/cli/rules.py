"""``newsbot rules``: the console's auto-replies, imported from WeChat and kept by newsbot."""

from __future__ import annotations

import click

from bot.cli import CliState, main, operator


@main.group()
def rules() -> None:
    """Auto-reply rules: keyword replies, the welcome, the default reply, console menu buttons.

    \b
    Example:
      newsbot rules import                    # read the console's rules and menu from WeChat
      newsbot rules add 办公时间 --reply "工作日 9:00-17:00"
      newsbot rules test 办公时间
    """


def _api(obj: CliState):  # type: ignore[no-untyped-def]
    from bot.state import open_state
    from bot.wxapi import WeChatAPI

    return WeChatAPI(obj.config, open_state(obj.config))


def _read_console(obj: CliState) -> tuple[dict, dict | None, bool]:
    """WeChat's reports: auto-replies, the menu (``None`` when it is one pushed through the
    API, which has replaced the console's), and whether a pushed menu was found."""
    from bot.wxapi import WeChatAPIError

    api = _api(obj)
    try:
        autoreply = api.autoreply_info()
        pushed = bool(api.get_menu())
        selfmenu = None if pushed else api.selfmenu_info()
    except WeChatAPIError as e:
        raise click.ClickException(f"cannot read the console's rules from WeChat: {e}") from None
    finally:
        api.close()
    return autoreply, selfmenu, pushed


@rules.command(name="import")
@click.pass_obj
def import_(obj: CliState) -> None:
    """Read the console's auto-replies (get_current_autoreply_info) and menu
    (get_current_selfmenu_info) and keep them in place of those imported before; print what
    was imported and what newsbot cannot reply with.

    \b
    Example:
      newsbot --config newsbot.toml rules import
    """
    from bot.console_rules import convert
    from handlers.rules import describe
    from store import rules as store_rules

    autoreply, selfmenu, pushed = _read_console(obj)
    got = convert(autoreply, selfmenu)
    stored = store_rules.replace_imported(obj.store(), got.rules, got.menu, operator())
    click.echo(f"imported {len(stored)} rules:")
    for r in stored:
        click.echo(f"  {describe(r)}")
    if pushed:
        click.echo("menu: not imported. WeChat now reports the menu pushed with `newsbot menu "
                   "push`, not the console's; import the console menu before the first push")
    elif got.menu is not None:
        click.echo(f"menu: {len(got.menu['button'])} buttons imported; `newsbot menu push` "
                   "pushes it when [menu] buttons is empty")
    else:
        click.echo("menu: the console has none")
    if got.not_carried:
        click.echo("not carried:")
        for line in got.not_carried:
            click.echo(f"  {line}")
    _warn_hidden(obj, stored)


def _warn_hidden(obj: CliState, stored: list) -> None:  # type: ignore[type-arg]
    from bot.rules_check import hidden_keywords

    hidden = hidden_keywords(obj.config, obj.store(), stored)
    if hidden:
        click.echo("taken first by newsbot's own words:")
        for line in hidden:
            click.echo(f"  {line}")


@rules.command(name="list")
@click.pass_obj
def list_(obj: CliState) -> None:
    """List the rules with their numbers.

    \b
    Example:
      newsbot rules list
    """
    from handlers.rules import describe
    from store import rules as store_rules

    found = store_rules.all_rules(obj.store())
    if not found:
        click.echo("no rules (newsbot rules import, or newsbot rules add)")
    for r in found:
        click.echo(describe(r))


@rules.command()
@click.argument("keywords", nargs=-1)
@click.option("--reply", "texts", multiple=True, help="A text reply (repeat for several).")
@click.option("--image", "images", multiple=True, help="A picture reply, by WeChat media id.")
@click.option("--contain", is_flag=True, help="Match texts that contain a keyword.")
@click.option("--random", "random_one", is_flag=True, help="Send one reply at random, not all.")
@click.option("--welcome", "kind", flag_value="welcome", help="The reply to a new follower.")
@click.option("--default", "kind", flag_value="default",
              help="The reply when nothing else answers.")
@click.pass_obj
def add(obj: CliState, keywords: tuple[str, ...], texts: tuple[str, ...],
        images: tuple[str, ...], contain: bool, random_one: bool, kind: str | None) -> None:
    """Add a keyword rule (or set the welcome or default reply).

    \b
    Example:
      newsbot rules add 办公时间 上班时间 --reply "工作日 9:00-17:00"
      newsbot rules add 社保 --contain --reply "社保咨询：12333"
      newsbot rules add --welcome --reply "欢迎关注！"
    """
    from handlers.rules import describe
    from store import rules as store_rules
    from store.rules import Keyword, Rule, RuleError

    kind = kind or "keyword"
    if kind == "keyword" and not keywords:
        raise click.UsageError("give the KEYWORDS the rule answers (or --welcome / --default)")
    if kind != "keyword" and keywords:
        raise click.UsageError(f"--{kind} takes no keywords")
    replies = [{"type": "text", "content": t} for t in texts if t.strip()]
    replies += [{"type": "image", "media_id": m} for m in images if m.strip()]
    if not replies:
        raise click.UsageError("give at least one --reply TEXT or --image MEDIA_ID")
    rule = Rule(kind=kind, replies=replies, mode="random" if random_one else "all",
                keywords=[Keyword(k, "contain" if contain else "equal") for k in keywords])
    try:
        stored, replaced = store_rules.add(obj.store(), rule, operator())
    except RuleError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"added {describe(stored)}")
    if replaced is not None:
        click.echo(f"replaced {describe(replaced)}")
    _warn_hidden(obj, [stored])


@rules.command()
@click.argument("number", type=int)
@click.pass_obj
def remove(obj: CliState, number: int) -> None:
    """Remove rule NUMBER (see `newsbot rules list`).

    \b
    Example:
      newsbot rules remove 3
    """
    from handlers.rules import describe
    from store import rules as store_rules

    gone = store_rules.remove(obj.store(), number, operator())
    if gone is None:
        raise click.ClickException(f"there is no rule {number} (see `newsbot rules list`)")
    click.echo(f"removed {describe(gone)}")


@rules.command()
@click.argument("words", nargs=-1, required=True)
@click.pass_obj
def test(obj: CliState, words: tuple[str, ...]) -> None:
    """Say what answers the text WORDS: one of newsbot's own words, a rule, or the search
    (and the default reply when it finds nothing).

    \b
    Example:
      newsbot rules test 办公时间
    """
    from bot.rules_check import who_answers

    click.echo(who_answers(obj.config, obj.store(), " ".join(words)))
