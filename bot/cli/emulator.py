"""``newsbot emulator``: a local WeChat API to point ``[wechat] api_base_url`` at."""

from __future__ import annotations

import threading

import click

from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.

DEFAULT_PORT = 8081


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to bind.")
@click.option("--appid", help="The account's AppID (default [wechat] appid).")
@click.option("--secret", help="The account's AppSecret (default [wechat] appsecret).")
@click.option("--account-type", type=click.Choice(["subscription", "service"]),
              help="Account type and its mass-send quota (default [wechat] account_type).")
@click.option("--callback", help="The bot's callback URL, for messages from emulated users.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False),
              default="newsbot-emulator.log", show_default=True,
              help="File that gets one readable line per delivery.")
@click.option("--console", "console_path", type=click.Path(dir_okay=False, exists=True),
              help="JSON file with the console's rules: {\"autoreply\": "
                   "get_current_autoreply_info's answer, \"menu\": selfmenu_info}.")
@click.option("--custom-clientmsgid", is_flag=True,
              help="Honour clientmsgid on custom/send (the emulator's own extension; WeChat "
                   "documents it for mass sends only).")
@click.pass_obj
def emulator(obj: CliState, host: str, port: int, appid: str | None, secret: str | None,
             account_type: str | None, callback: str | None, log_path: str,
             console_path: str | None, custom_clientmsgid: bool) -> None:
    """Run a local WeChat API emulator with the platform's rules (tokens, 48 h window,
    mass-send quota, rate limits) and a delivery log; point the bot at it with
    NEWSBOT_WECHAT_API_BASE_URL or [wechat] api_base_url.

    \b
    Example:
      newsbot emulator --port 8081 --callback http://127.0.0.1:8080/wechat
      newsbot emulator --console console-rules.json
      curl http://127.0.0.1:8081/emulator/deliveries
    """
    from bot.emulator import Emulator

    cfg = obj.config
    w = cfg.wechat
    console = _console(console_path) if console_path else None
    emu = Emulator(appid or w["appid"], secret or w["appsecret"],
                   account_type=account_type or w["account_type"], callback=callback,
                   token=w["token"], aes_key=w["encoding_aes_key"], log_path=log_path,
                   encrypt=cfg.wechat_mode != "plain",  # users sign as the mode wants
                   custom_clientmsgid=custom_clientmsgid)
    if console is not None:
        emu.set_console(console.get("autoreply"), console.get("menu"))
    try:
        url = emu.start(host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}") from None
    click.echo(
        f"newsbot: WeChat emulator on {url} (Ctrl-C to stop)\n"
        f"  point the bot at it:  NEWSBOT_WECHAT_API_BASE_URL={url}\n"
        f"  deliveries:           {url}/emulator/deliveries   log: {log_path}\n"
        f"  stats:                {url}/emulator/stats",
        err=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


def _console(path: str) -> dict:  # type: ignore[type-arg]
    import json
    from pathlib import Path

    from bot.emulator.account import Account
    from bot.emulator.console import ConsoleError, set_console

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConsoleError("the file must hold a JSON object")
        set_console(Account("check", "check"), data.get("autoreply"), data.get("menu"))
    except (OSError, ValueError, AttributeError) as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="'--console'") from None
    return data
