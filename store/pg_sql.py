"""The store's SQL, as PostgreSQL takes it.

Store modules write the subset both engines understand; what differs is spelled the SQLite
way and rewritten here, once per statement text:

* ``?`` placeholders become ``%s`` (a literal ``%`` is doubled);
* ``INSERT OR REPLACE INTO t (cols)`` becomes an upsert on ``t``'s primary key, and
  ``INSERT OR IGNORE`` an insert ``ON CONFLICT DO NOTHING``;
* ``json_each(x)`` (its ``value`` column) becomes ``jsonb_array_elements_text``;
* an ``INSERT`` into a table with a generated ``id`` returns it, for ``cursor.lastrowid``;
* ``PRAGMA`` statements tune SQLite's connection and have no PostgreSQL meaning: a read
  answers SQLite's default, a setting does nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from store.pg_schema import GENERATED_IDS, PRIMARY_KEYS

# what a pragma read answers: the store's SQLite busy timeout, in milliseconds
PRAGMA_ROWS: dict[str, list[tuple[int]]] = {"busy_timeout": [(10000,)]}


@dataclass(frozen=True)
class Statement:
    sql: str
    has_params: bool
    pragma: str | None = None  # a PRAGMA's name: answered without the server
    returns_id: bool = False  # RETURNING id was added: the row is the lastrowid


_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(REPLACE|IGNORE)\s+)?INTO\s+(\w+)\s*\(([^)]*)\)",
                     re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(\w+)", re.IGNORECASE)
_JSON_EACH = re.compile(r"\bjson_each\s*\(", re.IGNORECASE)


def _placeholders(sql: str) -> tuple[str, bool]:
    out: list[str] = []
    quote = ""
    seen = False
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            seen = True
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out), seen


def _json_each(sql: str) -> str:
    while (m := _JSON_EACH.search(sql)) is not None:
        depth, i = 1, m.end()
        while depth and i < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        inner = sql[m.end():i - 1]
        sql = (sql[:m.start()] + f"jsonb_array_elements_text(({inner})::jsonb) AS json_items(value)"
               + sql[i:])
    return sql


def _conflict(verb: str, table: str, cols: str) -> str:
    if verb.upper() == "IGNORE":
        return " ON CONFLICT DO NOTHING"
    keys = PRIMARY_KEYS[table]
    rest = [c.strip() for c in cols.split(",") if c.strip() and c.strip() not in keys]
    if not rest:
        return " ON CONFLICT DO NOTHING"
    return (f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in rest))


@lru_cache(maxsize=2048)
def translate(sql: str) -> Statement:
    m = _PRAGMA.match(sql)
    if m:
        return Statement("", False, pragma=m.group(1).lower() if "=" not in sql else "")
    sql = _json_each(sql)
    returns_id = False
    m = _INSERT.match(sql)
    if m:
        verb, table, cols = m.group(1), m.group(2), m.group(3)
        if verb:
            sql = m.group(0).replace(m.group(0)[:m.end(1) - m.start(0)],
                                     "INSERT", 1) + sql[m.end():]
            sql = sql.rstrip().rstrip(";") + _conflict(verb, table, cols)
        if table in GENERATED_IDS and "returning" not in sql.lower():
            sql = sql.rstrip().rstrip(";") + " RETURNING id"
            returns_id = True
    text, seen = _placeholders(sql)
    return Statement(text if seen else sql, seen, returns_id=returns_id)
