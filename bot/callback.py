"""Playing the WeChat server: build a user's message, sign (and encrypt) it as WeChat does, POST
it to a bot's callback, and read the reply as the user would see it.

Used by ``newsbot send``, by the local WeChat emulator and by the tests.
"""

from __future__ import annotations

import functools
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import httpx

from bot.envelope import Envelope, parse_xml, sign, signature_ok

_msgid_counter = int(time.time() * 1000)


def next_msgid() -> str:
    global _msgid_counter
    _msgid_counter += 1
    return str(_msgid_counter)


def message_xml(
    *,
    user: str,
    account: str = "gh_newsbot",
    text: str | None = None,
    event: str | None = None,
    key: str = "",
    msgtype: str | None = None,
    msgid: str | None = None,
    create_time: int | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """The XML WeChat would POST for a text message, an event, or another message type."""
    ct = int(time.time()) if create_time is None else create_time
    fields: dict[str, str] = {"ToUserName": account, "FromUserName": user, "CreateTime": str(ct)}
    if event:
        fields["MsgType"] = "event"
        fields["Event"] = event
        if key:
            fields["EventKey"] = key
    else:
        fields["MsgType"] = msgtype or "text"
        if text is not None:
            fields["Content"] = text
        fields["MsgId"] = msgid or next_msgid()
    fields.update(extra or {})
    inner = "".join(
        f"<{k}>{v}</{k}>" if k in _NUMERIC else f"<{k}>{cdata(v)}</{k}>"
        for k, v in fields.items()
    )
    return f"<xml>{inner}</xml>"


_NUMERIC = frozenset({"CreateTime", "MsgId", "MsgDataId", "Idx"})  # WeChat writes them bare


def cdata(text: str) -> str:
    """``text`` as CDATA; a ``]]>`` inside is split across two sections, as it must be."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class SignedRequest:
    params: dict[str, str]
    body: bytes


def sign_request(
    xml: str,
    token: str,
    *,
    appid: str = "",
    aes_key: str | None = None,
    encrypt: bool = False,
    compat: bool = False,
    timestamp: int | None = None,
    nonce: str | None = None,
    openid: str | None = None,
) -> SignedRequest:
    """Query parameters and body as WeChat sends them in plain, compatibility or safe mode.
    ``openid`` (the sender's, as WeChat adds it to the query) defaults to ``FromUserName``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    params = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    if openid is None:
        openid = _sender(xml)
    params["openid"] = openid
    if not encrypt:
        return SignedRequest(params, xml.encode("utf-8"))
    sealed = parse_xml(_envelope(token, appid, aes_key).encrypt(xml, nonce, ts).encode("utf-8"))
    enc = sealed["Encrypt"]
    # the envelope signed it over the same token, timestamp and nonce
    params.update({"encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]})
    if compat:
        inner = xml[len("<xml>") : -len("</xml>")]
        body = f"<xml>{inner}<Encrypt>{cdata(enc)}</Encrypt></xml>"
    else:
        to_user = parse_xml(xml.encode("utf-8")).get("ToUserName", "")
        body = f"<xml><ToUserName>{cdata(to_user)}</ToUserName><Encrypt>{cdata(enc)}</Encrypt></xml>"
    return SignedRequest(params, body.encode("utf-8"))


def _sender(xml: str) -> str:
    """``FromUserName`` of ``xml``; empty when it cannot be read (a test's hostile XML)."""
    try:
        return parse_xml(xml.encode("utf-8")).get("FromUserName", "")
    except Exception:  # noqa: BLE001 - the message is still sent, as it is
        return ""


@functools.lru_cache(maxsize=8)
def _envelope(token: str, appid: str, aes_key: str | None) -> Envelope:
    """One envelope (and cipher, which costs more to build than a message) per account."""
    return Envelope(token, appid, aes_key)


@dataclass
class BotReply:
    """A bot's answer as the user sees it."""

    status: int
    kind: str  # text, news, success, error, or another MsgType
    text: str = ""
    articles: list[dict[str, str]] = field(default_factory=list)
    raw: str = ""

    def render(self) -> str:
        if self.kind == "text":
            return self.text
        if self.kind == "news":
            return "\n\n".join(
                f"【{a.get('Title', '')}】\n{a.get('Description', '')}\n{a.get('Url', '')}".strip()
                for a in self.articles
            )
        if self.kind == "image":
            return f"[图片 {self.text}]"
        if self.kind == "success":
            return "(no reply)"
        return f"HTTP {self.status}: {self.raw}"


def read_reply(
    status: int, body: str, token: str, appid: str = "", aes_key: str | None = None
) -> BotReply:
    """Decode a bot's HTTP answer (decrypting a safe-mode reply and checking its signature)."""
    if status != 200:
        return BotReply(status, "error", raw=body)
    if body.strip() in ("", "success"):
        return BotReply(status, "success", raw=body)
    d = parse_xml(body.encode("utf-8"))
    if "Encrypt" in d:
        parts = (token, d.get("TimeStamp", ""), d.get("Nonce", ""), d["Encrypt"])
        if not signature_ok(parts, d.get("MsgSignature")):
            return BotReply(status, "error", raw="reply signature does not verify")
        body = _envelope(token, appid, aes_key).decrypt(d["Encrypt"])
        d = parse_xml(body.encode("utf-8"))
    kind = d.get("MsgType", "")
    if kind == "text":
        return BotReply(status, "text", text=d.get("Content", ""), raw=body)
    if kind == "image":
        media = ET.fromstring(body).findtext("Image/MediaId") or ""
        return BotReply(status, "image", text=media, raw=body)
    if kind == "news":
        root = ET.fromstring(body)
        arts = [{c.tag: c.text or "" for c in item} for item in root.iter("item")]
        return BotReply(status, "news", articles=arts, raw=body)
    return BotReply(status, kind or "unknown", raw=body)


def post(
    url: str,
    xml: str,
    token: str,
    *,
    appid: str = "",
    aes_key: str | None = None,
    encrypt: bool = False,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> BotReply:
    """Sign (and encrypt) ``xml``, POST it to the bot at ``url``, return the decoded reply."""
    req = sign_request(xml, token, appid=appid, aes_key=aes_key, encrypt=encrypt)
    headers = {"Content-Type": "text/xml"}
    if client is None:
        with httpx.Client(timeout=timeout) as c:
            r = c.post(url, params=req.params, content=req.body, headers=headers)
    else:
        r = client.post(url, params=req.params, content=req.body, headers=headers)
    return read_reply(r.status_code, r.text, token, appid, aes_key)
