"""The table ``python3 -m bench`` prints, the targets it checks, and results/latest.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"

# name, how to read it from the results, comparison, bound, unit
TARGETS = [
    ("newsbot / ceiling", ("ratios", "newsbot_over_ceiling"), ">=", 0.35, "x"),
    ("newsbot / WeRoBot (session off, its fastest)", ("ratios", "newsbot_over_werobot"), ">=", 2.0, "x"),
    ("newsbot / WeRoBot (as installed: SQLite session)", ("ratios", "newsbot_over_werobot_session"),
     ">=", 2.0, "x"),
    ("newsbot p99 at 32 connections", ("webhook", "newsbot", "p99_ms"), "<", 30.0, "ms"),
    ("safe mode / plain mode", ("ratios", "safe_over_plain"), ">=", 0.85, "x"),
    ("cold start", ("cold_start", "seconds"), "<", 2.0, "s"),
    ("peak RSS, 100,000 stories", ("memory", "peak_rss_mb"), "<", 200.0, "MB"),
]


def dig(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def check(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, path, op, bound, unit in TARGETS:
        v = dig(results, path)
        met = None if not isinstance(v, (int, float)) else (v >= bound if op == ">=" else v < bound)
        out.append({"target": name, "value": v, "op": op, "bound": bound, "unit": unit, "met": met})
    return out


def _fmt(v: Any, unit: str = "") -> str:
    if not isinstance(v, (int, float)):
        return "—" if v is None else str(v)
    if unit == "x":
        return f"{v:.2f}x"
    return f"{v:,.1f} {unit}".strip() if isinstance(v, float) else f"{v:,} {unit}".strip()


def print_report(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=max(120, shutil.get_terminal_size((120, 40)).columns))
    m = results["machine"]
    console.print(
        f"\n[bold]newsbot bench[/] {m['date']}  {m['nproc']} cores  load {m['load_before']}"
        f" -> {m['load_after']}  generator {m['generator']}, {results['params']['connections']}"
        f" connections, {results['params']['duration']:g} s per run"
    )
    t = Table(title="webhook under load")
    for col in ("server", "req/s", "p50 ms", "p99 ms", "server CPU", "generator CPU", "bad", "what it is"):
        t.add_column(col, justify="left" if col in ("server", "what it is") else "right")
    for name, row in results["webhook"].items():
        if "error" in row:
            t.add_row(name, "—", "—", "—", "—", "—", "—", row["error"])
            continue
        t.add_row(
            name, f"{row['rps']:,.0f}", f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}",
            f"{row['server_cpu']:.0%}", f"{row['generator_cpu']:.0%}",
            str(row["bad"] + row["socket_errors"]), row["what"],
        )
    console.print(t)
    rounds = results.get("rounds") or {}
    if rounds.get("ratios"):
        console.print(f"ratios over {len(rounds['rps'])} rounds of every server in turn"
                      " (the targets take the median):")
        for key, r in rounds["ratios"].items():
            each = ", ".join(f"{x:.2f}" for x in r["rounds"])
            console.print(f"  {key}: median {r['median']:.2f}x ({each})", highlight=False)
    o = Table(title="targets")
    for col in ("target", "measured", "goal", "met"):
        o.add_column(col)
    for c in results["targets"]:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[c["met"]]
        o.add_row(c["target"], _fmt(c["value"], c["unit"]), f"{c['op']} {_fmt(c['bound'], c['unit'])}", met)
    console.print(o)
    for key in ("cold_start", "memory", "stores"):
        if key in results:
            console.print(f"[bold]{key}[/]: {json.dumps(results[key], ensure_ascii=False)}")
    for name, sub in results.get("sub_benches", {}).items():
        console.print(f"[bold]{name}[/] (exit {sub['exit']}, {sub['seconds']:.0f} s): ", end="")
        figures = sub.get("figures")
        if isinstance(figures, dict):
            flat = {k: v for k, v in figures.items() if not isinstance(v, (dict, list))}
            console.print(json.dumps(flat, ensure_ascii=False), markup=False, highlight=False)
        else:
            console.print(sub.get("output", "").rstrip() or "(no output)", markup=False,
                          highlight=False)


def save(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    p = RESULTS / "latest.json"
    p.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return p
