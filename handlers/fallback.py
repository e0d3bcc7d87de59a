"""What the account cannot read: pictures, stickers, places, links, videos, files, and voice that
WeChat could not turn into text. Each gets a short, friendly pointer to what does work.

Voice with ``Recognition`` is routed like typed text (the router lets voice match text routes);
this module only drops the full stop that speech recognition adds, so that a spoken "下一页。"
still pages on. (``shortvideo`` stays unanswered, as the webhook's tests expect.)
"""

from __future__ import annotations

import re
from dataclasses import replace

from handlers import admin_draft, rules
from handlers.admin_base import AdminError
from handlers.base import Context, Message, Reply, Routes

routes = Routes()

NOT_UNDERSTOOD = (
    "收到啦！不过我只看得懂文字。发送关键词（如：养老、网格员）就能搜索新闻，"
    "发送“帮助”查看全部用法。"
)

_ANSWERS = {
    "image": "图片我暂时看不懂。",
    "voice": "这段语音没能识别成文字，请再说一次，或者直接打字。",
    "video": "视频我暂时看不懂。",
    "shortvideo": "小视频我暂时看不懂。",
    "location": "收到您的位置，谢谢！不过我还不能按位置找新闻。",
    "link": "链接我暂时打不开。",
    "file": "文件我暂时打不开。",
}
_TAIL = "发送关键词（如：养老、网格员）就能搜索新闻，发送“帮助”查看全部用法。"

# WeChat sends its built-in stickers as text: "[微笑]", "[Smile]" or "/::)"-style codes.
_STICKER_CODE = re.compile(r"\[[^\[\]\s]{1,8}\]|/:[^\s/]{1,8}")


# a letter or a digit (a character of Unicode's L or N categories)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def is_emoticon(text: str) -> bool:
    """Text made only of sticker codes, emoji, punctuation and spaces: nothing to search for."""
    if _LETTER_OR_DIGIT.search(text) is None:
        return True
    if "[" not in text and "/" not in text:  # (every search asks: most texts end here)
        return False
    return _LETTER_OR_DIGIT.search(_STICKER_CODE.sub("", text)) is None


@routes(type=("image", "video", "shortvideo", "location", "link", "file"), priority=20, quick=True)
def not_understood(msg: Message, ctx: Context) -> Reply:
    """The console's default reply when the account has one, else a pointer to what works."""
    return rules.default_reply(msg, ctx) or _ANSWERS.get(msg.type, "") + _TAIL


# A web address pasted as text is a link too: its pieces would only be searched for
@routes(type="text", regex=r"(?i:https?://|www\.)\S+", priority=20, quick=True)
def pasted_link(msg: Message, ctx: Context) -> Reply:
    if ctx.is_admin:  # a line of an open draft, else the way to import it
        try:
            reply = admin_draft.append_to_draft(msg, ctx)
        except AdminError as e:
            return str(e)
        return reply if reply is not None else f"要导入这篇文章，请发送：#链接 {msg.content.strip()}"
    return _ANSWERS["link"] + _TAIL


# Voice with Recognition text has content and never fully matches this (it goes to the text
# routes and the search); only voice without any recognised text does.
@routes(type="voice", regex=r"\s*", priority=20, quick=True)
def voice_unrecognised(msg: Message, ctx: Context) -> str:
    return _ANSWERS["voice"] + _TAIL


# WeChat's speech recognition ends a sentence with a full stop ("下一页。"); without it the
# words would miss the command routes. Re-route the trimmed text through the same router.
@routes(type="voice", regex=r"(.*?\S)[\s。！？!?.，,、~～…]+", priority=90)
def voice_trimmed(msg: Message, ctx: Context) -> Reply:
    routes = ctx.shared.routes
    text = ctx.match.group(1) if ctx.match else msg.content
    clean = replace(msg, content=text)
    found = routes.match(clean, ctx) if routes is not None else None
    if found is None:
        return NOT_UNDERSTOOD
    func, _ = found
    return func(clean, ctx)

