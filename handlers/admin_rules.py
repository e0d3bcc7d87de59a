"""``#规则``: admins list, add and remove the keyword rules (``handlers.rules``) by message.

``#规则 添加 办公时间 => 工作日 9:00-17:00`` adds a rule answering the whole text 办公时间;
``*社保*`` (stars around the word) matches texts containing it; several keywords are separated
by ``|``. Every change is audited under the admin's openid.
"""

from __future__ import annotations

import re

from handlers.admin_base import AdminError, command
from handlers.base import Context, Message
from handlers.rules import describe
from store import rules as store_rules
from store.rules import Keyword, Rule, RuleError

USAGE = "#规则 列表 | #规则 添加 关键词 => 回复 | #规则 删除 编号"
_ADD = re.compile(r"(?:添加|新增|增加)\s*(.+?)\s*(?:=>|＝>|=》|＝》)\s*(.+)", re.DOTALL)
_REMOVE = re.compile(r"(?:删除|删掉|移除)\s*#?(\d{1,9})\s*号?")


def parse_keywords(spec: str) -> list[Keyword]:
    """``办公时间|上班时间`` (whole text), ``*社保*`` (contains)."""
    out = []
    for part in re.split(r"[|｜]", spec):
        word = part.strip()
        if len(word) > 2 and word[0] in "*＊" and word[-1] in "*＊":
            out.append(Keyword(word[1:-1].strip(), "contain"))
        elif word:
            out.append(Keyword(word, "equal"))
    return [k for k in out if k.text]


def _list(ctx: Context) -> str:
    found = store_rules.all_rules(ctx.store)
    if not found:
        return "还没有自动回复规则。添加：#规则 添加 关键词 => 回复"
    lines = ["自动回复规则："] + [describe(r) for r in found]
    lines.append("删除：#规则 删除 编号")
    return "\n".join(lines)


def _add(ctx: Context, keywords: str, reply: str) -> str:
    words = parse_keywords(keywords)
    rule = Rule(kind="keyword", keywords=words, replies=[{"type": "text",
                                                          "content": reply.strip()}])
    try:
        stored, _ = store_rules.add(ctx.store, rule, ctx.user)
    except RuleError as e:
        raise AdminError(f"没能添加：{e}。用法：{USAGE}") from None
    return f"已添加规则 {describe(stored)}"


@command("规则", "自动回复", usage="#规则 列表|添加|删除",
         summary="关键词自动回复：#规则 列表；#规则 添加 关键词 => 回复；#规则 删除 编号",
         detail="关键词默认全匹配；*关键词* 为包含匹配；多个关键词用 | 分隔。",
         mutates=True)
def rules_command(args: str, msg: Message, ctx: Context) -> str:
    args = args.strip()
    if not args or args in ("列表", "查看", "list"):
        return _list(ctx)
    if m := _ADD.fullmatch(args):
        return _add(ctx, m.group(1), m.group(2))
    if m := _REMOVE.fullmatch(args):
        gone = store_rules.remove(ctx.store, int(m.group(1)), ctx.user)
        if gone is None:
            raise AdminError(f"没有编号为 {m.group(1)} 的规则。发送 #规则 列表 查看。")
        return f"已删除规则 {describe(gone)}"
    raise AdminError(f"没看懂。用法：{USAGE}")
