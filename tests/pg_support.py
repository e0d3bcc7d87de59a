"""A private PostgreSQL cluster for tests: initdb into a temporary folder, a server on a free
loopback port, stopped and removed at the end. As root it runs as the ``postgres`` user
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self


def find_bin(name: str) -> str | None:
    """``name`` (initdb, pg_ctl, postgres) on PATH or in Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    return ["runuser", "-u", "postgres", "--"]


def ping(url: str, timeout: float = 1.0) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as c:
            c.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


class Cluster:
    """``with Cluster() as c:`` a running server; ``c.url`` names its ``postgres`` database."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user = "postgres" if _as_user()[:1] == ["runuser"] else pwd.getpwuid(
            os.geteuid()).pw_name if os.geteuid() else "nobody"
        self.url = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        self.log = self.folder / "server.log"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*_as_user(), *args], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> Self:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed")
        if os.geteuid() == 0:
            os.chmod(self.folder, 0o777)
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
                       "synchronous_commit = off\nfull_page_writes = off\n"
                       "max_connections = 200\n")
        self.restart()
        deadline = time.monotonic() + 30
        while not ping(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not answer on port {self.port}")
            time.sleep(0.1)
        return self

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = find_bin("pg_ctl")
        if pg_ctl and (self.data / "postmaster.pid").exists():
            self._run(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop", timeout=60)

    def restart(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        assert pg_ctl
        self._run(pg_ctl, "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log), "start",
                  timeout=90)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server``."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def create_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return database_url(server, name)


def drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
