"""Routing: which handler a message takes, whatever type came before it."""

from __future__ import annotations

from handlers import build_router
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
