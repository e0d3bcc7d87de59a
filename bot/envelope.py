"""The WeChat envelope: signatures, safe-mode crypto, parsing the inbound XML, sealing replies.

A message shaped as WeChat writes it (a flat ``<xml>`` of CDATA or plain-text fields) is read
by one strict pattern; anything else goes to the standard library's expat parser after any DTD
is refused: WeChat never sends one, and refusing it up front shuts out entity expansion
("billion laughs") and external entities before the parser sees them. Crypto is WeChat's
framing on one AES context per direction, held to wechatpy's ``PrpCrypto`` by the tests;
signatures are compared in constant time.

Only UTF-8 is read (WeChat sends nothing else): a body that declares another encoding, opens
with another encoding's byte-order mark or holds a NUL byte (every UTF-16 or UTF-32 text of
markup does) is refused before any parsing, so it cannot make the parser widen it first. A
UTF-8 byte-order mark is skipped, as wechatpy and WeRoBot do.

The account's mode (``[wechat] mode``) says what a POST must be: ``safe`` takes only a body
whose ``Encrypt`` carries a valid ``msg_signature``, whatever ``encrypt_type`` says (a proxy's
log of a callback URL holds a valid plain signature, which covers no body); ``compat`` takes
both, as WeChat sends both; ``plain`` takes plain ones and any encrypted one it can read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from handlers.base import Message


class EnvelopeError(Exception):
    """A request that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 over the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode("ascii", "replace"))


MODES = ("plain", "compat", "safe")
_BOM = b"\xef\xbb\xbf"
# byte-order marks of UTF-32 (checked first: UTF-32LE's starts like UTF-16LE's) and UTF-16
_OTHER_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")
_DECLARED = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']?([A-Za-z0-9._:-]*)""")


def utf8_body(body: bytes) -> bytes:
    """``body`` without a UTF-8 byte-order mark; :class:`EnvelopeError` (400) when it is, says
    or looks like another encoding. A few byte comparisons: nothing is decoded or parsed."""
    if body.startswith(_BOM):
        body = body[3:]
    if body.startswith(_OTHER_BOMS) or b"\x00" in body:
        raise EnvelopeError(400, "only UTF-8 bodies are accepted")
    if body[:64].lstrip().startswith(b"<?"):
        m = _DECLARED.match(body, 0, 512)
        if m is not None and m.group(1).lower() not in (b"utf-8", b"utf8"):
            raise EnvelopeError(400, "only UTF-8 bodies are accepted")
    return body


def _refuse_dtd(body: bytes) -> None:
    head = body.lstrip()[:1]
    if head and head != b"<":
        raise EnvelopeError(400, "body is not XML")
    lowered = body.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise EnvelopeError(400, "XML with a DTD is refused")


# A message as WeChat writes it: a flat <xml> of elements without attributes, each holding one
# CDATA section or text without markup or entities, whitespace between them. Such a document
# reads the same to any XML parser, so it is read by pattern, without building a tree. Anything
# else (entities, split CDATA sections, attributes, nesting, a declaration, a DTD, carriage
# returns, control characters, bad UTF-8) goes to the parser, which decides.
# Kept for speed: the parser alone costs the webhook more (docs/performance.md, bench.pieces).
_FLAT = re.compile(
    rb"\s*+<xml>((?:\s*+<([A-Za-z_][A-Za-z0-9_]*+)>"
    rb"(?:<!\[CDATA\[[^\]]*+(?:\](?!\]>)[^\]]*+)*+\]\]>|[^<&\]]*+(?:\](?!\]>)[^<&\]]*+)*+)"
    rb"</\2>)*+)\s*+</xml>\s*+"
)
# (the quantifiers are possessive where what follows cannot be what they took: no backtracking
# states are kept)
_FIELD = re.compile(
    rb"<([A-Za-z_][A-Za-z0-9_]*+)>"
    rb"(?:<!\[CDATA\[([^\]]*+(?:\](?!\]>)[^\]]*+)*+)\]\]>|([^<&]*+))</\1>"
)
# not XML characters (controls, U+FFFE, U+FFFF) and carriage returns (the parser rewrites
# them): the controls are found by deleting them (one pass in C), the two non-characters only
# looked for behind their UTF-8 lead bytes, which are rare
_CONTROLS = bytes(range(0x09)) + b"\x0b\x0c\r" + bytes(range(0x0E, 0x20))
_NONCHAR = re.compile(rb"\xef\xbf[\xbe\xbf]")


def _is_plain(body: bytes) -> bool:
    """Whether ``body`` holds no character the XML parser would refuse or rewrite."""
    if len(body.translate(None, _CONTROLS)) != len(body):
        return False
    return b"\xef\xbf" not in body or _NONCHAR.search(body) is None


def _flat_fields(body: bytes) -> dict[str, str] | None:
    """The fields of a flat message, read by pattern; ``None``: leave it to the parser."""
    m = _FLAT.fullmatch(body)
    if m is None or not _is_plain(body):
        return None
    try:
        # (CDATA, text): the one that did not take part is "", as is an empty one
        return {
            name.decode("ascii"): (cdata or text).decode("utf-8")
            for name, cdata, text in _FIELD.findall(m.group(1))
        }
    except UnicodeDecodeError:
        return None


def parse_xml(body: bytes) -> dict[str, str]:
    """Parse a flat ``<xml>…</xml>`` document into a dict of its children's text."""
    body = utf8_body(body)
    fields = _flat_fields(body)
    return fields if fields is not None else _parse_tree(body)


def _parse_tree(body: bytes) -> dict[str, str]:
    """:func:`parse_xml` by the XML parser (any document; a DTD is refused first)."""
    body = utf8_body(body)
    _refuse_dtd(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise EnvelopeError(400, f"malformed XML: {e}") from None
    if root.tag != "xml":
        raise EnvelopeError(400, "root element is not <xml>")
    return {child.tag: (child.text or "") for child in root}


# The safe-mode envelope as WeChat sends it: <ToUserName> and one <Encrypt> of base64 text
# (which cannot hold markup) in a flat <xml>. Anything else goes through the XML parser.
_ENVELOPE = re.compile(
    rb"\s*+<xml>\s*+(?:<ToUserName><!\[CDATA\[[^<\]]*+\]\]></ToUserName>\s*+)?"
    rb"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]++)\]\]></Encrypt>\s*+"
    rb"(?:<ToUserName><!\[CDATA\[[^<\]]*+\]\]></ToUserName>\s*+)?</xml>\s*+"
)


def _encrypt_field(body: bytes) -> str:
    """The outer envelope's ``Encrypt`` text ("" when missing)."""
    m = _ENVELOPE.fullmatch(body)
    if m is not None:
        return m.group(1).decode("ascii")
    return parse_xml(body).get("Encrypt", "")


def message_from_dict(d: Mapping[str, str]) -> Message:
    mtype = d.get("MsgType", "").strip().lower()
    if not mtype:
        raise EnvelopeError(400, "MsgType missing")
    try:
        create_time = int(d.get("CreateTime", "0") or 0)
    except ValueError:
        raise EnvelopeError(400, "CreateTime is not a number") from None
    content = d.get("Content", "")
    if mtype == "voice":
        content = d.get("Recognition", "") or ""
    return Message(
        type=mtype,
        source=d.get("FromUserName", ""),
        target=d.get("ToUserName", ""),
        create_time=create_time,
        id=d.get("MsgId", "") or d.get("MsgID", "") if mtype != "event" else "",
        content=content,
        event=d.get("Event", "").lower() if mtype == "event" else "",
        key=d.get("EventKey", "") or "",
        raw=dict(d),
    )


class _ChainedCipher:
    """AES-256 in CBC mode (the IV being the key's first 16 bytes) on one encryptor and one
    decryptor kept for the process, where wechatpy's cipher makes a pair per message (most of
    a safe-mode message's crypto time under load). A CBC context carries on from the last
    block it handled, so a message's first block differs from what a fresh context gives by
    the XOR of the IV and the previous message's last ciphertext block (on the way in and on
    the way out); every later block is exactly a fresh context's. WeChat's framing opens each
    message with 16 random bytes that the receiver drops unread: that first block is theirs,
    so it needs no correction (see :class:`_Crypto`)."""

    def __init__(self, key: bytes) -> None:
        cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()
        self._lock = threading.Lock()

    def encrypt(self, plaintext: bytes) -> bytes:
        if not plaintext or len(plaintext) & 15:
            # a partial block would stay in the context and spoil the next message
            raise ValueError("data is not a whole number of AES blocks")
        with self._lock:
            return self._enc.update(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not ciphertext or len(ciphertext) & 15:
            raise ValueError("data is not a whole number of AES blocks")
        with self._lock:
            return self._dec.update(ciphertext)


class _Crypto(PrpCrypto):
    """WeChat's message framing (16 random bytes, the length as 4 bytes big-endian, the
    message, the appid; PKCS#7 padding to 32 bytes; base64) on a :class:`_ChainedCipher`:
    wechatpy's ``PrpCrypto`` with fewer copies, and a test holds the two to each other. The
    16 characters that open a reply are drawn in one call (wechatpy picks them one by one).
    Put through the chained context they reach WeChat XORed with the IV and the previous
    reply's last block: still 16 random bytes, which WeChat drops unread (and no text a sender
    chooses ever opens a message, which is what attacks on a known chained IV need). They only
    vary the ciphertext, so like wechatpy's they come from ``random``, not the system's
    entropy (a system call per reply, costly on some hosts)."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.cipher = _ChainedCipher(key)

    def get_random_string(self) -> str:
        return f"{random.getrandbits(64):016x}"

    def encrypt(self, text: str | bytes, app_id: str) -> bytes:
        body = text.encode("utf-8") if isinstance(text, str) else text
        appid = app_id.encode("utf-8")
        size = 20 + len(body) + len(appid)
        pad = 32 - (size & 31)
        plain = b"".join((
            self.get_random_string().encode("utf-8"), len(body).to_bytes(4, "big"), body,
            appid, bytes((pad,)) * pad,
        ))
        return binascii.b2a_base64(self.cipher.encrypt(plain), newline=False)

    def decrypt(self, text: str | bytes, app_id: str) -> str:
        return self.decrypt_bytes(text, app_id).decode("utf-8")

    def decrypt_bytes(self, text: str | bytes, app_id: str) -> bytes:
        """The message inside ``text``, as the UTF-8 bytes it was sent as."""
        plain = self.cipher.decrypt(binascii.a2b_base64(text))
        pad = plain[-1]
        end = len(plain) - pad
        size = int.from_bytes(plain[16:20], "big")
        if not 0 < pad <= 32 or 20 + size > end:
            raise ValueError("bad padding or length in the decrypted message")
        if plain[20 + size:end] != app_id.encode("utf-8"):
            raise InvalidAppIdException()
        return plain[20:20 + size]


class Opened(NamedTuple):
    """An accepted POST: the message and whether it came encrypted."""

    message: Message
    encrypted: bool


class Envelope:
    """Opens inbound requests and seals replies for one account."""

    def __init__(
        self, token: str, appid: str, encoding_aes_key: str | None, replay_window: int = 300,
        mode: str = "compat",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        self.token = token
        self.appid = appid
        self.replay_window = replay_window
        self.mode = mode
        self._key: bytes | None = None
        self._prp: _Crypto | None = None
        if encoding_aes_key:
            try:
                self._key = base64.b64decode(encoding_aes_key + "=")
            except (binascii.Error, ValueError):
                self._key = None

    def _crypto(self) -> _Crypto:
        """The account's cipher, made once: building it costs more than a message's AES.
        Threads share it: its AES contexts carry on from message to message under a lock
        (see :class:`_ChainedCipher`)."""
        if self._prp is None:
            assert self._key is not None
            self._prp = _Crypto(self._key)
        return self._prp

    def trusts_commands(self, encrypted: bool) -> bool:
        """Whether an admin's command may run from this message: in compat mode only an
        encrypted one (a plain one there may be a downgrade of a logged callback URL)."""
        return encrypted or self.mode != "compat"

    # -- inbound --------------------------------------------------------------------------------
    def _check_time(self, timestamp: str, now: float | None) -> None:
        if not self.replay_window:
            return
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            raise EnvelopeError(403, "timestamp missing or not a number") from None
        now = time.time() if now is None else now
        if abs(now - ts) > self.replay_window:
            raise EnvelopeError(403, "timestamp outside the replay window")

    def verify_url(self, query: Mapping[str, str]) -> str:
        """GET verification: the ``echostr`` to echo, or an :class:`EnvelopeError`."""
        parts = (self.token, query.get("timestamp", ""), query.get("nonce", ""))
        if not signature_ok(parts, query.get("signature")):
            raise EnvelopeError(403, "bad signature")
        return query.get("echostr", "")

    def open(self, query: Mapping[str, str], body: bytes, now: float | None = None) -> Opened:
        """Check, decrypt and parse one POST as the account's mode allows."""
        body = utf8_body(body)
        aes = query.get("encrypt_type", "raw").lower() == "aes"
        if self.mode == "safe" or aes:
            return self._open_encrypted(query, body, now)
        if not signature_ok((self.token, query.get("timestamp", ""), query.get("nonce", "")),
                            query.get("signature")):
            raise EnvelopeError(403, "bad signature")
        self._check_time(query.get("timestamp", ""), now)
        return Opened(message_from_dict(parse_xml(body)), False)

    def _open_encrypted(
        self, query: Mapping[str, str], body: bytes, now: float | None
    ) -> Opened:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        safe = self.mode == "safe"
        if self._key is None:  # (safe mode always has a key: the config insists)
            raise EnvelopeError(400, "encrypted message but no EncodingAESKey configured")
        encrypt = _encrypt_field(body)
        if not encrypt:
            raise EnvelopeError(403 if safe else 400, "Encrypt missing in safe mode")
        if not signature_ok((self.token, timestamp, nonce, encrypt), query.get("msg_signature")):
            raise EnvelopeError(403, "bad msg_signature")
        self._check_time(timestamp, now)
        try:
            data = self._crypto().decrypt_bytes(encrypt, self.appid)
        except InvalidAppIdException:
            raise EnvelopeError(400, "message is for another appid") from None
        except Exception:  # noqa: BLE001 - any cipher/padding/length failure is the sender's fault
            raise EnvelopeError(400, "cannot decrypt message") from None
        return Opened(message_from_dict(parse_xml(data)), True)

    # -- outbound -------------------------------------------------------------------------------
    def seal(self, reply_xml: str, encrypted: bool, nonce: str = "", timestamp: str = "") -> str:
        """The body to answer with: the reply as is, or wrapped in safe mode."""
        if not encrypted or reply_xml == "success" or self._key is None:
            return reply_xml
        return self.encrypt(reply_xml, nonce or secrets.token_hex(8), timestamp)

    def encrypt(self, xml: str, nonce: str, timestamp: str = "") -> str:
        timestamp = timestamp or str(int(time.time()))
        assert self._key is not None
        enc = self._crypto().encrypt(xml, self.appid).decode("ascii")
        signature = sign(self.token, timestamp, nonce, enc)
        return (
            f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )

    def decrypt(self, encrypt: str) -> str:
        """Decrypt an ``Encrypt`` value (used by ``newsbot send`` and the emulator)."""
        assert self._key is not None
        return self._crypto().decrypt(encrypt, self.appid)
