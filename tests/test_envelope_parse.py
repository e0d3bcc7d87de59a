"""The inbound XML: a flat message is read by pattern, and must read exactly as the XML parser
reads it; anything the pattern does not take goes to the parser (same result, same refusal)."""

from __future__ import annotations

import itertools

import pytest

from bot.envelope import EnvelopeError, _flat_fields, _parse_tree, parse_xml


def _outcome(fn, body: bytes):  # type: ignore[no-untyped-def]
    try:
        return fn(body)
    except EnvelopeError as e:
        return ("refused", e.status)


CONTENTS = [
    "花园口", "", " 两边有空格 ", "a]b", "a]]b", "a]>b", "]", "]]", "x]", "<不是标签>", "&amp;", "A & B",
    "第一行\n第二行", "emoji 🙂", "tab\there", "引号\"和'单引号'", "反斜杠\\", "CDATA 里的 <![CDATA[",
]
SPACING = ["", "\n", "\n  ", " \t"]


def _message(content: str, gap: str) -> bytes:
    fields = [
        "<ToUserName><![CDATA[gh_account]]></ToUserName>",
        "<FromUserName><![CDATA[o_user-1]]></FromUserName>",
        "<CreateTime>1700000000</CreateTime>",
        "<MsgType><![CDATA[text]]></MsgType>",
        f"<Content><![CDATA[{content}]]></Content>",
        "<MsgId>1234567890123456</MsgId>",
    ]
    return (f"<xml>{gap}" + gap.join(fields) + f"{gap}</xml>").encode()


@pytest.mark.parametrize(("content", "gap"), list(itertools.product(CONTENTS, SPACING)))
def test_wechat_shaped_messages_read_by_pattern_as_by_the_parser(content: str, gap: str) -> None:
    body = _message(content, gap)
    if "]]>" in content:  # cannot be one CDATA section: not this test's case
        return
    assert _flat_fields(body) is not None  # the pattern took it...
    assert parse_xml(body) == _parse_tree(body)  # ...and read what the parser reads
    assert parse_xml(body)["Content"] == content


ODD = [
    b"<xml><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>",  # a split CDATA section
    b"<xml><Content>&lt;b&gt; &amp; &#20013;</Content></xml>",  # entities
    b'<xml><Content a="1">x</Content></xml>',  # an attribute
    b"<xml><Content><b>x</b></Content></xml>",  # nested
    b"<xml><Content/><MsgType>text</MsgType></xml>",  # self-closing
    b"<xml><Content></Content></xml>",  # empty
    b'<?xml version="1.0" encoding="utf-8"?><xml><Content>x</Content></xml>',  # declaration
    b'<!DOCTYPE xml [<!ENTITY e "boom">]><xml><Content>&e;</Content></xml>',  # a DTD
    b"\xef\xbb\xbf<xml><Content>x</Content></xml>",  # a byte-order mark
    b"<xml>\r\n<Content><![CDATA[a\r\nb]]></Content>\r\n</xml>",  # carriage returns
    b"<xml><Content><![CDATA[a\x01b]]></Content></xml>",  # a control character
    b"<xml><Content><![CDATA[\xff\xfe]]></Content></xml>",  # not UTF-8
    b"<xml><Content>x</Contents></xml>",  # mismatched
    b"<xml><Content>x</Content></xml><xml></xml>",  # two documents
    b"<xml><Content>x</Content>",  # cut short
    b"<root><Content>x</Content></root>",  # another root
    b"<xml><A>1</A><A>2</A></xml>",  # a repeated field: the last one
    b"<xml><Content>a]]>b</Content></xml>",  # "]]>" is not allowed in text
    b"<xml><Content>a]>b ]] c]</Content></xml>",  # but its parts are
    b"<xml><Content><![CDATA[\xef\xbf\xbe]]></Content></xml>",  # U+FFFE, not an XML character
    b"<xml><Content>\xef\xbf\xbf</Content></xml>",  # nor U+FFFF
    b"<xml></xml>", b"  <xml> </xml>  ", b"", b"not xml", b"<xml>text between</xml>",
]


@pytest.mark.parametrize("body", ODD)
def test_anything_else_reads_as_the_parser_reads_it(body: bytes) -> None:
    assert _outcome(parse_xml, body) == _outcome(_parse_tree, body)


def test_mutated_messages_read_as_the_parser_reads_them() -> None:
    """Seeded mutations of a message (bytes that matter to XML put in, taken out, swapped)."""
    import random

    rng = random.Random(20261123)
    alphabet = [b"<", b">", b"]", b"]]>", b"&", b"/", b"\r", b"\n", b" ", b"\x00", b"\xe4",
                b"\xbd\xa0", b"<![CDATA[", b"]]", b"x", b"=", b'"', b"\xef\xbf\xbe", b"<a>", b"</a>"]
    base = _message("花园口 ] a", "\n")
    checked = 0
    for _ in range(4000):
        body = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            action = rng.random()
            if action < 0.4:
                body[at:at] = rng.choice(alphabet)
            elif action < 0.7:
                del body[at : at + rng.randint(1, 4)]
            else:
                body[at : at + 1] = rng.choice(alphabet)
        raw = bytes(body)
        assert _outcome(parse_xml, raw) == _outcome(_parse_tree, raw), raw
        checked += _flat_fields(raw) is not None
    assert checked > 200  # a good share were read by the pattern, not only by the parser
