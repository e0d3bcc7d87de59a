"""Configuration: one TOML file, every key declared once in ``SCHEMA``.

The schema is the single source of truth: the loader reads exactly these keys, fills defaults,
applies ``NEWSBOT_<SECTION>_<KEY>`` environment overrides, and checks types. A test holds
``config.example.toml`` to the same list, so the docs cannot drift from the code.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Safe local defaults, used only when no config file is given. The server then binds to loopback.
DEV_TOKEN = "newsbot-dev-token"
DEV_APPID = "wxnewsbotdev00001"
DEV_AES_KEY = "bmV3c2JvdC1kZXZlbG9wbWVudC1rZXktZm9yLWxvYyE"  # 43 chars, decodes to 32 bytes
DEV_SECRET = "newsbot-dev-secret"
# Only a local emulator accepts the dev credentials: `newsbot emulator` / `serve --demo` listen here.
DEV_API_BASE_URL = "http://127.0.0.1:8081"


class ConfigError(Exception):
    """A key is missing or malformed; the message names the key and the file."""


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    doc: str
    required: bool = False  # required when a config file is given
    choices: tuple[str, ...] = ()


# section -> key -> Key
SCHEMA: dict[str, dict[str, Key]] = {
    "wechat": {
        "token": Key(str, DEV_TOKEN, "token set in the WeChat console", required=True),
        "appid": Key(str, DEV_APPID, "the account's AppID", required=True),
        "appsecret": Key(str, DEV_SECRET, "the account's AppSecret (outbound API)"),
        "encoding_aes_key": Key(str, DEV_AES_KEY, "EncodingAESKey, 43 chars (safe mode)"),
        "mode": Key(
            str, "auto", "message mode: auto (safe when an EncodingAESKey of your own is set,"
            " else plain), plain, compat or safe", choices=("auto", "plain", "compat", "safe"),
        ),
        "api_base_url": Key(str, "https://api.weixin.qq.com", "base URL of the WeChat API"),
        "account_type": Key(
            str, "subscription", "subscription or service", choices=("subscription", "service")
        ),
    },
    "server": {
        "host": Key(str, "127.0.0.1", "address to bind"),
        "port": Key(int, 8080, "port to bind"),
        "public_url": Key(str, "", "public base URL of article pages (default http://host:port)"),
        "replay_window": Key(int, 300, "refuse requests older than this many seconds; 0 = off"),
        "max_body": Key(int, 65536, "largest accepted request body in bytes"),
        "reply_budget": Key(
            float, 4.0, "seconds a handler may take before the reply goes out by the API"
        ),
        "workers": Key(int, 1, "worker processes for `newsbot serve`"),
        "read_timeout": Key(
            float, 5.0, "seconds a client may take to send a request's headers and body"
        ),
        "max_connections": Key(
            int, 800, "open connections per worker process; more are closed at once"
        ),
    },
    "store": {
        "backend": Key(str, "sqlite", "where durable data lives: a SQLite file (one host) or"
                       " PostgreSQL (several hosts)", choices=("sqlite", "postgres")),
        "path": Key(str, "newsbot.db", "SQLite file of articles, subscribers and logs"),
        "url": Key(str, "", "PostgreSQL URL of the postgres backend, postgresql://user@host/db"
                   " (the password from NEWSBOT_STORE_URL or PGPASSWORD)"),
        "pool_size": Key(int, 4, "PostgreSQL connections per process at most"),
        "connect_timeout": Key(float, 2.0, "seconds to wait for a PostgreSQL connection"),
        "prepared_statements": Key(bool, True, "let PostgreSQL keep the plans of statements a"
                                   " connection repeats; false behind a pooler that cannot"
                                   " (PgBouncer before 1.21 in transaction mode)"),
    },
    "state": {
        "backend": Key(str, "sqlite", "shared state backend", choices=("sqlite", "redis")),
        "path": Key(str, "newsbot-state.db", "SQLite file of the sqlite state backend"),
        "url": Key(str, "redis://127.0.0.1:6379/0", "Redis URL of the redis state backend"),
        "dedup_ttl": Key(int, 300, "seconds a message's reply is kept for WeChat's retries"),
        "session_ttl": Key(int, 1800, "seconds a subscriber's conversation state is kept"),
    },
    "admin": {
        "openids": Key(list, [], "openids of the account's admins"),
        "draft_ttl": Key(int, 1800, "seconds an admin's unfinished #添加 draft is kept"),
        "fetch_timeout": Key(float, 3.0, "seconds #链接 may spend fetching a page, in all"),
        "fetch_max_bytes": Key(int, 2000000, "largest page #链接 will fetch, in bytes"),
        "fetch_private": Key(bool, False, "let #链接 fetch loopback and private addresses"),
    },
    "search": {
        "page_size": Key(int, 5, "stories per page of a search reply"),
    },
    "pages": {
        "site_name": Key(str, "党建社区新闻", "name in the masthead of the article pages"),
        "default_cover": Key(
            str, "", "picture address (https://) on news cards of stories without a cover;"
            " empty: the bot's own /cover.png"
        ),
    },
    "import": {
        "sources": Key(
            dict, {}, "file-name patterns (*.txt globs) to the source's name on article pages"
        ),
    },
    "digest": {
        "enabled": Key(bool, True, "run the daily digest schedule with the service"),
        "time": Key(str, "08:00", "local time of the daily digest, HH:MM"),
        "timezone": Key(str, "Asia/Shanghai", "time zone of [digest] time"),
        "channel": Key(
            str, "customer_service", "delivery channel", choices=("customer_service", "mass")
        ),
        "concurrency": Key(int, 16, "deliveries in flight at once"),
        "rate": Key(float, 400.0, "deliveries per second at most"),
        "misfire_grace": Key(int, 3600, "seconds a missed run may still start late (once)"),
        "leader_ttl": Key(
            float, 30.0, "seconds the schedule's leader lock lasts; another process takes over"
            " this long after the leader dies"
        ),
        "lease_ttl": Key(
            float, 60.0, "seconds a digest run's lease lasts without renewal; a run stalled"
            " longer may be taken over, and then stops sending"
        ),
        "max_stories": Key(int, 8, "stories listed per category in one digest; the rest are counted"),
    },
    "menu": {
        "buttons": Key(list, [], "custom menu buttons: {name, type, key|url, sub_button}"),
    },
    "log": {
        "level": Key(str, "INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    },
}

@dataclass
class Config:
    """Loaded configuration: ``cfg.section["key"]`` or ``cfg.get("section", "key")``."""

    values: dict[str, dict[str, Any]]
    path: Path | None = None
    dev: bool = False  # no config file: safe local defaults
    base_dir: Path = field(default_factory=Path.cwd)

    def __post_init__(self) -> None:
        # ``config.server`` and the like are read on every message: as plain attributes (the
        # same dicts as in ``values``) they skip the failed lookup before ``__getattr__``
        for section, table in self.values.items():
            if section not in self.__dict__ and not hasattr(type(self), section):
                self.__dict__[section] = table

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    def __getattr__(self, section: str) -> dict[str, Any]:
        try:
            return self.__dict__["values"][section]
        except KeyError:
            raise AttributeError(section) from None

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder (or the cwd)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def public_url(self) -> str:
        url = self.values["server"]["public_url"]
        if url:
            return url.rstrip("/")
        s = self.values["server"]
        return f"http://{s['host']}:{s['port']}"

    @property
    def wechat_mode(self) -> str:
        """The message mode in force: ``[wechat] mode``, with ``auto`` resolved (safe when
        the operator set an EncodingAESKey; the built-in development key, public in the
        source, protects nothing and does not count)."""
        mode = self.values["wechat"]["mode"]
        if mode != "auto":
            return mode
        key = self.values["wechat"]["encoding_aes_key"]
        return "safe" if key and key != DEV_AES_KEY else "plain"

    def admin_openids(self) -> frozenset[str]:
        return frozenset(self.values["admin"]["openids"])


def _where(section: str, key: str, path: Path | None) -> str:
    return f"[{section}] {key} in {path}" if path else f"[{section}] {key}"


def _coerce(section: str, key: str, spec: Key, value: Any, path: Path | None, env: bool) -> Any:
    where = _where(section, key, path) if not env else f"NEWSBOT_{section}_{key}".upper()
    if env:
        raw = str(value)
        try:
            if spec.type is bool:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("1", "true", "yes")
            elif spec.type is list:
                value = [v.strip() for v in raw.split(",") if v.strip()]
            else:
                value = spec.type(raw)
        except ValueError:
            raise ConfigError(f"{where}: cannot read {raw!r} as {spec.type.__name__}") from None
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, spec.type) and not (spec.type is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(
            f"{where}: expected {spec.type.__name__}, got {type(value).__name__} {value!r}"
        )
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(spec.choices)}")
    return value


def _validate(values: dict[str, dict[str, Any]], path: Path | None) -> None:
    key = values["wechat"]["encoding_aes_key"]
    if key:
        try:
            ok = len(key) == 43 and len(base64.b64decode(key + "=")) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                f"{_where('wechat', 'encoding_aes_key', path)}: must be 43 base64 characters"
            )
    if values["wechat"]["mode"] in ("compat", "safe") and not key:
        raise ConfigError(
            f"{_where('wechat', 'mode', path)}: {values['wechat']['mode']} mode needs"
            " [wechat] encoding_aes_key"
        )
    port = values["server"]["port"]
    if not 1 <= port <= 65535:  # as `newsbot serve --port` takes them
        raise ConfigError(f"{_where('server', 'port', path)}: {port} is not a port number")
    if not values["server"]["read_timeout"] > 0:
        raise ConfigError(f"{_where('server', 'read_timeout', path)}: must be above 0 seconds")
    if values["server"]["max_connections"] < 1:
        raise ConfigError(f"{_where('server', 'max_connections', path)}: must be 1 or more")
    workers = values["server"]["workers"]
    if not 1 <= workers <= 64:  # as `newsbot serve --workers` takes them
        raise ConfigError(f"{_where('server', 'workers', path)}: {workers} is not in 1..64")
    store = values["store"]
    if store["backend"] == "postgres" and not store["url"].startswith(("postgresql://",
                                                                      "postgres://")):
        raise ConfigError(f"{_where('store', 'url', path)}: the postgres backend needs a"
                          " postgresql:// URL")
    if not 1 <= store["pool_size"] <= 100:
        raise ConfigError(f"{_where('store', 'pool_size', path)}: {store['pool_size']} is not"
                          " in 1..100")
    given = values["digest"]["time"]
    hhmm = given.split(":")
    if len(hhmm) != 2 or not all(p.isdigit() for p in hhmm) or int(hhmm[0]) > 23 or int(
        hhmm[1]
    ) > 59:
        raise ConfigError(
            f"{_where('digest', 'time', path)}: expected HH:MM from 00:00 to 23:59, got {given!r}"
        )
    try:
        ZoneInfo(values["digest"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{_where('digest', 'timezone', path)}: unknown time zone "
            f"{values['digest']['timezone']!r}"
        ) from None
    cover = values["pages"]["default_cover"]
    if cover and not cover.lower().startswith(("https://", "http://")):
        raise ConfigError(f"{_where('pages', 'default_cover', path)}: must be an http(s)"
                          f" address, got {cover!r}")
    for pattern, name in values["import"]["sources"].items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{_where('import', 'sources', path)}: {pattern!r} needs a"
                              " name (text)")
    for i, b in enumerate(values["menu"]["buttons"]):
        if not isinstance(b, dict) or "name" not in b:
            raise ConfigError(f"{_where('menu', f'buttons[{i}]', path)}: needs a name")


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Load ``path`` (or ``$NEWSBOT_CONFIG``); with neither, the safe local defaults."""
    env = dict(os.environ if env is None else env)
    if path is None and env.get("NEWSBOT_CONFIG"):
        path = env["NEWSBOT_CONFIG"]
    raw: dict[str, Any] = {}
    cfg_path: Path | None = None
    if path is not None:
        cfg_path = Path(path)
        try:
            raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {cfg_path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg_path}: not valid TOML: {e}") from None
    values: dict[str, dict[str, Any]] = {}
    for section, body in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{cfg_path}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{cfg_path}: [{section}] must be a table")
        for key in body:
            if key not in SCHEMA[section]:
                raise ConfigError(f"{_where(section, key, cfg_path)}: unknown key")
    for section, keys in SCHEMA.items():
        body = raw.get(section, {})
        out: dict[str, Any] = {}
        for key, spec in keys.items():
            env_name = f"NEWSBOT_{section}_{key}".upper()
            if env_name in env and env[env_name] != "":
                out[key] = _coerce(section, key, spec, env[env_name], cfg_path, env=True)
            elif key in body:
                out[key] = _coerce(section, key, spec, body[key], cfg_path, env=False)
            elif spec.required and cfg_path is not None:
                raise ConfigError(f"{_where(section, key, cfg_path)}: missing (required)")
            else:
                out[key] = list(spec.default) if isinstance(spec.default, list) else spec.default
        values[section] = out
    if cfg_path is None and not env.get("NEWSBOT_WECHAT_API_BASE_URL"):
        values["wechat"]["api_base_url"] = DEV_API_BASE_URL
    _validate(values, cfg_path)
    base = cfg_path.resolve().parent if cfg_path else Path.cwd()
    return Config(values=values, path=cfg_path, dev=cfg_path is None, base_dir=base)
