"""The docs cannot drift: every command is in the README or docs/, every config key in the example
file and read by the loader, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
import tomllib

import click

from bot.cli import main
from bot.config import SCHEMA, load_config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = README + "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
EXAMPLE = ROOT / "config.example.toml"


def _commands(group: click.Group, prefix: str = "newsbot") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        out.append(full)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
    return out


def test_every_cli_command_is_documented() -> None:
    missing = [c for c in _commands(main) if f"`{c}" not in DOCS]
    assert not missing, f"commands missing from README.md and docs/: {missing}"


def test_every_cli_command_has_help_with_an_example() -> None:
    ctx = click.Context(main)
    for name, cmd in main.commands.items():
        assert cmd.help and "Example" in cmd.help, f"`newsbot {name}` needs help with an example"
    assert main.get_help(ctx)


def test_every_config_key_is_in_the_example_and_read_by_the_loader() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    documented = {(s, k) for s, body in example.items() for k in body}
    declared = {(s, k) for s, keys in SCHEMA.items() for k in keys}
    assert documented == declared, (
        f"undocumented: {sorted(declared - documented)}; unknown: {sorted(documented - declared)}"
    )
    loaded = load_config(EXAMPLE, env={})
    for section, key in declared:
        assert loaded.get(section, key) == example[section][key], f"[{section}] {key} not read"


def test_readme_set_up_commands_and_ci() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)
    assert blocks[0].strip() == "python3 -m pip install -e . && newsbot serve --demo"
    test_cmd = blocks[1].strip()
    assert test_cmd == "python3 -m pip install -e '.[test]' && python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines()
    # once more, indented, in the bare clone's own venv, after lint
    assert [ln.strip() for ln in ci.splitlines()].count(test_cmd) == 2
    assert ci.index("ruff check") < ci.index("git clone") < ci.index(test_cmd)


def test_the_readme_is_a_short_front_door_and_links_every_page() -> None:
    assert len(README.encode("utf-8")) <= 8 * 1024
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert {"design.md", "operations.md", "performance.md", "readers.md", "admin.md"} <= set(pages)
    linked = set(re.findall(r"\]\(docs/([a-z]+\.md)", README))
    assert linked == set(pages), f"pages the README does not link: {set(pages) - linked}"


def test_benchmark_figures_live_only_in_performance_md() -> None:
    rate = re.compile(r"\d[\d,.]*\s*(?:req/s|µs|deliveries/s|stories/s|searches/s)")
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if p.name == "performance.md":
            continue
        found = rate.findall(p.read_text(encoding="utf-8"))
        assert not found, f"{p.name} quotes {found}: figures belong in docs/performance.md"
