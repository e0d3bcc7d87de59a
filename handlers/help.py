"""Help: what the account understands, and the welcome on follow.

The texts name no time for the digest: the schedule may be off ([digest] enabled), and only
the subscription replies, which read the config, say when it comes."""

from __future__ import annotations

from handlers import rules
from handlers.base import END, Context, Message, Reply, Routes
from store import subscribers

routes = Routes()

HELP_TEXT = """欢迎关注！本号提供党建与社区新闻，您可以：
· 发送关键词搜索新闻，如：花园口、网格员、养老
· 回复序号查看该条详情；翻页：下一页（或“更多”）、上一页、第2页
· 今日 / 今日党建 / 今日社区：看今天新收录的新闻
· 最新 / 最新党建 / 最新社区：看最新报道
· 订阅：订阅新闻摘要推送（订阅 党建 / 订阅 社区：只要一类）
· 退订：取消全部（退订 党建 / 退订 社区：取消一类）；我的订阅：查看
· 帮助：再次显示本说明"""

WELCOME_TEXT = (
    "感谢关注！发送“今日”看今天新收录的党建和社区新闻，发送“订阅”订阅新闻摘要推送"
    "（只要一类：订阅 党建 / 订阅 社区）。\n" + HELP_TEXT.split("\n", 1)[1]
)


@routes(regex=r"(?:(?i:帮助|help|h|菜单|功能|怎么用|如何使用|使用说明|说明|用法|功能介绍|你能做什么"
              r"|能做什么)|\?)" + END, priority=50, quick=True)
def help_text(msg: Message, ctx: Context) -> str:
    return HELP_TEXT


@routes(event="click", key="HELP", priority=50, quick=True)
def help_click(msg: Message, ctx: Context) -> str:
    return HELP_TEXT


@routes(event="subscribe", priority=10)
def welcome(msg: Message, ctx: Context) -> Reply:
    """A returning follower hears that the categories chosen before are back (that is news to
    them); anyone else gets the console's welcome when the account has one, else newsbot's."""
    # a returning follower keeps the categories chosen before (handlers.subscriptions)
    sub = subscribers.get(ctx.store, ctx.user)
    if sub is not None and sub.categories:
        return (
            f"欢迎回来！您之前订阅的{'、'.join(sub.categories)}已恢复。\n"
            + HELP_TEXT.split("\n", 1)[1]
        )
    console = rules.welcome_reply(msg, ctx)
    return WELCOME_TEXT if console is None else console


# Small talk: a greeting, thanks or an "OK" is not a search (谢谢 is in some story or other, and
# 在吗 would list every story with 在 in it). Trailing punctuation and tildes are allowed.
_END = r"[\s!！。.~～?？,，、…]*"
GREETING_TEXT = (
    "您好！发送关键词就能搜索党建和社区新闻，如：花园口、网格员、养老；"
    "发送“今日”看今天新收录的新闻，发送“帮助”查看全部用法。"
)
THANKS_TEXT = "不客气！想看什么新闻，随时发送关键词。"
OK_TEXT = "好的！想看什么新闻，随时发送关键词；发送“帮助”查看全部用法。"


# one pattern for all three; the case-blind part scoped (?i:…), so that bot.router can join
# it with the other routes' patterns
_SMALL_TALK = (
    r"(?i:(?P<greeting>你好|您好|你们好|大家好|嗨|哈喽|hi|hello|在吗|在不在|有人吗)"
    r"|(?P<thanks>谢谢|谢谢你|谢谢您|多谢|感谢|谢啦|谢了|thanks|thank you|thx)"
    r"|(?P<ok>好的|好|嗯|嗯嗯|收到|知道了|明白了|ok|okay))" + _END
)
_SMALL_TALK_TEXT = {"greeting": GREETING_TEXT, "thanks": THANKS_TEXT, "ok": OK_TEXT}


@routes(regex=_SMALL_TALK, priority=45, quick=True)
def small_talk(msg: Message, ctx: Context) -> str:
    return _SMALL_TALK_TEXT[ctx.match.lastgroup or "greeting"] if ctx.match else GREETING_TEXT
