"""Load runs: signed WeChat callbacks replayed at a server by wrk (or ``bench.pyload``) in its
own process, 32 keep-alive connections, bounded in time.

Nothing is signed while the clock runs: every message of a run is signed beforehand, with a
nonce of its own (newsbot binds a signature to the first message it came with, so a signature
used twice is refused). Plain mode writes the signed callback paths to a file and the load
generator makes the bodies (a plain signature covers none); safe mode writes whole requests. Every message has its own MsgId, so the dedup never short-cuts
the handler; timestamps are made just before each run, so the default replay window holds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.procs import Server, cpu_seconds
from bot.callback import message_xml, sign_request
from bot.envelope import sign

HERE = Path(__file__).resolve().parent
LUA = HERE / "replay.lua"

# What subscribers type: places, roles, services, campaigns; some with hits, a few without.
KEYWORDS = [
    "花园口", "网格员", "养老", "党建", "社区", "志愿服务", "党支部", "主题教育", "垃圾分类",
    "老旧小区", "居家养老", "便民服务", "党员", "红色教育", "许昌", "焦作", "郑州", "社区治理",
    "网格化管理", "物业", "文明城市", "基层党组织", "助老", "幸福院", "第一书记", "乡村振兴",
    "居民议事", "疫情防控", "加装电梯", "不忘初心", "老人", "为民服务", "初心使命", "环境整治",
]


@dataclass
class Account:
    token: str
    appid: str
    aes_key: str


@dataclass
class Material:
    """What a run replays: ``mode`` "plain" (fresh messages from a keyword list) or "file"."""

    mode: str
    path: str  # plain: the file of signed callback paths, one per message; file: unused
    source: Path  # keyword list, or one pre-signed request per line
    expect: str  # what every good reply contains
    base: int = 0  # first MsgId


def keyword_file(workdir: Path, words: list[str]) -> Path:
    p = workdir / f"words-{len(words)}-{words[0]}.txt"
    p.write_text("\n".join(words) + "\n", encoding="utf-8")
    return p


# Plain messages signed per second of a run: more than any server here answers
PLAIN_RATE = 30_000
PLAIN_COUNT = PLAIN_RATE * 13  # when the caller does not say: a default run and more


def plain_material(workdir: Path, account: Account, expect: str, base: int,
                   words: list[str] = KEYWORDS, count: int = PLAIN_COUNT) -> Material:
    """Fresh plain messages from ``words``, each under a signature of its own."""
    ts = str(int(time.time()))
    first = secrets.randbelow(10**12)
    path = workdir / "plain-paths.txt"  # one run at a time: each run signs its own
    with path.open("w", encoding="ascii") as f:
        for i in range(count):
            nonce = str(first + i)
            f.write(f"/wechat?signature={sign(account.token, ts, nonce)}"
                    f"&timestamp={ts}&nonce={nonce}\n")
    return Material("plain", str(path), keyword_file(workdir, words), expect, base)


def safe_material(workdir: Path, account: Account, count: int, base: int, name: str) -> Material:
    """``count`` safe-mode (AES) messages, each encrypted and signed on its own."""
    path = workdir / f"{name}.tsv"
    ts = int(time.time())
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            n = base + i + 1
            xml = message_xml(
                user=f"o_bench_{n % 997}", account="gh_bench", text=KEYWORDS[n % len(KEYWORDS)],
                msgid=str(n), create_time=ts,
            )
            req = sign_request(
                xml, account.token, appid=account.appid, aes_key=account.aes_key, encrypt=True,
                timestamp=ts,
            )
            f.write(f"/wechat?{urlencode(req.params)}\t{req.body.decode()}\n")
    return Material("file", "", path, "<Encrypt>", base)


GENERATOR: str | None = None  # "wrk" or "pyload"; None: wrk when installed


def generator() -> str:
    if GENERATOR:
        return GENERATOR
    return "wrk" if shutil.which("wrk") else "pyload"


def run(server: Server, material: Material, *, duration: float, connections: int = 32,
        workdir: Path) -> dict:
    """One timed run. Returns the generator's figures plus both processes' CPU use."""
    tool = generator()
    if tool == "wrk":
        argv = [
            "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
            "-s", str(LUA), server.url,
            "--", material.mode, material.path, material.expect, str(material.source),
            str(material.base), "1",
        ]
    else:
        spec = workdir / "pyload.json"
        host, port = "127.0.0.1", server.port
        spec.write_text(json.dumps({
            "host": host, "port": port, "mode": material.mode, "path": material.path,
            "source": str(material.source), "expect": material.expect, "base": material.base,
            "duration": duration, "connections": connections,
        }))
        argv = [sys.executable, "-m", "bench.pyload", str(spec)]
    os.sync()  # the last run's writes go to disk now, not during this one
    srv_cpu0 = cpu_seconds(server.pid)
    t0 = time.perf_counter()
    gen = subprocess.Popen(argv, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gen_cpu = 0.0
    # sample the generator's CPU while it lives: /proc forgets it once it is reaped
    while gen.poll() is None:
        gen_cpu = max(gen_cpu, cpu_seconds(gen.pid))
        time.sleep(0.2)
    out, err = gen.communicate()
    wall = time.perf_counter() - t0
    srv_cpu = cpu_seconds(server.pid) - srv_cpu0
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{tool} failed: {err.decode()[-2000:]}")
    r = json.loads(line[len("RESULT "):])
    secs = r["duration_us"] / 1e6
    r.update(
        tool=tool,
        rps=r["good"] / secs if secs else 0.0,
        server_cpu=srv_cpu / wall,
        server_cpu_us_per_request=srv_cpu / r["requests"] * 1e6 if r["requests"] else None,
        generator_cpu=gen_cpu / wall,
    )
    return r
