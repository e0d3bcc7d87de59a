"""``newsbot send``: play a WeChat user and send a message to a running bot.

When ``[wechat] api_base_url`` is a local emulator (one on this machine that answers
``/emulator/stats``), the message goes through it, as WeChat's would: the emulator notes the
user (who can then receive the digest) and signs the message. Otherwise it goes straight to the
bot, signed here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from bot.callback import BotReply, message_xml, post, read_reply
from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@main.command()
@click.argument("words", nargs=-1)
@click.option("--event", type=click.Choice(["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN"],
                                           case_sensitive=False),
              help="Send an event instead of text.")
@click.option("--key", default="", help="EventKey of the event (e.g. a menu button's key).")
@click.option("--user", default="o_newsbot_cli_user", show_default=True, help="The sender's openid.")
@click.option("--encrypt", is_flag=True,
              help="Encrypt the message (encrypt_type=aes); always so in compat and safe mode.")
@click.option("--url", help="The bot's callback URL (default: http://[server] host:port/wechat).")
@click.option("--direct", is_flag=True,
              help="Send straight to the bot even when a local emulator is configured.")
@click.option("--raw", is_flag=True, help="Print the reply XML as received.")
@click.pass_obj
def send(obj: CliState, words: tuple[str, ...], event: str | None, key: str, user: str, encrypt: bool,
         url: str | None, direct: bool, raw: bool) -> None:
    """Send the words as one text (or an event) to a running bot, signed as WeChat signs it; print
    the reply. Through the local emulator when [wechat] api_base_url is one.

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
    emulator = None if direct else local_emulator(cfg.wechat["api_base_url"])
    if emulator is not None:
        reply = _via_emulator(emulator, user, text, event, key, url, encrypt)
    else:
        reply = _direct(obj, url, user, text, event, key, encrypt)
    click.echo(reply.raw if raw else reply.render())
    if reply.kind == "error":
        raise SystemExit(1)


def local_emulator(base: str) -> str | None:
    """``base`` when it is an emulator on this machine, else ``None`` (nothing is asked of an
    address elsewhere, WeChat's included)."""
    base = str(base).rstrip("/")
    if urlsplit(base).hostname not in LOOPBACK:
        return None
    try:
        r = httpx.get(f"{base}/emulator/stats", timeout=1.0)
        return base if r.status_code == 200 and isinstance(r.json(), dict) else None
    except (httpx.HTTPError, ValueError):
        return None


def _via_emulator(base: str, user: str, text: str | None, event: str | None, key: str,
                  url: str, encrypt: bool) -> BotReply:
    body: dict[str, Any] = {"callback": url, "encrypt": encrypt}
    if event:
        action, body = "event", {**body, "event": event, "key": key}
    else:
        action, body = "say", {**body, "text": text}
    try:
        r = httpx.post(f"{base}/emulator/users/{user}/{action}", json=body, timeout=30)
        got = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise click.ClickException(f"the emulator at {base} did not answer: {e}") from None
    if r.status_code != 200:
        raise click.ClickException(f"{got.get('error', r.text)}; is `newsbot serve` running "
                                   f"at {url}?")
    # the emulator read the bot's reply already (decrypted): its raw text reads back as is
    reply = read_reply(int(got.get("status", 200)), str(got.get("raw", "")), "")
    if reply.kind == "error" and reply.status == 403 and "signature" in reply.raw:
        raise click.ClickException(
            f"{reply.render()}: the emulator at {base} signs with the token it was started "
            "with; start it with the bot's config (newsbot --config ... emulator)")
    return reply


def _direct(obj: CliState, url: str, user: str, text: str | None, event: str | None,
            key: str, encrypt: bool) -> BotReply:
    cfg = obj.config
    xml = message_xml(user=user, text=text, event=event, key=key)
    try:
        reply = post(
            url, xml, cfg.wechat["token"], appid=cfg.wechat["appid"],
            aes_key=cfg.wechat["encoding_aes_key"],
            encrypt=encrypt or cfg.wechat_mode != "plain",  # as WeChat sends in that mode
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
    return reply
