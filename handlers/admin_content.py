"""Managing stored stories: ``#链接`` (import a web page), ``#删除`` + ``#确认``, ``#改标题``,
``#分类``, ``#列表``, ``#查看``. Every change is audited in the transaction that makes it."""

from __future__ import annotations

import re
from typing import Any

from handlers.admin_base import (
    CONFIRM_KEY,
    CONFIRM_TTL,
    CONFIRMABLE,
    AdminError,
    ask_confirmation,
    cats_label,
    command,
    require_article,
    split_id,
    state_drop,
    state_get,
)
from handlers.admin_draft import TITLE_MAX, save_story
from handlers.base import TEXT_LIMIT, Context, Message
from handlers.clock import shown
from store import articles, audit
from store.audit import snapshot
from store.categories import CATEGORIES
from store.db import StoreError
from store.edits import LABELS, EditError, field_of, read_body, read_value, set_paragraph
from store.extract import article_from_url
from store.ingest_mend import gaps_in
from store.webfetch import FetchError, is_web_address

LIST_DEFAULT = 10
LIST_MAX = 30
LIST_MORE = "……（更多请减少条数或用 #查看 编号）"
# a category's name, none, or back to the automatic categories
CATEGORY_WORDS: dict[str, list[str] | None] = {
    **{c: [c] for c in CATEGORIES}, "无": [], "自动": None
}
_URL = re.compile(r"\S+")


@command(
    "链接", "网址", "url", "link",
    usage="#链接 网址",
    summary="从网页导入一篇文章（公众号文章或新闻网站）",
    detail=(
        "抓取网页（限时几秒、限大小，只接受网页，不接受 PDF 等文件），提取标题和正文，"
        "连同网址一起保存。同一网址再次导入会更新原稿件。"
    ),
    mutates=True,
)
def link(args: str, msg: Message, ctx: Context) -> str:
    m = _URL.match(args)
    if not m:
        raise AdminError("请给出网址。用法：#链接 https://mp.weixin.qq.com/s/…")
    url = m.group(0)
    if not is_web_address(url):
        raise AdminError("链接无效：只支持 http:// 或 https:// 开头的网址。")
    conf = ctx.config.admin
    try:
        a = article_from_url(url, timeout=conf["fetch_timeout"], max_bytes=conf["fetch_max_bytes"],
                             allow_private=conf["fetch_private"])
    except FetchError as e:
        raise AdminError(str(e) + ("可复制正文用 #添加 发送。" if e.paste else "")) from None
    return save_story(ctx, a, action="link")


@command(
    "删除", "删", "移除", "del",
    usage="#删除 编号",
    summary="删除一篇稿件（需 #确认）",
    detail=f"先回复稿件标题请您核对，{CONFIRM_TTL // 60} 分钟内发送 #确认 才会删除；#取消 放弃。",
)
def delete(args: str, msg: Message, ctx: Context) -> str:
    aid, _ = split_id(args, "#删除 编号")
    a = require_article(ctx, aid)
    # the hash pins the very story shown: SQLite may give a deleted story's id to a new one
    return ask_confirmation(ctx, "delete", f"删除 #{aid}《{a.title}》", id=aid,
                            content_hash=a.content_hash)


def _do_delete(pending: dict[str, Any], msg: Message, ctx: Context) -> str:
    aid = int(pending["id"])
    store = ctx.store
    with store.transaction():
        a = require_article(ctx, aid)
        if a.content_hash != pending.get("content_hash"):
            raise AdminError(
                f"#{aid} 在确认前已被修改或替换，未删除。请重新发送 #删除 {aid} 核对。"
            )
        articles.delete(store, aid)
        audit.record(store, ctx.user, "delete", article_id=aid, before=snapshot(a))
    return f"已删除 #{aid}《{a.title}》。"


CONFIRMABLE["delete"] = _do_delete


@command(
    "确认", "确定", "yes",
    usage="#确认",
    summary="执行待确认的操作（删除、推送）",
    detail="执行最近一次 #删除 或 #推送 的请求（限时，过期需重新发送）。",
    mutates=True,
)
def confirm(args: str, msg: Message, ctx: Context) -> str:
    pending = state_get(ctx, CONFIRM_KEY)
    if pending is None:
        raise AdminError("没有待确认的操作（可能已过期或已执行）。请重新发送 #删除 编号 或 #推送。")
    state_drop(ctx, CONFIRM_KEY)
    act = CONFIRMABLE.get(str(pending.get("action")))
    if act is None:
        raise AdminError("待确认的操作无法识别，已放弃。")
    return act(pending, msg, ctx)


def apply_edit(ctx: Context, aid: int, action: str = "edit", **changes: Any) -> tuple[Any, Any]:
    """An editor's change through ``articles.edit`` (marked, audited, re-indexed): the story
    before and after; a refusal becomes the reply."""
    before = require_article(ctx, aid)
    try:
        after = articles.edit(ctx.store, aid, ctx.user, action=action, **changes)
    except EditError as e:
        raise AdminError(f"未修改：{e.zh}") from None
    except StoreError as e:
        raise AdminError(f"未修改：{e}") from None
    return before, after


def _shown(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "、".join(value) or "（无）"
    return str(value) if value else "（无）"


@command(
    "改标题", "修改标题", "标题", "title",
    usage="#改标题 编号 新标题",
    summary="修改稿件标题（同 #改 编号 标题 新标题）",
    detail=f"新标题 {TITLE_MAX} 字以内。",
    mutates=True,
)
def retitle(args: str, msg: Message, ctx: Context) -> str:
    aid, title = split_id(args, "#改标题 编号 新标题")
    if not title.strip():
        raise AdminError("缺少新标题。用法：#改标题 编号 新标题")
    return _edit_field(ctx, aid, "title", title)


def _edit_field(ctx: Context, aid: int, name: str, text: str) -> str:
    try:
        value = read_value(name, text)
    except EditError as e:
        raise AdminError(e.zh) from None
    label = LABELS[name]
    current = require_article(ctx, aid)
    if getattr(current, name) == value:
        return f"#{aid} 的{label}已是“{_shown(name, value)}”，未做改动。"
    before, after = apply_edit(ctx, aid, "retitle" if name == "title" else "edit",
                               **{name: value})
    if name == "title":
        return f"已修改 #{aid} 的标题：\n《{before.title}》→《{after.title}》"
    return (f"已修改 #{aid}《{after.title}》的{label}：\n"
            f"“{_shown(name, getattr(before, name))}”→“{_shown(name, getattr(after, name))}”")


EDIT_USAGE = "#改 编号 字段 新内容"


@command(
    "改", "修改", "edit",
    usage=EDIT_USAGE,
    summary="修改稿件的标题、副题、引题、作者、日期、链接、摘要或封面",
    detail=(
        "字段：标题、副题、引题、作者、日期、链接、摘要、封面。例：\n"
        "#改 12 作者 王磊、赵敏\n#改 12 日期 2024-07-02\n#改 12 副题 （内容留空即清除）\n"
        "正文用 #改正文，分类用 #分类。改过的内容再次导入同一版面时保留。"
    ),
    mutates=True,
)
def edit(args: str, msg: Message, ctx: Context) -> str:
    aid, rest = split_id(args, EDIT_USAGE)
    m = re.match(r"(\S+)\s*(.*)", rest, re.S)
    word, value = (m.group(1), m.group(2)) if m else ("", "")
    if not word:
        raise AdminError(f"缺少字段。用法：{EDIT_USAGE}（字段：标题、副题、引题、作者、日期、链接、摘要、封面）")
    name = field_of(word)
    if word in ("正文", "内容"):
        return edit_body(f"{aid}\n{value}" if "\n" in value else f"{aid} {value}", msg, ctx)
    if word in ("分类", "类别"):
        return categorise(f"{aid} {value}", msg, ctx)
    if name is None:
        raise AdminError(
            f"不认识的字段“{word}”。可改：标题、副题、引题、作者、日期、链接、摘要、封面"
            "（正文用 #改正文，分类用 #分类）。"
        )
    return _edit_field(ctx, aid, name, value)


BODY_USAGE = "#改正文 编号 段号 新文字"


@command(
    "改正文", "修改正文", "正文",
    usage=BODY_USAGE,
    summary="修改正文的一段，或换掉整篇正文",
    detail=(
        "例：#改正文 12 3 新的第三段文字（#查看 12 可看各段）；#改正文 12 3 删除（删去第三段）；"
        "段号比现有段数多 1 时添加一段。\n整篇换掉：#改正文 12（换行）新正文，每行一段。"
    ),
    mutates=True,
)
def edit_body(args: str, msg: Message, ctx: Context) -> str:
    aid, rest = split_id(args, BODY_USAGE)
    a = require_article(ctx, aid)
    m = re.match(r"(\d{1,4})(?:[ \t]+|$)", rest)
    try:
        if m and "\n" not in rest:
            number = int(m.group(1))
            body = set_paragraph(a.body, number, rest[m.end():])
            what = f"第 {number} 段"
        elif rest.strip():
            body, what = read_body(rest), "整篇正文"
        else:
            raise AdminError(f"缺少新文字。用法：{BODY_USAGE}；整篇换掉：#改正文 编号（换行）新正文")
    except EditError as e:
        raise AdminError(e.zh) from None
    if body == a.body:
        return f"#{aid} 的正文没有变化，未做改动。"
    _, after = apply_edit(ctx, aid, body=body)
    chars = sum(len(p) for p in after.body)
    return f"已修改 #{aid}《{after.title}》的{what}。\n正文 {chars} 字，{len(after.body)} 段。"


@command(
    "分类", "类", "类别", "归类", "cat",
    usage="#分类 编号 党建|社区|无|自动",
    summary="设定稿件分类（党建、社区、两者、无）",
    detail=(
        "例：#分类 12 党建；#分类 12 党建 社区（两类都属）；#分类 12 无（不进任何分类）；"
        "#分类 12 自动（恢复自动分类）。人工设定优先于自动分类，决定每日推送的栏目。"
    ),
    mutates=True,
)
def categorise(args: str, msg: Message, ctx: Context) -> str:
    usage = "#分类 编号 党建|社区|无|自动"
    aid, rest = split_id(args, usage)
    words = [w for w in re.split(r"[\s,，、|/]+", rest) if w]
    if not words:
        raise AdminError(f"缺少分类。用法：{usage}")
    unknown = [w for w in words if w not in CATEGORY_WORDS]
    if unknown:
        raise AdminError(f"不认识的分类：{'、'.join(unknown)}。可选：党建、社区、无、自动。")
    override: list[str] | None
    if "自动" in words:
        override = None
    else:
        chosen = {c for w in words for c in (CATEGORY_WORDS[w] or [])}
        override = [c for c in CATEGORIES if c in chosen]
    a, b = apply_edit(ctx, aid, "categorise", categories=override)
    how = "自动分类" if override is None else "人工设定"
    return (
        f"已设定 #{aid}《{a.title}》的分类：{cats_label(b.effective_categories)}（{how}）。"
        f"\n原为：{cats_label(a.effective_categories)}"
    )


@command(
    "列表", "列", "ls", "list",
    usage=f"#列表 [条数，默认 {LIST_DEFAULT}]",
    summary="最近添加的稿件及编号",
)
def list_(args: str, msg: Message, ctx: Context) -> str:
    n = LIST_DEFAULT
    if args:
        if not args.isdigit() or int(args) < 1:
            raise AdminError(f"条数应是正整数。用法：#列表 {LIST_DEFAULT}")
        n = min(int(args), LIST_MAX)
    items = articles.latest(ctx.store, limit=n)
    if not items:
        return "还没有稿件。发送 #添加 或 #链接 添加。"
    total = articles.count(ctx.store)
    lines = [f"最近 {len(items)} 篇（共 {total} 篇）："]
    size = len(lines[0].encode())
    for a in items:
        line = f"#{a.id} [{cats_label(a.effective_categories)}] {a.title}"
        size += len(line.encode()) + 1
        if size + len(LIST_MORE.encode()) + 1 > TEXT_LIMIT:  # the list is never clipped
            lines.append(LIST_MORE)
            break
        lines.append(line)
    return "\n".join(lines)


PARAGRAPH_PREVIEW = 50  # characters of each paragraph #查看 编号 正文 shows


@command(
    "查看", "看", "详情", "show",
    usage="#查看 编号 [正文]",
    summary="查看一篇稿件的详情；加“正文”看各段（带段号）",
    detail="#查看 12 正文：列出各段的开头和段号，供 #改正文 12 段号 新文字 使用。",
)
def show(args: str, msg: Message, ctx: Context) -> str:
    aid, rest = split_id(args, "#查看 编号 [正文]")
    a = require_article(ctx, aid)
    if rest in ("正文", "段", "段落"):
        return _paragraphs(a)
    chars = sum(len(p) for p in a.body)
    how = "人工设定" if a.category_override is not None else "自动"
    lines = [f"#{a.id}《{a.title}》"]
    for label, value in (("引题", a.kicker), ("副题", a.subtitle),
                         ("作者", "、".join(a.authors)), ("日期", a.published)):
        if value:
            lines.append(f"{label}：{value}")
    lines += [f"分类：{cats_label(a.effective_categories)}（{how}）", f"来源：{a.source or '-'}"]
    if a.url:
        lines.append(f"原文：{a.url}")
    if a.picurl:
        lines.append(f"封面：{a.picurl}")
    lines += [
        f"正文：{chars} 字，{len(a.body)} 段（#查看 {a.id} 正文 看各段）",
        f"添加：{shown(a.added_at, ctx.config, ctx.now)}",
        f"摘要：{a.summary or '-'}",
    ]
    for g in gaps_in(a.body, a.id):
        lines.append(f"缺字：第{g.paragraph}段“{g.around}”（版面原文缺失，#改正文 {a.id} {g.paragraph}"
                     " 整段补全）")
    if a.edited:
        lines.append("编辑改过：" + "、".join(LABELS.get(n, "分类") for n in a.edited)
                     + "（再次导入时保留）")
    lines.append(f"页面：{ctx.config.public_url}/articles/{a.id}")
    return "\n".join(lines)


def _paragraphs(a: Any) -> str:
    lines = [f"#{a.id}《{a.title}》正文 {len(a.body)} 段："]
    size = len(lines[0].encode())
    for n, p in enumerate(a.body, 1):
        line = f"{n}. {p[:PARAGRAPH_PREVIEW]}{'……' if len(p) > PARAGRAPH_PREVIEW else ''}"
        more = f"……（共 {len(a.body)} 段）"
        size += len(line.encode()) + 1
        if size + len(more.encode()) + 1 > TEXT_LIMIT:  # the list is never clipped
            lines.append(more)
            break
        lines.append(line)
    return "\n".join(lines)
