"""Shared fixtures: a fresh config, store and state per test; a signed-request helper; a live
uvicorn server on a loopback port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.callback import BotReply, message_xml, read_reply, sign_request
from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
# beside the project; a working copy checked out one level deeper finds it too
CORPUS = next((p / "shared" / "corpus" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "corpus").is_dir()), ROOT.parent / "shared" / "corpus")
SAMPLES = ROOT / "store" / "data" / "samples"
NO_SEED = "the seed pages (../shared/corpus/) are not beside this checkout"
PAGE_SETS = ("own", "seed")


def page_set(kind: str) -> list[Path]:
    """The pages of one set, in name order: "own" are the sample pages shipped with the project
    and always present; "seed" are the outside newspaper pages, an extra check that skips the
    calling test when the folder is absent (a bare clone)."""
    if kind == "own":
        return sorted(SAMPLES.glob("*.txt"))
    if kind != "seed":
        raise ValueError(f"unknown page set {kind!r}")
    pages = sorted(CORPUS.glob("0*.txt"))
    if not pages:
        pytest.skip(NO_SEED)
    return pages


def page_text(kind: str, prefix: str) -> str:
    """The text of the one page of a set whose file name starts with ``prefix``."""
    [path] = [p for p in page_set(kind) if p.name.startswith(prefix)]
    return path.read_text(encoding="utf-8")


# The WeChat API a test's bot reaches unless the test gives it an emulator: a closed loopback
# port, so that a call the test did not plan for fails at once and never leaves the machine.
NOWHERE = "http://127.0.0.1:9"


def write_config(tmp_path: Path, extra: str = "", store: str = "") -> Path:
    """A config file in ``tmp_path`` with test credentials; ``extra`` TOML is appended;
    ``store``: the body of the [store] table (default: a SQLite file in ``tmp_path``). The
    WeChat API is :data:`NOWHERE` (replace that line to point the bot at an emulator)."""
    p = tmp_path / "newsbot.toml"
    if not store and _PG_EVERYWHERE:
        store = f'backend = "postgres"\nurl = "{_fresh_pg_database(_PG_EVERYWHERE[0])}"'
    # The daily schedule stays off in tests unless a test configures [digest] itself.
    digest_off = "" if "[digest]" in extra else "[digest]\nenabled = false\n"
    p.write_text(
        f"""
[wechat]
token = "testtoken"
appid = "wxtestappid000001"
appsecret = "testsecret"
encoding_aes_key = "bmV3c2JvdC1kZXZlbG9wbWVudC1rZXktZm9yLWxvYyE"
api_base_url = "{NOWHERE}"

[store]
{store or f'path = "{tmp_path / "store.db"}"'}

[state]
path = "{tmp_path / 'state.db'}"
{extra}
{digest_off}""",
        encoding="utf-8",
    )
    return p


# NEWSBOT_TEST_STORE=postgres: every config a test writes names a fresh PostgreSQL database
# instead of a SQLite file, so the suite's service-level tests run on that backend too
_PG_EVERYWHERE: list[str] = []


def _fresh_pg_database(server: str) -> str:
    from tests.pg_support import create_database

    return create_database(server, f"newsbot_c{os.getpid()}_{next(_pg_db)}")


@pytest.fixture(autouse=True)
def _newsbot_environment() -> Iterator[None]:
    """Each test ends with the NEWSBOT_* variables it began with: a command run in-process
    (``serve --workers``) may set some for its workers, and a later test's subprocess would
    inherit them."""
    before = {k: v for k, v in os.environ.items() if k.startswith("NEWSBOT_")}
    yield
    for k in [k for k in os.environ if k.startswith("NEWSBOT_") and k not in before]:
        del os.environ[k]
    os.environ.update(before)


@pytest.fixture(scope="session", autouse=True)
def _store_backend_choice(request: pytest.FixtureRequest) -> None:
    if os.environ.get("NEWSBOT_TEST_STORE", "sqlite") == "postgres":
        _PG_EVERYWHERE[:] = [request.getfixturevalue("pg_server")]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # write_config points WeChat at NOWHERE, a closed loopback port, until `emulator` does
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

    def __enter__(self) -> LiveServer:  # noqa: PYI034 - final in practice
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_bot(services: Services) -> Iterator[Bot]:
    with LiveServer(create_app(services)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield Bot(c, services.config)


# -- Redis for the state-backend tests ----------------------------------------------------------
def _redis_ping(url: str) -> bool:
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as r:
            return bool(r.ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis URL: ``$NEWSBOT_TEST_REDIS_URL`` (CI starts one), else a private ``redis-server``
    on a free loopback port, stopped at the end. Without the binary: skip, or fail under CI."""
    import shutil
    import subprocess

    url = os.environ.get("NEWSBOT_TEST_REDIS_URL")
    if url:
        if not _redis_ping(url):
            pytest.fail(f"NEWSBOT_TEST_REDIS_URL={url} does not answer PING")
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (CI must run the Redis backend tests)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_ping(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


_redis_db = iter(range(10**9))


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The test's own Redis database (1-15 in turn), flushed before and after."""
    from urllib.parse import urlsplit, urlunsplit

    import redis

    url = urlunsplit(urlsplit(redis_server)._replace(path=f"/{1 + next(_redis_db) % 15}"))
    with redis.Redis.from_url(url) as r:
        r.flushdb()
    yield url
    with redis.Redis.from_url(url) as r:
        r.flushdb()


@pytest.fixture
def emulator(config: Config) -> Iterator[Any]:
    """A local WeChat for ``config``'s account on a loopback port; ``config`` points at it.
    ``emulator.connect(live_bot_url + "/wechat")`` lets it play users against a live bot."""
    from bot.emulator import Emulator

    w = config.wechat
    emu = Emulator(w["appid"], w["appsecret"], token=w["token"], aes_key=w["encoding_aes_key"])
    config.values["wechat"]["api_base_url"] = emu.start()
    yield emu
    emu.stop()


def wait_healthy(url: str, proc: Any, timeout: float = 60) -> None:
    """Poll ``url``/healthz until it answers 200; fail with the process's output if it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            dead = proc.poll() is not None
            out = proc.stdout.read() if dead and getattr(proc, "stdout", None) else ""
            raise AssertionError(f"server at {url} did not come up:\n{out}")
        time.sleep(0.1)


def stop_server(proc: Any, timeout: float = 15) -> None:
    """Ctrl-C a server subprocess as a user would; kill it if it does not stop in time."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# -- PostgreSQL for the store-backend tests -----------------------------------------------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL: ``$NEWSBOT_TEST_PG_URL`` (CI starts one), else a private
    cluster (initdb into a temporary folder, a free loopback port), removed at the end.
    Without PostgreSQL's programs: skip, or fail under CI."""
    from tests.pg_support import Cluster, find_bin, ping

    url = os.environ.get("NEWSBOT_TEST_PG_URL")
    if url:
        if not ping(url, timeout=3):
            pytest.fail(f"NEWSBOT_TEST_PG_URL={url} does not answer")
        yield url
        return
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (CI must run the PostgreSQL store tests)")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed: no server for the store tests")
    cluster = Cluster()
    try:
        cluster.start()
    except Exception as e:  # noqa: BLE001 - any failure to start is a reason to skip, said
        cluster.remove()
        if os.environ.get("CI"):
            pytest.fail(f"a private PostgreSQL cluster did not start: {e}")
        pytest.skip(f"a private PostgreSQL cluster did not start: {e}")
    try:
        yield cluster.url
    finally:
        cluster.remove()


_pg_db = iter(range(10**9))


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """The test's own, empty PostgreSQL database, dropped afterwards."""
    from tests.pg_support import create_database, drop_database

    name = f"newsbot_t{os.getpid()}_{next(_pg_db)}"
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


def store_spec(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """Where a test's store lives on ``backend``: a SQLite file or a fresh PostgreSQL URL."""
    if backend == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))
