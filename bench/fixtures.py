"""What the benches stand on: the stores, a config file per server, WeRoBot's virtualenv."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import venv
from pathlib import Path

from bench.load import Account
from bot.config import DEV_AES_KEY

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus"
WEROBOT_VENV = HERE / ".venv-werobot"

ACCOUNT = Account(token="benchtoken", appid="wxbenchappid00001", aes_key=DEV_AES_KEY)


def seed_store(path: Path) -> dict[str, int]:
    """The store users meet: the seed pages (via the importer) plus the shipped samples."""
    from store import articles
    from store.db import open_store

    store = open_store(path)
    try:
        pages = 0
        try:
            from store.ingest import import_text
        except ImportError:
            import_text = None  # type: ignore[assignment]
        if import_text is not None and CORPUS.is_dir():
            for page in sorted(CORPUS.glob("*.txt")):
                import_text(store, page.read_text(encoding="utf-8"), page.name)
                pages += 1
        from store import samples

        adder = getattr(samples, "import_samples", None) or samples.import_samples_if_empty
        adder(store)
        return {"pages": pages, "stories": articles.count(store)}
    finally:
        store.close()


def write_config(workdir: Path, name: str, store_path: Path) -> Path:
    """A config for one server: its own state file, the digest schedule off, no outbound host."""
    cfg = workdir / f"{name}.toml"
    cfg.write_text(
        f"""
[wechat]
token = "{ACCOUNT.token}"
appid = "{ACCOUNT.appid}"
encoding_aes_key = "{ACCOUNT.aes_key}"
api_base_url = "http://127.0.0.1:9"

[store]
path = "{store_path}"

[state]
path = "{workdir / (name + '-state.db')}"

[digest]
enabled = false
""",
        encoding="utf-8",
    )
    return cfg


def newsbot_argv(config: Path, port: int) -> list[str]:
    """``newsbot serve`` as an operator runs it (the installed script when there is one)."""
    import shutil

    exe = shutil.which("newsbot")
    head = [exe] if exe else [sys.executable, "-c", "from bot.cli import main; main()"]
    return [*head, "--config", str(config), "serve", "--port", str(port)]


def ceiling_argv(port: int) -> list[str]:
    """The bare endpoint on uvicorn with the settings ``newsbot serve`` passes to it."""
    return [
        sys.executable, "-m", "uvicorn", "bench.ceiling:app", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        "--no-proxy-headers", "--no-server-header",
    ]


def werobot_venv() -> Path | None:
    """bench/.venv-werobot with WeRoBot and gunicorn, made on first use; None if it cannot be."""
    gunicorn = WEROBOT_VENV / "bin" / "gunicorn"
    if gunicorn.exists():
        return WEROBOT_VENV
    print("bench: creating bench/.venv-werobot (werobot, gunicorn)…", file=sys.stderr)
    try:
        venv.create(WEROBOT_VENV, with_pip=True)
        subprocess.run(
            [str(WEROBOT_VENV / "bin" / "pip"), "install", "-q", "werobot", "gunicorn"],
            check=True, stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench: cannot set up WeRoBot: {e}", file=sys.stderr)
        return None
    return WEROBOT_VENV if gunicorn.exists() else None


def werobot_argv(venv_dir: Path, port: int) -> list[str]:
    return [
        str(venv_dir / "bin" / "gunicorn"), "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}",
        "--pythonpath", str(HERE), "--log-level", "warning", "werobot_app:app",
    ]


def sibling_bench(name: str) -> Path | None:
    p = HERE / name
    return p if p.is_file() else None


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def big_store(path: Path, n: int = 100_000) -> dict | None:
    """The synthetic store of bench/search_bench.py (its generator, indexed by the search
    module) at ``path``, made unless search_bench.py already left it there; with the queries
    that bench runs. None when there is no search_bench.py."""
    if sibling_bench("search_bench.py") is None:
        return None
    from bench import search_bench
    from store import articles, search
    from store.db import open_store

    if not path.exists():
        store = search_bench.build_store(path, n)
        search.rebuild(store)
        store.close()
    store = open_store(path)
    try:
        return {"path": path, "stories": articles.count(store),
                "queries": search_bench.queries_for(store),
                "db_mb": round(path.stat().st_size / 1e6, 1)}
    finally:
        store.close()
