"""Shared fixtures: a fresh config, store and state per test; a signed-request helper; a live
uvicorn server on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.callback import BotReply, message_xml, read_reply, sign_request
from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """A config file in ``tmp_path`` with test credentials; ``extra`` TOML is appended."""
    p = tmp_path / "newsbot.toml"
    p.write_text(
        f"""
[wechat]
token = "testtoken"
appid = "wxtestappid000001"
appsecret = "testsecret"
encoding_aes_key = "bmV3c2JvdC1kZXZlbG9wbWVudC1rZXktZm9yLWxvYyE"

[store]
path = "{tmp_path / 'store.db'}"

[state]
path = "{tmp_path / 'state.db'}"
{extra}
""",
        encoding="utf-8",
    )
    return p


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path), env={})


@pytest.fixture
def services(config: Config) -> Iterator[Services]:
    s = build_services(config)
    yield s
    s.close()


class Bot:
    """Talks to an app (TestClient or a live server) as WeChat does."""

    def __init__(self, http: Any, config: Config, path: str = "/wechat") -> None:
        self.http = http
        self.config = config
        self.path = path

    def post_xml(self, xml: str, encrypt: bool = False, compat: bool = False,
                 **sign_kw: Any) -> httpx.Response:
        w = self.config.wechat
        req = sign_request(xml, w["token"], appid=w["appid"], aes_key=w["encoding_aes_key"],
                           encrypt=encrypt, compat=compat, **sign_kw)
        return self.http.post(self.path, params=req.params, content=req.body)

    def send(self, text: str | None = None, *, user: str = "o_user_1", encrypt: bool = False,
             compat: bool = False, **kw: Any) -> BotReply:
        r = self.post_xml(message_xml(user=user, text=text, **kw), encrypt=encrypt, compat=compat)
        w = self.config.wechat
        return read_reply(r.status_code, r.text, w["token"], w["appid"], w["encoding_aes_key"])


@pytest.fixture
def make_bot(services: Services) -> Iterator[Callable[..., Bot]]:
    clients: list[TestClient] = []

    def make(s: Services | None = None) -> Bot:
        s = s or services
        c = TestClient(create_app(s))
        c.__enter__()
        clients.append(c)
        return Bot(c, s.config)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn serving ``app`` on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_bot(services: Services) -> Iterator[Bot]:
    with LiveServer(create_app(services)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield Bot(c, services.config)
