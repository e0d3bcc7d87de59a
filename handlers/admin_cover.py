"""``#封面``: a story's cover picture, from the phone.

``#封面 编号`` waits for the admin's next image message (or ``#封面 编号 网址`` takes an address).
WeChat's PicUrl of an image message lasts only a while, so the picture is fetched at once
through the guarded fetcher and kept in the store; the story's cover is then the bot's own
address for it (``/images/{id}``), which every host of the bot can serve.
"""

from __future__ import annotations

from typing import Any

from handlers.admin_base import (
    COVER_KEY,
    AdminError,
    command,
    require_article,
    run_once,
    split_id,
    state_drop,
    state_get,
    state_set,
)
from handlers.admin_content import apply_edit
from handlers.base import Context, Message
from handlers.fallback import not_understood
from store import images
from store.edits import EditError, read_value
from store.webfetch import FetchError, fetch_image

COVER_TTL = 600  # seconds an admin has to send the picture
USAGE = "#封面 编号（然后发送一张图片），或 #封面 编号 图片网址"


@command(
    "封面", "配图", "cover",
    usage=USAGE,
    summary="设置稿件的封面图片（发一张图片，或给出图片网址）",
    detail=(
        f"先发 #封面 12，再在 {COVER_TTL // 60} 分钟内发送一张图片；图片会保存在本服务，"
        "作为新闻卡片和文章页的封面。也可以直接 #封面 12 https://…/a.jpg。"
        "#封面 12 无：去掉封面。#取消：不设了。"
    ),
    mutates=True,
)
def cover(args: str, msg: Message, ctx: Context) -> str:
    aid, rest = split_id(args, USAGE)
    a = require_article(ctx, aid)
    if rest in ("无", "删除", "-"):
        apply_edit(ctx, aid, picurl="")
        return f"已去掉 #{aid}《{a.title}》的封面。"
    if rest:
        try:
            url = read_value("picurl", rest)
        except EditError as e:
            raise AdminError(e.zh) from None
        apply_edit(ctx, aid, picurl=url)
        return f"已设置 #{aid}《{a.title}》的封面：{url}"
    state_set(ctx, COVER_KEY, {"id": aid}, COVER_TTL)
    return (f"请在 {COVER_TTL // 60} 分钟内发送一张图片，作为 #{aid}《{a.title}》的封面"
            "（发送 #取消 放弃）。")


def cover_picture(msg: Message, ctx: Context) -> Any:
    """An admin's picture while ``#封面`` waits for one; otherwise the usual answer."""
    pending = state_get(ctx, COVER_KEY)
    if pending is None:
        return not_understood(msg, ctx)
    try:
        return _keep_cover(msg, ctx, int(pending["id"]))
    except AdminError as e:
        return str(e)


def _keep_cover(msg: Message, ctx: Context, aid: int) -> str:
    pic_url = msg.raw.get("PicUrl", "").strip()
    if not pic_url:
        raise AdminError("没有收到图片地址，请重新发送图片。")
    conf = ctx.config.admin

    def act() -> str:
        a = require_article(ctx, aid)
        try:
            got = fetch_image(pic_url, timeout=conf["fetch_timeout"],
                              max_bytes=min(conf["fetch_max_bytes"], images.MAX_BYTES),
                              allow_private=conf["fetch_private"])
            image_id = images.add(ctx.store, aid, got.data)
        except (FetchError, images.NotAPicture) as e:
            raise AdminError(f"没能保存这张图片（{e}），请重新发送，或 #取消。") from None
        url = f"{ctx.config.public_url}/images/{image_id}"
        apply_edit(ctx, aid, picurl=url)
        state_drop(ctx, COVER_KEY)
        return f"已设置 #{aid}《{a.title}》的封面（{len(got.data) // 1024} KB）。\n{url}"

    return run_once(msg, ctx, act)
