"""Routing: which handler a message takes, whatever type came before it."""

from __future__ import annotations

from bot.router import build_router
from handlers.base import Context, Message


def _msg(mtype: str, content: str = "", event: str = "", key: str = "") -> Message:
    return Message(type=mtype, source="o_route", target="gh", create_time=1, id="",
                   content=content, event=event, key=key, raw={})


def _name(router, msg: Message) -> str | None:  # type: ignore[no-untyped-def]
    ctx = Context(user="o_route", is_admin=False, config=None, state=None, store=None)
    found = router.find(msg, ctx)
    return None if found is None else found.name


def test_each_type_takes_its_routes_in_any_order() -> None:
    router = build_router()
    cases = [
        (_msg("event", event="click", key="HELP"), "help_click"),
        (_msg("text", "帮助"), "help_text"),
        (_msg("voice", "帮助"), "help_text"),  # a recognised voice message reads as text
        (_msg("voice", ""), "voice_unrecognised"),  # an unrecognised one takes no text route
        (_msg("text", "养老"), "search"),
        (_msg("event", event="subscribe"), "welcome"),
        (_msg("text", "3"), "pick"),
        (_msg("image"), "not_understood"),
    ]
    first = [_name(router, m) for m, _ in cases]
    again = [_name(router, m) for m, _ in reversed(cases)][::-1]
    assert first == again == [want for _, want in cases]


def test_made_up_message_types_are_routed_but_not_remembered() -> None:
    router = build_router()
    names = {_name(router, _msg(f"made_up_{i}", "帮助")) for i in range(500)}  # one per message
    assert names == {_name(router, _msg("made_up_0", "帮助"))}  # each routed alike, every time
    _name(router, _msg("text", "帮助"))
    _name(router, _msg("image"))
    assert set(router._by_type) == {"text", "image"}  # what WeChat sends is remembered


TEXTS = [
    "养老", "花园口", "基层党组织", "#帮助", "＃统计", "帮助", "你好", "Hello!", "谢谢~", "好的",
    "订阅", "订阅 党建", "我要订阅党建新闻", "退订", "请帮我退订社区", "不要推送了", "我的订阅",
    "最新", "最新党建", "最近有什么新闻？", "党建新闻", "党建", "下一页", "换一批", "上一页",
    "第2页", "第 三 页", "第九十九页", "2", "１２", "643", "第2条", "第二篇", "2号", "3号线",
    "https://mp.weixin.qq.com/s/x", "WWW.example.org", "看看 https://x.org", "第一书记",
    "\n养老\n", "a" * 300, "订阅" * 20, "\\1", "(?P=x)", "]]>", "",
]


def test_the_joined_pattern_only_ever_skips_routes_that_cannot_match() -> None:
    # a search costs one match of every route's pattern joined, not one per route; what a
    # text routes to must be what trying them one by one gives
    router = build_router()
    for mtype in ("text", "voice"):
        _name(router, _msg(mtype, "x"))
        routes, joined = router._by_type[mtype]
        assert joined is not None  # the shipped routes can be joined
        for text in TEXTS:
            with_it = _name(router, _msg(mtype, text))
            router._by_type[mtype] = (routes, None)
            one_by_one = _name(router, _msg(mtype, text))
            router._by_type[mtype] = (routes, joined)
            assert with_it == one_by_one, (mtype, text)
    assert _name(router, _msg("text", "第 三 页")) == "jump_to_page"
    assert _name(router, _msg("text", "花园口")) == "search"


def test_patterns_that_cannot_be_joined_are_tried_one_by_one() -> None:
    from bot.router import _prefilter
    from handlers.base import Routes

    def routes(*patterns: str) -> list:  # type: ignore[type-arg]
        rs = Routes()
        for i, p in enumerate(patterns):
            rs(regex=p)(lambda msg, ctx, i=i: str(i))
        return rs.routes

    assert _prefilter(routes("a+", "b+")) is not None
    assert _prefilter(routes("(?i)a+", "b+")) is None  # a flag for the whole pattern
    assert _prefilter(routes(r"(a)\1", "b+")) is None  # a back-reference
    assert _prefilter(routes("(?P<x>a)", "(?P<x>b)")) is None  # one group name twice
    assert _prefilter(routes("a+")) is None  # one pattern: nothing to gain
