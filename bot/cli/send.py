"""``newsbot send``: play WeChat and send a user's message to a running bot."""

from __future__ import annotations

import click
import httpx

from bot.callback import message_xml, post
from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.


@main.command()
@click.argument("words", nargs=-1)
@click.option("--event", type=click.Choice(["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN"],
                                           case_sensitive=False),
              help="Send an event instead of text.")
@click.option("--key", default="", help="EventKey of the event (e.g. a menu button's key).")
@click.option("--user", default="o_newsbot_cli_user", show_default=True, help="The sender's openid.")
@click.option("--encrypt", is_flag=True, help="Safe mode: encrypt the message (encrypt_type=aes).")
@click.option("--url", help="The bot's callback URL (default: http://[server] host:port/wechat).")
@click.option("--raw", is_flag=True, help="Print the reply XML as received.")
@click.pass_obj
def send(obj: CliState, words: tuple[str, ...], event: str | None, key: str, user: str, encrypt: bool,
         url: str | None, raw: bool) -> None:
    """Send the words as one text (or an event) to a running bot, signed as WeChat signs it; print the reply.

    \b
    Example:
      newsbot send 帮助
      newsbot send 订阅 党建
      newsbot send 花园口 --encrypt
      newsbot send --event subscribe
      newsbot send --event CLICK --key LATEST_DANGJIAN
    """
    text = " ".join(words) or None
    if not text and not event:
        raise click.UsageError("give TEXT to send, or --event")
    from store.webfetch import is_web_address

    if url is not None and not is_web_address(url):
        raise click.BadParameter(
            f"{url!r} is not a web address; e.g. http://127.0.0.1:8080/wechat",
            param_hint="'--url'",
        )
    cfg = obj.config
    url = url or f"http://{cfg.server['host']}:{cfg.server['port']}/wechat"
    xml = message_xml(user=user, text=text, event=event, key=key)
    try:
        reply = post(
            url, xml, cfg.wechat["token"], appid=cfg.wechat["appid"],
            aes_key=cfg.wechat["encoding_aes_key"], encrypt=encrypt,
        )
    except httpx.HTTPError as e:
        raise click.ClickException(
            f"cannot reach the bot at {url}: {e}; is `newsbot serve` running there?"
        ) from None
    if reply.kind == "error" and reply.status == 403 and "signature" in reply.raw:
        raise click.ClickException(
            f"{reply.render()}: send signs with the token of its own config "
            f"({obj.config_path or 'none given: the dev token'}); give it the server's "
            "--config, or set NEWSBOT_WECHAT_TOKEN to the server's token"
        )
    if raw:
        click.echo(reply.raw)
    else:
        click.echo(reply.render())
    if reply.kind == "error":
        raise SystemExit(1)
