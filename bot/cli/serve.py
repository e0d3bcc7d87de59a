"""``newsbot serve``: the webhook service on uvicorn."""

from __future__ import annotations

import os

import click

from bot.cli import CliState, main


@main.command()
@click.option("--host", help="Address to bind (default [server] host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default [server] port, 8080).")
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

    from bot.app import app_from_env, build_services, create_app

    cfg = obj.config
    if host:
        cfg.values["server"]["host"] = host
    if port is not None:
        cfg.values["server"]["port"] = port
    workers = workers or cfg.server["workers"]
    host, port = cfg.server["host"], cfg.server["port"]
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
        # Each worker builds its own services from the environment.
        if obj.config_path:
            os.environ["NEWSBOT_CONFIG"] = os.path.abspath(obj.config_path)
        os.environ["NEWSBOT_STORE_PATH"] = str(cfg.resolve(cfg.store["path"]))
        # --host/--port reach the workers too (article links are built from them).
        os.environ["NEWSBOT_SERVER_HOST"], os.environ["NEWSBOT_SERVER_PORT"] = host, str(port)
        if hooks.get("prepare"):
            services = build_services(cfg)
            for prepare in hooks["prepare"]:
                prepare(services)
            services.close()
        click.echo(f"newsbot: serving on http://{host}:{port} with {workers} workers", err=True)
        for k, v in hooks.get("env", {}).items():
            os.environ[k] = v
        uvicorn.run(
            "bot.app:app_from_env", factory=True, host=host, port=port, workers=workers,
            log_level="warning",
        )
        return
    services = build_services(cfg)
    for prepare in hooks.get("prepare", ()):
        prepare(services)
    app = create_app(services)
    click.echo(f"newsbot: serving on http://{host}:{port} (Ctrl-C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _demo_hooks(cfg) -> dict:  # type: ignore[no-untyped-def]
    """What ``--demo`` adds: sample stories when the store is empty (see ``store.samples``)."""
    from store.samples import import_samples_if_empty

    def prepare(services) -> None:  # type: ignore[no-untyped-def]
        added = import_samples_if_empty(services.store)
        if added:
            click.echo(f"newsbot: demo store was empty, imported {added} sample stories", err=True)

    return {"prepare": [prepare]}
