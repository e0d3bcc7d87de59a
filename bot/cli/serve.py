"""``newsbot serve``: the webhook service on uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from urllib.parse import urlsplit

import click

from bot.cli import CliState, main

# The service's modules are imported inside the commands: heavy, and each needs its own.


@main.command()
@click.option("--host", help="Address to bind (default [server] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to bind (default [server] port, 8080).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default [server] workers).")
@click.option("--demo", is_flag=True, help="Sample stories in an empty store, and a local WeChat emulator.")
@click.pass_obj
def serve(obj: CliState, host: str | None, port: int | None, workers: int | None, demo: bool) -> None:
    """Run the webhook service (the WeChat callback at /wechat).

    \b
    Example:
      newsbot serve --port 8080
      newsbot --config newsbot.toml serve --workers 4
    """
    import uvicorn

    from bot import logs, server
    from bot.app import build_services, create_app

    cfg = obj.config
    if host:
        cfg.values["server"]["host"] = host
    if port is not None:
        cfg.values["server"]["port"] = port
    workers = workers or cfg.server["workers"]
    host, port = cfg.server["host"], cfg.server["port"]
    _check_free(host, port)
    server.configure(cfg.server["read_timeout"], cfg.server["max_connections"])
    if cfg.dev:
        click.echo(
            "newsbot: no config file, running on local defaults.\n"
            f"  callback  http://{host}:{port}/wechat\n"
            f"  token     {cfg.wechat['token']}   (dev token: set a real one in a config file)\n"
            f"  store     {cfg.resolve(cfg.store['path'])}",
            err=True,
        )
    hooks = _demo_hooks(cfg) if demo else {}
    if workers > 1:
        # Opened once here too: a store or state that cannot be opened is one clear error
        # before the workers start, not a traceback from each of them (and the environment
        # is left as it was).
        services = build_services(cfg)
        for prepare in hooks.get("prepare", ()):
            prepare(services)
        services.close()
        # Each worker builds its own services from the environment.
        if obj.config_path:
            os.environ["NEWSBOT_CONFIG"] = os.path.abspath(obj.config_path)
        os.environ["NEWSBOT_STORE_PATH"] = str(cfg.resolve(cfg.store["path"]))
        # --host/--port reach the workers too (article links are built from them).
        os.environ["NEWSBOT_SERVER_HOST"], os.environ["NEWSBOT_SERVER_PORT"] = host, str(port)
        click.echo(f"newsbot: serving on http://{host}:{port} with {workers} workers", err=True)
        for k, v in hooks.get("env", {}).items():
            os.environ[k] = v
        uvicorn.run(
            "bot.app:app_from_env", factory=True, host=host, port=port, workers=workers,
            **UVICORN,
        )
        return
    services = build_services(cfg)
    for prepare in hooks.get("prepare", ()):
        prepare(services)
    app = create_app(services)
    click.echo(f"newsbot: serving on http://{host}:{port} (Ctrl-C to stop)", err=True)
    logs.buffer_stderr()  # a line per message: written in blocks (see bot.logs)
    uvicorn.run(app, host=host, port=port, **UVICORN)


# How newsbot runs uvicorn (bench/fixtures.py starts its ceiling with the same):
# - the app logs a line per message itself (bot.app); uvicorn's access line would be formatted
#   (path quoted and all) for every request, even below the log level;
# - nothing reads the client's address or scheme (WeChat's signature is the authentication,
#   links come from [server] public_url), so X-Forwarded-* headers are not rewritten;
# - no "server: uvicorn" header: it tells the world what runs here and nothing else;
# - its httptools protocol with a read timeout and a cap on open connections (bot.server).
UVICORN = {"log_level": "warning", "access_log": False, "proxy_headers": False,
           "server_header": False, "http": "bot.server:TimedHttpProtocol"}


def _demo_hooks(cfg) -> dict:  # type: ignore[no-untyped-def]
    """What ``--demo`` adds: sample stories when the store is empty (see ``store.samples``),
    and a local WeChat emulator the bot's API calls go to (see ``_start_demo_emulator``)."""
    from store.samples import import_samples_if_empty

    emu = _start_demo_emulator(cfg)

    def prepare(services) -> None:  # type: ignore[no-untyped-def]
        added = import_samples_if_empty(services.store)
        if added:
            click.echo(f"newsbot: demo store was empty, imported {added} sample stories", err=True)
        # `newsbot send` talks to the bot directly; WeChat would have seen those messages pass,
        # so the emulator is told of them (this opens the users' 48 h window).
        services.router.observers.append(lambda msg, ctx: emu.observe(msg))

    return {"prepare": [prepare],
            "env": {"NEWSBOT_WECHAT_API_BASE_URL": cfg.wechat["api_base_url"]}}


def _start_demo_emulator(cfg):  # type: ignore[no-untyped-def]
    """Serve the emulator where ``[wechat] api_base_url`` points when that is a loopback URL
    (with no config file: http://127.0.0.1:8081), else on 8081; on a free port if taken."""
    from bot.cli.emulator import DEFAULT_PORT
    from bot.emulator import Emulator

    w, s = cfg.wechat, cfg.server
    url = urlsplit(w["api_base_url"])
    port = url.port if url.hostname in ("127.0.0.1", "localhost") and url.port else DEFAULT_PORT
    host = "127.0.0.1" if s["host"] in ("0.0.0.0", "::", "") else s["host"]
    log_path = cfg.resolve("newsbot-emulator.log")
    emu = Emulator(w["appid"], w["appsecret"], account_type=w["account_type"],
                   callback=f"http://{host}:{s['port']}/wechat", token=w["token"],
                   aes_key=w["encoding_aes_key"], log_path=log_path,
                   encrypt=cfg.wechat_mode != "plain")  # users sign as the mode wants
    try:
        base = emu.start("127.0.0.1", port)
    except OSError:
        base = emu.start("127.0.0.1", 0)
    moved = base != cfg.wechat["api_base_url"].rstrip("/")
    cfg.values["wechat"]["api_base_url"] = base
    click.echo(
        f"newsbot: WeChat emulator on {base}; deliveries: {base}/emulator/deliveries, "
        f"log: {log_path}",
        err=True,
    )
    if moved:
        click.echo(f"  other commands reach it with NEWSBOT_WECHAT_API_BASE_URL={base}", err=True)
    return emu


def _check_free(host: str, port: int) -> None:
    """Fail before loading anything when the address is taken, with the fix in the message."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise click.ClickException(f"cannot bind to {host}:{port}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EACCES:
                hint = ("ports below 1024 need root; run on a port such as 8080 behind a "
                        "reverse proxy (see docs/operations.md)")
            else:
                hint = ("is newsbot (or something else) already running there? Choose another "
                        "port with --port.")
            raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}; {hint}") from None
