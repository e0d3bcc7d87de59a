"""Adding stories from the phone: ``#添加`` (one message, or a draft over several messages closed
with ``#完成``), ``#版面`` (a whole newspaper page through the page import), ``#取消``.

One WeChat message holds only so much text, so a long story arrives in parts: the draft lives in
the shared state per admin and expires after ``[admin] draft_ttl`` seconds without a message.
"""

from __future__ import annotations

import time
from typing import Any

from handlers.admin_base import (
    CONFIRM_KEY,
    COVER_KEY,
    AdminError,
    cats_label,
    command,
    state_drop,
    state_get,
    state_set,
)
from handlers.base import Context, Message
from store import articles, audit
from store.articles import SOURCE_STORY, Article
from store.audit import snapshot
from store.extract import TITLE_MAX, read_lines  # a longer first line is body text
from store.ingest import IngestError, import_text, parse_page
from store.text import GAP

MAX_CHARS = 30_000  # a whole printed page is 3,000-7,000 characters
PAGE_MIN_CHARS = 1500  # shorter text is never taken for a whole page
SOURCE_PAGE = "微信后台版面"

DRAFT_KEY = "draft"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.splitlines() if p.strip()]


def _split_title(text: str, usage: str) -> tuple[str, list[str]]:
    lines = _paragraphs(text)
    if not lines:
        raise AdminError(f"缺少标题。用法：{usage}")
    title = lines[0]
    if len(title) > TITLE_MAX:
        raise AdminError(
            f"缺少标题：第一行有 {len(title)} 字，像是正文。请把标题（{TITLE_MAX} 字以内）"
            f"单独写在第一行。用法：{usage}"
        )
    return title, lines[1:]


def _check_size(chars: int) -> None:
    if chars > MAX_CHARS:
        raise AdminError(
            f"内容太长（{chars} 字，上限 {MAX_CHARS} 字），未保存。请分成几篇稿件添加。"
        )


def looks_like_page(text: str) -> bool:
    """A long text the page import splits into several stories is a whole printed page."""
    if len(text) < PAGE_MIN_CHARS:
        return False
    try:
        return len(parse_page(text, SOURCE_PAGE)) >= 2
    except IngestError:
        return False


# -- saving -----------------------------------------------------------------------------------
def save_story(ctx: Context, a: Any, *, action: str = "add") -> str:
    """Save one story and its audit entry in one transaction; the reply names the id. A story
    typed in (``add``) is the editor's own text and replaces the stored one whole; one fetched
    again (``link``) keeps what editors changed, as any import does."""
    if not a.body:
        raise AdminError(f"正文为空，未保存《{a.title}》。")
    store = ctx.store
    with store.transaction():
        saved = articles.merge(store, a, overwrite_edits=action == "add")
        story = articles.require(store, saved.id)
        if saved.outcome != "unchanged":
            before = snapshot(saved.before) if saved.before is not None else None
            audit.record(store, ctx.user, action, article_id=saved.id, before=before,
                         after=snapshot(story))
    kept = f"\n编辑改过的 {len(saved.kept)} 处已保留。" if saved.kept and action != "add" else ""
    if saved.outcome == "unchanged":
        return f"稿件已存在，未做改动：#{saved.id}《{story.title}》。{kept}"
    verb = "已添加" if saved.outcome == "added" else "已更新同标题的稿件"
    return _saved_reply(story, verb) + kept


FIRST_LINE = 40  # characters of the first paragraph a reply shows


def _saved_reply(a: Any, verb: str) -> str:
    """What was stored, for the admin to check at a glance, and how to take it back."""
    chars = sum(len(p) for p in a.body)
    lines = [f"{verb} #{a.id}《{a.title}》"]
    if a.authors:
        lines.append(f"作者：{'、'.join(a.authors)}")
    first = a.body[0]
    lines.append(f"首段：{first[:FIRST_LINE]}{'……' if len(first) > FIRST_LINE else ''}")
    lines.append(f"正文 {chars} 字，{len(a.body)} 段；分类：{cats_label(a.effective_categories)}。")
    if verb == "已添加":
        lines.append(f"如有误，发送 #删除 {a.id} 撤销；#改 {a.id} 字段 新内容 修改。")
    return "\n".join(lines)


def import_page(ctx: Context, text: str) -> str:
    """A whole printed page through the same import as ``newsbot import``; audited per story."""
    store = ctx.store
    try:
        report = import_text(store, text, SOURCE_PAGE, actor=ctx.user, action="import_page")
    except IngestError as e:
        raise AdminError(
            f"版面导入失败（{e}）。请检查内容，或用 #添加 标题+正文 添加单篇。"
        ) from None
    lines = [
        (f"版面已导入：新增 {len(report.added)} 篇，更新 {len(report.updated)} 篇，"
         f"未变 {len(report.unchanged)} 篇。")
    ]
    if report.kept:
        lines.append(f"编辑改过的 {report.kept} 处已保留。")
    for a in articles.many(store, [*report.added, *report.updated, *report.unchanged]):
        lines.append(f"#{a.id}《{a.title}》{cats_label(a.effective_categories)}")
    if report.gaps:
        lines.append(f"版面原文缺字 {len(report.gaps)} 处，已标为{GAP}，请对照原版面用"
                     " #改正文 编号 段号 新文字 补全：")
        lines += [f"#{g.article_id} 第{g.paragraph}段：“{g.around}”" for g in report.gaps]
    return "\n".join(lines)


def _finish(ctx: Context, title: str, body: list[str], page: bool) -> str:
    text = "\n".join([title, *body])
    _check_size(len(text))
    if page or looks_like_page(text):
        return import_page(ctx, text)
    found = read_lines(body, keep_benbao=True)  # bylines become authors, as in a page import
    return save_story(ctx, Article(title=title, body=found.body, authors=found.authors,
                                   captions=found.captions, source=SOURCE_STORY))


# -- drafts -----------------------------------------------------------------------------------
def _draft_hint(d: dict[str, Any]) -> str:
    what = "版面" if d.get("page") else "草稿"
    title = f"《{d['title']}》" if d.get("title") else "（尚无标题）"
    return f"{what}{title}，已收到 {len(d.get('parts', []))} 段、{d.get('chars', 0)} 字"


def _open_draft(ctx: Context, title: str, page: bool) -> str:
    d = {"title": title, "parts": [], "chars": len(title), "page": page, "started": time.time()}
    state_set(ctx, DRAFT_KEY, d, ctx.config.admin["draft_ttl"])
    minutes = max(1, ctx.config.admin["draft_ttl"] // 60)
    first = "" if title else "第一行为标题，"
    return (
        f"{'版面' if page else '草稿'}已开始{f'《{title}》' if title else ''}。请发送正文，{first}"
        f"可分多条发送；发送 #完成 保存，#取消 放弃（{minutes} 分钟无消息自动作废）。"
    )


def _refuse_if_drafting(ctx: Context) -> None:
    d = state_get(ctx, DRAFT_KEY)
    if d is not None:
        raise AdminError(f"您还有未完成的{_draft_hint(d)}。请先发送 #完成 保存或 #取消 放弃。")


def append_to_draft(msg: Message, ctx: Context) -> str | None:
    """A plain message while a draft is open is more of its text; ``None`` when no draft."""
    d = state_get(ctx, DRAFT_KEY)
    if d is None:
        return None
    text = msg.content.strip()
    if not d.get("title") and not d.get("page"):
        title, rest = _split_title(text, "先发标题，再发正文")
        d["title"] = title
        d["chars"] = len(title)
        text = "\n".join(rest)
    if text:
        _check_size(d["chars"] + len(text))
        d["parts"].append(text)
        d["chars"] += len(text)
    state_set(ctx, DRAFT_KEY, d, ctx.config.admin["draft_ttl"])
    return f"{_draft_hint(d)}。继续发送正文，或发送 #完成 保存、#取消 放弃。"


@command(
    "添加", "加", "新增", "新建", "add",
    usage="#添加 标题（换行）正文",
    summary="添加一篇稿件（一条消息，或分多条发送后 #完成）",
    detail=(
        "第一行是标题（64 字以内），其后是正文，每行一段。\n"
        "一条消息写不下时：先发 #添加 标题，再分几条发送正文，最后发 #完成。\n"
        "正文若是整版报纸（多篇报道），会按版面拆分导入，与命令行 newsbot import 相同。\n"
        "同一标题再次添加会更新原稿件。"
    ),
    mutates=True,
)
def add(args: str, msg: Message, ctx: Context) -> str:
    _refuse_if_drafting(ctx)
    if not args:
        return _open_draft(ctx, "", page=False)
    title, body = _split_title(args, "#添加 标题（换行）正文")
    if not body:
        return _open_draft(ctx, title, page=False)
    return _finish(ctx, title, body, page=False)


@command(
    "版面", "整版", "page",
    usage="#版面（换行）整版文字",
    summary="导入整版报纸，拆分为多篇稿件",
    detail="把一整版报纸的文字（可分多条发送，最后 #完成）按版面拆成各篇报道导入。",
    mutates=True,
)
def page(args: str, msg: Message, ctx: Context) -> str:
    _refuse_if_drafting(ctx)
    if not args:
        return _open_draft(ctx, "", page=True)
    _check_size(len(args))
    return import_page(ctx, args)


@command(
    "完成", "done",
    usage="#完成",
    summary="保存正在编写的草稿",
    detail="把 #添加 或 #版面 之后分多条发送的内容合成一篇（或整版）保存。",
    mutates=True,
)
def done(args: str, msg: Message, ctx: Context) -> str:
    d = state_get(ctx, DRAFT_KEY)
    if d is None:
        minutes = max(1, ctx.config.admin["draft_ttl"] // 60)
        raise AdminError(
            f"没有进行中的草稿（草稿 {minutes} 分钟无消息会自动作废）。发送 #添加 开始。"
        )
    parts = _paragraphs("\n".join(d.get("parts", [])))
    if d.get("page"):
        if not parts:
            raise AdminError("版面内容为空，未导入。请发送整版文字，或 #取消。")
        reply = _finish(ctx, parts[0], parts[1:], page=True)
    else:
        if not d.get("title"):
            raise AdminError("草稿为空：缺少标题和正文。请发送内容，或 #取消。")
        reply = _finish(ctx, d["title"], parts, page=False)
    state_drop(ctx, DRAFT_KEY)
    return reply


@command(
    "取消", "cancel",
    usage="#取消",
    summary="放弃草稿或待确认的删除",
    detail="放弃正在编写的草稿，以及尚未 #确认 的删除。",
)
def cancel(args: str, msg: Message, ctx: Context) -> str:
    dropped = []
    d = state_get(ctx, DRAFT_KEY)
    if d is not None:
        state_drop(ctx, DRAFT_KEY)
        dropped.append(f"已放弃{_draft_hint(d)}。")
    c = state_get(ctx, CONFIRM_KEY)
    if c is not None:
        state_drop(ctx, CONFIRM_KEY)
        dropped.append(f"已取消待确认的操作：{c.get('what', '')}。")
    if state_get(ctx, COVER_KEY) is not None:
        state_drop(ctx, COVER_KEY)
        dropped.append("已不再等待封面图片。")
    return "\n".join(dropped) or "没有需要取消的草稿或待确认的操作。"
