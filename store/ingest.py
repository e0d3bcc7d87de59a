"""Page import: one printed newspaper page (text extracted from PDF) -> its separate stories.

The steps, each in its own module:

1. ``ingest_blocks``: lines -> units (text, head, byline, credit, banner, column, footer, date).
2. ``ingest_mend``: blocks printed twice dropped; paragraphs cut at column breaks mended, the
   shuffled columns put back in reading order; short blocks inside a cut marked as captions.
3. here: captions found, the page cut into stories, each heading group read as title, subtitle
   and kicker, bylines given to their story.

A heading group after some body text starts a new story when anything says so: a column name, a
byline or 本报讯 right under it, a closing byline just above it, a headline's length (section
heads are short), or a byline of its own further down while the current story already has one.
Otherwise it is a section head and stays in the story as a paragraph of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store import audit
from store.articles import Article, Outcome, Saved, merge, prepare, require
from store.db import Store
from store.ingest_blocks import (
    CAPTION_MARKS,
    DATE_LINE,
    Unit,
    byline_names,
    is_banner_line,
    split_lines,
)
from store.ingest_files import (  # noqa: F401  (the import API lives in this module's name)
    MAX_BYTES,
    IngestError,
    articles_from_jsonl,
    decode_page,
    load_file,
    read_page,
)
from store.ingest_mend import Gap, drop_torn_start, gaps_in, mend, unglue_place
from store.masthead import masthead_of
from store.text import COMMAS, GAP, balanced, normal_key, sentences

# seconds at least between an import's transactions (the next file's summaries are made
# meanwhile): SQLite's busy handler sleeps up to 0.1 s between tries, so a writer of another
# process waiting in it tries at least once inside every gap, instead of mostly finding the
# lock taken again
TURN = 0.1
SECTION_MAX = 28  # a heading group longer than this (characters) is a headline, not a section


@dataclass
class ImportReport:
    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    stories: list[Article] = field(default_factory=list)
    pages: int = 0
    kept: int = 0  # editors' changes an import would have replaced, and kept
    replaced: int = 0  # editors' changes replaced (--overwrite-edits)
    gaps: list[Gap] = field(default_factory=list)  # where the pages lost text, still unmended

    def record(self, article_id: int, outcome: Outcome) -> None:
        getattr(self, outcome).append(article_id)

    def line(self) -> str:
        text = (
            f"{self.pages} page{'s' if self.pages != 1 else ''}, {len(self.added)} stories added, "
            f"{len(self.updated)} updated, {len(self.unchanged)} skipped as duplicates"
        )
        if self.kept:
            text += (f"; {self.kept} editor change{'s' if self.kept != 1 else ''} kept"
                     " (--overwrite-edits replaces them)")
        if self.replaced:
            text += f"; {self.replaced} editor change{'s' if self.replaced != 1 else ''} replaced"
        if self.gaps:
            text += (f"; {len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''} marked"
                     f" {GAP} where the page lost text")
        return text

    def gap_lines(self) -> list[str]:
        """One line per gap for an operator: the story, the paragraph, the text around it."""
        return [f"gap: #{g.article_id} paragraph {g.paragraph}: “{g.around}”" for g in self.gaps]


# --- the page --------------------------------------------------------------------------------


@dataclass
class _Story:
    heads: list[Unit] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    closed: bool = False  # a byline has ended it

    def add_authors(self, byline: str) -> None:
        for name in byline_names(byline):
            if name not in self.authors:
                self.authors.append(name)


def published_of(page: str) -> str | None:
    """The page's date if printed (2024年7月2日 星期二), else a year told by an anniversary
    (建党98周年 -> 2019), else None. Event dates in the stories (6月21日) are not used."""
    m = DATE_LINE.search(page)
    if m:
        y, mo, d = (int(x) for x in m.groups())
        return f"{y:04d}-{mo:02d}-{d:02d}"
    for pattern, base in ((r"(?:建党|中国共产党成立|党的)(\d{2,3})周年", 1921),
                          (r"新中国成立(\d{2})周年", 1949), (r"改革开放(\d{2})周年", 1978)):
        m = re.search(pattern, page)
        if m:
            return str(base + int(m.group(1)))
    return None


def _prepare(units: list[Unit]) -> list[Unit]:
    """Furniture out, captions marked (with their photo credits)."""
    out: list[Unit] = []
    body_seen = False
    for u in units:
        if u.kind in ("footer", "date"):
            continue
        if u.kind in ("head", "text") and not body_seen and not u.benbao and is_banner_line(u.text):
            continue
        if u.kind == "head" and u.length <= 20 and is_banner_line(u.text):
            continue
        if u.kind == "credit":
            prev = out[-1] if out else None
            if prev is not None and prev.role == "caption" and not prev.credit:
                prev.credit = u.text
            elif prev is not None and prev.kind in ("text", "head") and prev.length <= 40 \
                    and not prev.credit and not prev.open:
                prev.role, prev.credit = "caption", u.text
            continue  # a credit with no caption above it says nothing about the stories
        if u.credit or (u.kind == "head" and CAPTION_MARKS.search(u.text)):
            u.role = "caption"
        if u.kind == "text" and u.length > 40:
            body_seen = True
        out.append(u)
    _isolated_heads_to_captions(out)
    return out


def _isolated_heads_to_captions(units: list[Unit]) -> None:
    """In a run of head lines each boxed apart (two or more blank lines), only the last one,
    the one right above the text, can be a headline: the others are photo captions."""
    body_seen = False
    i = 0
    while i < len(units):
        u = units[i]
        if u.kind not in ("head", "column") or u.role:
            body_seen = body_seen or (u.kind == "text" and not u.role)
            i += 1
            continue
        j = i
        while j < len(units) and (units[j].kind in ("head", "column") or units[j].role == "caption"):
            j += 1
        run = [x for x in units[i:j] if x.kind in ("head", "column") and not x.role]
        if body_seen and run:
            starts = [k for k, x in enumerate(run) if k == 0 or x.gap >= 2]
            for x in run[: starts[-1]]:
                if x.kind == "head":
                    x.role = "caption"
        i = j


def _tokens(units: list[Unit]) -> list[tuple[str, list[Unit]]]:
    """Group units: ("heads", [...]) for consecutive head/column lines, else one unit each."""
    out: list[tuple[str, list[Unit]]] = []
    for u in units:
        if u.role == "caption":
            out.append(("caption", [u]))
        elif u.kind in ("head", "column"):
            if out and out[-1][0] == "heads":
                out[-1][1].append(u)
            else:
                out.append(("heads", [u]))
        elif u.kind == "byline":
            if out and out[-1][0] == "byline":
                out[-1][1].append(u)
            else:
                out.append(("byline", [u]))
        else:
            out.append(("text", [u]))
    return out


def _next_kind(tokens: list[tuple[str, list[Unit]]], k: int) -> tuple[str, list[Unit]] | None:
    for kind, us in tokens[k + 1 :]:
        if kind != "caption":
            return kind, us
    return None


def _starts_story(cur: _Story, tokens: list[tuple[str, list[Unit]]], k: int) -> bool:
    group = tokens[k][1]
    if cur.closed or any(u.kind == "column" for u in group):
        return True
    if sum(u.length for u in group) > SECTION_MAX:
        return True
    nxt = _next_kind(tokens, k)
    if nxt is not None and (nxt[0] == "byline" or (nxt[0] == "text" and nxt[1][0].benbao)):
        return True
    if cur.authors:
        for kind, us in tokens[k + 1 :]:
            if kind == "heads":
                break
            if kind == "byline" or (kind == "text" and us[0].byline):
                return True
    return False


def _segment(units: list[Unit]) -> list[_Story]:
    tokens = _tokens(units)
    stories: list[_Story] = []
    cur: _Story | None = None
    for k, (kind, us) in enumerate(tokens):
        if kind == "heads":
            if cur is None or (not cur.body and not cur.closed):
                cur = cur or _Story()
                cur.heads += us
            elif _starts_story(cur, tokens, k):
                stories.append(cur)
                cur = _Story(heads=list(us))
            else:
                cur.body.append(" ".join(u.text for u in us if u.kind == "head"))
        elif kind == "byline":
            cur = cur or _Story()
            for u in us:
                cur.add_authors(u.text)
            nxt = _next_kind(tokens, k)
            if cur.body and (nxt is None or nxt[0] == "heads"):
                cur.closed = True
        elif kind == "caption":
            u = us[0]
            cur = cur or _Story()
            cur.captions.append(f"{u.text} {u.credit}".strip())
        else:
            u = us[0]
            if cur is None:
                cur = _Story()
            elif cur.closed or (u.benbao and cur.body):
                stories.append(cur)
                cur = _Story()
            cur.body.append(u.text)
            if u.byline:
                cur.add_authors(u.byline)
    if cur is not None:
        stories.append(cur)
    # A trailing heading group with no text under it: captions of the story before.
    out: list[_Story] = []
    for s in stories:
        if not s.body:
            if out:
                out[-1].captions += [u.text for u in s.heads if u.kind == "head"] + s.captions
            continue
        out.append(s)
    return out


def _parallel(a: str, b: str) -> bool:
    return len(a) <= 12 and len(b) <= 12 and abs(len(a) - len(b)) <= 1 and " " not in a + b


def _title_score(line: str, merged: bool) -> float:
    n = len(line.replace(" ", ""))
    score = 0.0
    if n <= 5:
        score -= 3
    if n > 30:
        score -= 2
    if any(c in line for c in "，,"):
        score -= 1
    if not balanced(line):
        score -= 3
    if re.search(r"(书记|主任|主席|局长|部长|院长|校长|经理|记者)\s+[\u4e00-\u9fff]{2,3}$", line):
        score -= 2  # a person's post and name: the subtitle of a profile
    if merged:
        score += 1
    return score


def _split_long(line: str) -> tuple[str, str, str]:
    """(kicker, title, subtitle) of one long headline line printed with its companion."""
    parts = line.split(" ")
    if len(line) <= 30 or len(parts) < 2:
        return "", line, ""
    first, rest = parts[0], " ".join(parts[1:])
    if len(first) >= 1.8 * len(rest) and any(c in first for c in COMMAS):
        return first, rest, ""
    return "", first, rest


def read_heads(heads: list[Unit]) -> tuple[str, str, str]:
    """(title, subtitle, kicker) of a heading group."""
    kicker: list[str] = []
    lines: list[tuple[str, bool]] = []
    for u in heads:
        if u.kind == "column":
            if not lines:
                kicker.append(u.text)  # 人物特写 above the title; 核心提示 below it is a label
            continue
        if lines and not lines[-1][1] and _parallel(lines[-1][0], u.text):
            lines[-1] = (f"{lines[-1][0]} {u.text}", True)
        else:
            lines.append((u.text, False))
    if not lines:
        return "", "", " ".join(kicker)
    best = max(range(len(lines)), key=lambda i: (_title_score(*lines[i]), -i))
    k2, title, sub2 = _split_long(lines[best][0])
    kicker += [t for t, _ in lines[:best] if balanced(t)]
    if k2:
        kicker.append(k2)
    subtitle = " ".join([sub2] + [t for t, _ in lines[best + 1 :]]).strip()
    return title, subtitle, " ".join(kicker).strip()


def _title_from_body(body: list[str]) -> str:
    first = sentences(body[0])[0] if body else ""
    clause = re.split(r"[，,；;：:]", first)[0].rstrip("。！？!?")
    return clause[:30]


def _drop_contained(paragraphs: list[str]) -> list[str]:
    keys = [normal_key(p) for p in paragraphs]
    out = []
    for i, p in enumerate(paragraphs):
        k = keys[i]
        if len(k) >= 12 and any(j != i and k in keys[j] and (k != keys[j] or j < i)
                                for j in range(len(keys))):
            continue
        out.append(p)
    return out


def parse_page(text: str, source: str) -> list[Article]:
    """One printed page -> its stories, in page order (not saved)."""
    text = "\n".join(part for line in text.splitlines() for part in unglue_place(line))
    units = split_lines(text)
    if not units:
        raise IngestError(f"{source}: the page has no text")
    units = _prepare(mend(units, text))
    stories = _segment(units)
    published = published_of(text)
    publication = masthead_of(text)
    out: list[Article] = []
    last_authors: list[str] = []
    for s in stories:
        title, subtitle, kicker = read_heads(s.heads)
        body = [drop_torn_start(p) for p in _drop_contained(s.body)]
        if not title:
            title = _title_from_body(body)
        # A story of a series under one byline (a feature in parts) shares that byline.
        authors = s.authors or list(last_authors)
        last_authors = authors
        out.append(Article(title=title, subtitle=subtitle, kicker=kicker, authors=authors,
                           body=body, captions=s.captions, source=source, published=published,
                           publication=publication))
    if not out:
        raise IngestError(f"{source}: no story found on this page")
    return out


# --- saving ----------------------------------------------------------------------------------


def save_all(
    store: Store,
    articles: list[Article],
    report: ImportReport | None = None,
    progress: Callable[[Article], None] | None = None,
    *,
    actor: str = "import",
    action: str = "import",
    overwrite_edits: bool = False,
) -> ImportReport:
    """Save stories in one transaction: all of them, or none if anything fails. Each story
    added or changed gets an audit entry by ``actor`` with the story before and after; fields
    an editor changed are kept unless ``overwrite_edits``. ``progress`` is called after each."""
    report = report or ImportReport()
    taken: set[int] = set()
    with store.transaction():
        for a in articles:
            saved = merge(store, a, overwrite_edits=overwrite_edits, taken=taken)
            taken.add(saved.id)
            report.record(saved.id, saved.outcome)
            _tally_edits(report, saved, overwrite_edits)
            _audit(store, actor, action, saved)
            if any(GAP in p for p in a.body):  # unless an editor has filled it in already
                report.gaps += gaps_in(require(store, saved.id).body, saved.id)
            report.stories.append(a)
            if progress is not None:
                progress(a)
    return report


def _tally_edits(report: ImportReport, saved: Saved, overwrite_edits: bool) -> None:
    if overwrite_edits:
        report.replaced += len(saved.kept)
    else:
        report.kept += len(saved.kept)


def _audit(store: Store, actor: str, action: str, saved: Saved) -> None:
    if saved.outcome == "unchanged":
        return
    before = audit.snapshot(saved.before) if saved.before is not None else None
    audit.record(store, actor, action if saved.outcome == "added" else f"{action}_update", article_id=saved.id, before=before,
                 after=audit.snapshot(require(store, saved.id)))


def import_text(store: Store, text: str, source: str, *, actor: str = "import",
                action: str = "import") -> ImportReport:
    """Parse one page and save its stories (one transaction, audited by ``actor``)."""
    report = save_all(store, parse_page(text, source), actor=actor, action=action)
    report.pages = 1
    return report


@dataclass(frozen=True)
class FileStories:
    name: str  # as the report names it: a path or an address
    stories: list[Article]


def save_files(
    store: Store,
    files: list[FileStories],
    report: ImportReport | None = None,
    progress: Callable[[Article], None] | None = None,
    **how: Any,
) -> ImportReport:
    """Save each file's stories in a transaction of its own (``how``: :func:`save_all`'s
    ``actor``, ``action`` and ``overwrite_edits``): a file is saved whole or not at
    all, and other writers (an admin's edit, a subscription) get their turn between files
    instead of waiting for the whole import. Summaries and categories are made before a file's
    transaction begins. A file the store cannot save stops the run with the store's error;
    ``report.pages`` files (those before it) stay saved, and a rerun skips them."""
    from store.search_index import build

    report = report or ImportReport()
    first = next((a for f in files for a in f.stories), None)
    if first is not None:  # the index's dictionaries (jieba, pinyin: seconds in a fresh
        # process) load now, not inside the first file's transaction
        build(0, [first.title], first.body[:1], first.authors)
    committed = 0.0
    for f in files:
        for a in f.stories:
            prepare(store, a)
        # the gap since the last commit: at least as long as SQLite's busy handler sleeps
        # between tries, so a writer waiting in it gets in before this file
        time.sleep(max(0.0, committed + TURN - time.monotonic()))
        save_all(store, f.stories, report, progress, **how)
        committed = time.monotonic()
        report.pages += 1
    return report
