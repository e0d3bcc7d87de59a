"""``newsbot import / export / list / show / edit / delete``: the operators' story commands.

Import reads and checks every file first, then saves each good one in a transaction of its own:
a file is never half-saved, other writers get their turn between files, and a rerun of an
interrupted import skips what is already stored. A bad file (empty, binary, not UTF-8, over 2 MB, no story) is
reported and skipped; the others are imported and the exit code is 1. ``--strict`` imports
nothing when any file is bad.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli import CliState, main, operator, progress_bar
from store.categories import CATEGORIES

if TYPE_CHECKING:
    from store.ingest import FileStories, ImportReport

# The service's modules are imported inside the commands: heavy, and each needs its own.

SUFFIXES = {".txt", ".text", ".html", ".htm", ".xhtml", ".jsonl", ".ndjson"}
CATEGORY_CHOICES = (*CATEGORIES, "无", "auto")


def _files(paths: tuple[str, ...]) -> list[Path | str]:
    """The files named, with folders expanded to the page, HTML and export files inside; web
    addresses stay as they are."""
    out: list[Path | str] = []
    for raw in paths:
        if "://" in raw:  # an address, fetched or refused by _load_url
            out.append(raw)
            continue
        p = Path(raw)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        else:
            out.append(p)
    return out


def _load_url(url: str, config: Any) -> list[Any]:
    """The story at ``url``, fetched as ``#链接`` fetches it ([admin] fetch_* limits)."""
    from store.extract import article_from_url
    from store.ingest import IngestError
    from store.webfetch import FetchError, is_web_address

    if not is_web_address(url):
        raise IngestError(f"{url}: only http:// and https:// addresses can be imported")
    conf = config.admin
    try:
        return [article_from_url(url, timeout=conf["fetch_timeout"],
                                 max_bytes=conf["fetch_max_bytes"],
                                 allow_private=conf["fetch_private"])]
    except FetchError as e:
        raise IngestError(f"{url}: {e}") from None


@main.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH|URL...")
@click.option("--strict", is_flag=True, help="Import nothing at all if any file is bad.")
@click.option("--dry-run", is_flag=True, help="Read and split the pages, save nothing.")
@click.option("--overwrite-edits", is_flag=True,
              help="Replace what editors changed in the stories with the imported text.")
@click.pass_obj
def import_(obj: CliState, paths: tuple[str, ...], strict: bool, dry_run: bool,
            overwrite_edits: bool) -> None:
    """Import newspaper pages (.txt), article pages (.html), an export (.jsonl) or the story
    at a web address (as the admins' #链接 does, within the [admin] fetch_* limits).

    Each page is split into its stories; a story already in the store keeps its id and is
    updated (or skipped when nothing changed), even under a changed title. What an editor
    changed (#改, newsbot edit) is kept unless --overwrite-edits. Folders are searched.
    Every file is read and checked first; then each is saved in a transaction of its own, so
    the service keeps answering during a long import and an interrupted one is finished by
    running it again. Where a page lost text at a column break the story shows 〔……〕, and
    the report names each such gap (story, paragraph) for `newsbot edit --paragraph`.

    \b
    Example:
      newsbot import pages/*.txt
      newsbot --db news.db import story.html backup.jsonl
      newsbot import https://mp.weixin.qq.com/s/AbCdEf
      newsbot import --overwrite-edits pages/2024-07-02.txt
    """
    from store.db import StoreError
    from store.ingest import FileStories, ImportReport, IngestError, load_file, save_files

    files = _files(paths)
    if not files:
        raise click.ClickException("no page files found in " + " ".join(paths))
    parsed: list[FileStories] = []
    bad: list[str] = []
    report = ImportReport()
    with progress_bar() as progress:
        reading = progress.add_task("reading pages", total=len(files))
        for f in files:
            try:
                found = _load_url(f, obj.config) if isinstance(f, str) else load_file(f)
                parsed.append(FileStories(f if isinstance(f, str) else str(f), found))
            except IngestError as e:
                bad.append(str(e))
            progress.advance(reading)
        stories = sum(len(p.stories) for p in parsed)
        if bad and strict:
            stories = 0
        elif stories and not dry_run:
            saving = progress.add_task("saving stories", total=stories)
            try:
                save_files(obj.store(), parsed, report,
                           progress=lambda _a: progress.advance(saving),
                           actor=operator(), overwrite_edits=overwrite_edits)
            except (StoreError, sqlite3.Error):  # the store's error follows as the command's line
                click.echo(f"newsbot: {parsed[report.pages].name}: not saved; the"
                           f" {report.pages} file(s) before it are saved, and importing again"
                           " skips them", err=True)
                raise
    for msg in bad:
        click.echo(f"newsbot: {msg}", err=True)
    if bad and strict and not report.pages:
        raise click.ClickException(f"{len(bad)} bad file(s): nothing imported (--strict)")
    if dry_run:
        _echo_dry_run(parsed)
    else:
        _echo_report(report)
    if bad:
        raise click.ClickException(f"{len(bad)} of {len(files)} file(s) could not be imported")


def _echo_dry_run(parsed: list[FileStories]) -> None:
    """Each story found, and each gap the import would mark in it."""
    from store.ingest_mend import gaps_in

    for p in parsed:
        for a in p.stories:
            name = p.name if "://" in p.name else Path(p.name).name
            click.echo(f"{name}\t{'、'.join(a.authors) or '-'}\t{len(a.body)} ¶\t{a.title}")
            for g in gaps_in(a.body):
                click.echo(f"gap: 《{a.title}》 paragraph {g.paragraph}: “{g.around}”")
    stories = sum(len(p.stories) for p in parsed)
    click.echo(f"{len(parsed)} pages, {stories} stories found (dry run, nothing saved)")


def _echo_report(report: ImportReport) -> None:
    """The import's counts, then each gap marked where a page lost text, for an editor."""
    click.echo(report.line())
    for line in report.gap_lines():
        click.echo(line)
    if report.gaps:
        click.echo("Fill each gap from the printed page: newsbot show ID, then"
                   ' newsbot edit ID --paragraph N "the paragraph, whole"')


def _row(a: Any) -> dict[str, Any]:
    return asdict(a)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "json"]), default="jsonl",
              show_default=True, help="jsonl: one story per line; json: one array.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
@click.pass_obj
def export(obj: CliState, fmt: str, output: str) -> None:
    """Export every story with every field (re-importable with `newsbot import`).

    \b
    Example:
      newsbot export > stories.jsonl
      newsbot export --format json -o stories.json
    """
    from store.articles import every

    rows = (_row(a) for a in every(obj.store()))

    def write(out: Any) -> int:
        n = 0
        if fmt == "json":
            out.write("[\n")
        for row in rows:
            line = json.dumps(row, ensure_ascii=False)
            if fmt == "json":
                out.write(("," if n else " ") + line + "\n")
            else:
                out.write(line + "\n")
            n += 1
        if fmt == "json":
            out.write("]\n")
        return n

    if output == "-":
        write(sys.stdout)
        return
    target = Path(output)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=".export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            n = write(out)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    click.echo(f"{n} stories written to {target}", err=True)


def _cats(a: Any) -> str:
    cats = "、".join(a.effective_categories) or "无"
    return cats + ("*" if a.category_override is not None else "")


@main.command("list")
@click.option("--category", type=click.Choice(CATEGORIES), help="Only this category.")
@click.option("--limit", "-n", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="Stories to show, newest first.")
@click.pass_obj
def list_(obj: CliState, category: str | None, limit: int) -> None:
    """List stories, newest first: id, date (published, else added), categories (* = set
    by an admin), title.

    \b
    Example:
      newsbot list --category 社区 --limit 10
    """
    from handlers.clock import shown_date
    from store.articles import latest

    found = latest(obj.store(), limit=limit, category=category)
    if not found:
        click.echo("no stories" + (f" in {category}" if category else ""))
        return
    for a in found:
        date = a.published or shown_date(a.added_at, obj.config)
        click.echo(f"{a.id}\t{date}\t{_cats(a)}\t{a.title}")


@main.command()
@click.argument("article_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Every field as one JSON object.")
@click.pass_obj
def show(obj: CliState, article_id: int, as_json: bool) -> None:
    """Show one story in full.

    \b
    Example:
      newsbot show 12
    """
    from handlers.clock import shown
    from store.articles import require
    from store.ingest_mend import gaps_in

    a = require(obj.store(), article_id)
    if as_json:
        click.echo(json.dumps(_row(a), ensure_ascii=False, indent=2))
        return
    lines = [f"#{a.id} {a.title}"]
    for label, value in (("kicker", a.kicker), ("subtitle", a.subtitle),
                         ("authors", "、".join(a.authors)), ("categories", _cats(a)),
                         ("published", a.published), ("source", a.source), ("url", a.url),
                         ("added", shown(a.added_at, obj.config)),
                         ("updated", shown(a.updated_at, obj.config)),
                         ("edited by hand", "、".join(a.edited)),
                         ("summary", a.summary), ("summary (long)", a.summary_long)):
        if value:
            lines.append(f"{label}: {value}")
    for g in gaps_in(a.body, a.id):
        lines.append(f"gap: paragraph {g.paragraph}: “{g.around}” (text the page lost; fill it"
                     f" with newsbot edit {a.id} --paragraph {g.paragraph} \"the paragraph\")")
    lines.append("")
    lines += a.body
    if a.captions:
        lines += [""] + [f"[图] {c}" for c in a.captions]
    click.echo("\n".join(lines))


_FIELD_OPTIONS = ("title", "subtitle", "kicker", "authors", "published", "url", "cover",
                  "summary")


@main.command()
@click.argument("article_id", type=int, metavar="ID")
@click.option("--title", help="New title.")
@click.option("--subtitle", help="New subtitle (empty: none).")
@click.option("--kicker", help="New kicker, the line above the title (empty: none).")
@click.option("--authors", help="Authors, separated by spaces or 、, or a byline as printed "
              "(记者 王磊 通讯员 赵敏); empty: none.")
@click.option("--published", metavar="DATE", help="Date published, e.g. 2024-07-02 (empty: "
              "unknown).")
@click.option("--category", "categories", multiple=True, type=click.Choice(CATEGORY_CHOICES),
              help="Set the categories (repeat for both); 无 = none; auto = back to the model's.")
@click.option("--url", help="Link readers to this address (empty: the bot hosts the story).")
@click.option("--cover", help="Address of the cover picture (empty: none).")
@click.option("--summary", help="New short summary (the news card's text; empty: made from the "
              "text again).")
@click.option("--paragraph", nargs=2, type=(click.IntRange(1), str), metavar="N TEXT",
              help="Replace paragraph N of the body (N one past the last adds one; TEXT - "
              "removes it).")
@click.option("--body", "body_file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Replace the whole body with FILE's text, one paragraph a line (- : stdin).")
@click.pass_obj
def edit(obj: CliState, article_id: int, categories: tuple[str, ...],
         paragraph: tuple[int, str] | None, body_file: Any, **fields: str | None) -> None:
    """Change any field of a story: title, subtitle, kicker, authors, date, categories, link,
    cover, summary, one paragraph or the whole body. A later import of the same page keeps
    what was changed here (unless `newsbot import --overwrite-edits`).

    \b
    Example:
      newsbot edit 12 --title "社区食堂开张了" --category 社区 --category 党建
      newsbot edit 12 --authors "王磊 赵敏" --published 2024-07-02
      newsbot edit 12 --paragraph 3 "新的第三段。"
    """
    from store.articles import edit as edit_story
    from store.articles import require
    from store.db import StoreError
    from store.edits import EditError, read_body, read_value, set_paragraph

    store = obj.store()
    try:
        changes = {("picurl" if k == "cover" else k): read_value("picurl" if k == "cover" else k, v)
                   for k, v in fields.items() if v is not None}
        if categories:
            changes["categories"] = _category_choice(categories)
        if body_file is not None:
            changes["body"] = read_body(body_file.read())
        if paragraph is not None:
            changes["body"] = set_paragraph(changes.get("body") or require(store, article_id).body,
                                            *paragraph)
    except EditError as e:
        raise click.UsageError(str(e)) from None
    if not changes:
        raise click.ClickException(
            "nothing to change: give " + ", ".join(f"--{o}" for o in _FIELD_OPTIONS)
            + ", --category, --paragraph or --body")
    try:
        a = edit_story(store, article_id, operator(), **changes)
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"#{a.id} updated: {a.title} [{_cats(a)}]")


def _category_choice(categories: tuple[str, ...]) -> list[str] | None:
    chosen = set(categories)
    if len(chosen) > 1 and chosen & {"无", "auto"}:
        raise click.UsageError("--category 无 and auto stand alone")
    if chosen == {"auto"}:
        return None
    if chosen == {"无"}:
        return []
    return [c for c in CATEGORIES if c in chosen]


@main.command()
@click.argument("article_id", type=int, metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(obj: CliState, article_id: int, yes: bool) -> None:
    """Delete a story (asks first unless --yes).

    \b
    Example:
      newsbot delete 12 --yes
    """
    from store.articles import delete as delete_story
    from store.articles import require

    store = obj.store()
    a = require(store, article_id)
    if not yes:
        click.confirm(f"delete #{a.id} {a.title}?", abort=True)
    from store.audit import record, snapshot

    with store.transaction():  # the deletion and its audit entry (the story whole), together
        gone = delete_story(store, article_id)
        record(store, operator(), "delete", article_id=gone.id, before=snapshot(gone))
    click.echo(f"#{a.id} deleted: {a.title}")
