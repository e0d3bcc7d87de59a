"""Reply values and the one place they become XML, with WeChat's limits enforced.

Handlers return ``None`` (no passive reply: ``success``), a ``str`` or :class:`Text`, an
:class:`Article`, :class:`News` or :class:`Image`. :func:`normalise` and :func:`to_xml` apply the limits:

* text: at most ``TEXT_LIMIT`` bytes of UTF-8 (WeChat drops longer passive replies silently);
* news: one article when the user sent a message (WeChat shows only the first since
  2018-10-12), up to eight for events such as a menu click.

The XML is written here rather than by wechatpy's reply classes, which do not escape ``]]>``
inside CDATA: one story containing it would otherwise break the whole reply.
"""

from __future__ import annotations

import time

from handlers.base import (
    DESCRIPTION_LIMIT,
    NEWS_LIMIT_EVENT,
    NEWS_LIMIT_MESSAGE,
    TITLE_LIMIT,
    Article,
    Image,
    Message,
    News,
    Reply,
    Text,
    clip_bytes,
    clip_chars,
)

_USER_MESSAGES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def normalise(reply: Reply, msg: Message) -> Text | News | Image | None:
    """Coerce a handler's return value and enforce the limits; ``None`` means ``success``."""
    if reply is None:
        return None
    if isinstance(reply, str):
        reply = Text(reply)
    if isinstance(reply, Article):
        reply = News([reply])
    if isinstance(reply, Image):
        return reply if reply.media_id else None
    if isinstance(reply, Text):
        content = reply.content.strip()
        return Text(clip_bytes(content)) if content else None
    if isinstance(reply, News):
        limit = NEWS_LIMIT_MESSAGE if msg.type in _USER_MESSAGES else NEWS_LIMIT_EVENT
        arts = [
            Article(
                clip_chars(a.title, TITLE_LIMIT),
                clip_chars(a.description, DESCRIPTION_LIMIT),
                a.url,
                a.picurl,
            )
            for a in reply.articles[:limit]
        ]
        return News(arts) if arts else None
    raise TypeError(f"handler returned {type(reply).__name__}, not a reply value")


def to_xml(reply: Text | News | Image | None, msg: Message, now: int | None = None) -> str:
    if reply is None:
        return "success"
    head = (
        f"<xml><ToUserName>{cdata(msg.source)}</ToUserName>"
        f"<FromUserName>{cdata(msg.target)}</FromUserName>"
        f"<CreateTime>{int(time.time()) if now is None else now}</CreateTime>"
    )
    if isinstance(reply, Text):
        return head + f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(reply.content)}</Content></xml>"
    if isinstance(reply, Image):
        return (head + "<MsgType><![CDATA[image]]></MsgType>"
                f"<Image><MediaId>{cdata(reply.media_id)}</MediaId></Image></xml>")
    items = "".join(
        f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}</Description>"
        f"<PicUrl>{cdata(a.picurl)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
        for a in reply.articles
    )
    return (
        head + f"<MsgType><![CDATA[news]]></MsgType><ArticleCount>{len(reply.articles)}"
        f"</ArticleCount><Articles>{items}</Articles></xml>"
    )
