"""The layers import one way: bot -> handlers -> store (docs/design.md).

Every module's imports are read with ``ast``, those inside functions and under
``TYPE_CHECKING`` too: an import against the direction fails here wherever it hides.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each layer may not import.
FORBIDDEN = {"bot": set(), "handlers": {"bot"}, "store": {"bot", "handlers"}}


def imported_packages(source: str, module: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source``, the module ``module``
    (dotted); relative imports are resolved against it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module or ""]).strip(".")
            else:
                name = node.module or ""
            found.append((node.lineno, name.split(".")[0]))
    return found


def violations(layer: str) -> list[str]:
    out = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        rel = path.relative_to(ROOT)
        module = ".".join(rel.with_suffix("").parts)
        for line, package in imported_packages(path.read_text(encoding="utf-8"), module):
            if package in FORBIDDEN[layer]:
                out.append(f"{rel}:{line} imports {package}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_against_the_direction(layer: str) -> None:
    assert (ROOT / layer / "__init__.py").exists()
    assert violations(layer) == []


def test_an_import_hidden_in_a_function_or_made_relative_is_seen() -> None:
    source = (
        "from __future__ import annotations\n"
        "import json\n"
        "def f():\n"
        "    from bot.replies import to_xml\n"
        "    return to_xml\n"
        "class C:\n"
        "    def g(self):\n"
        "        import bot.router as r\n"
        "from ..bot import config\n"
        "from . import base\n"
    )
    seen = imported_packages(source, "handlers.search")
    assert (4, "bot") in seen and (8, "bot") in seen and (9, "bot") in seen
    assert (10, "handlers") in seen and (2, "json") in seen
