"""Safe mode's cipher keeps one AES context per direction for the process, and frames messages
itself: what it sends must read the same to wechatpy's own cipher (a fresh context each), and
what wechatpy sends must read the same to it, message after message.

A kept CBC context changes only each message's first block (by the IV XOR the previous
message's last ciphertext block): the tests below check that exactly, and that the framing puts
there only the 16 random bytes the receiver drops.
"""

from __future__ import annotations

import base64
import random
import threading

import pytest
from wechatpy.crypto import PrpCrypto
from wechatpy.crypto.cryptography import WeChatCipher
from wechatpy.exceptions import InvalidAppIdException

from bot.config import DEV_AES_KEY
from bot.envelope import _Crypto

KEY = base64.b64decode(DEV_AES_KEY + "=")
IV = KEY[:16]
APPID = "wxtestappid000001"
WORDS = ["花园口", "网格员", "养老", "<xml>", "]]>", "a", " ", "🙂", "社区食堂开门了", "\n"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(0, 400)))


def _xor(*blocks: bytes) -> bytes:
    out = 0
    for b in blocks:
        out ^= int.from_bytes(b, "big")
    return out.to_bytes(16, "big")


def _fixed(crypto: PrpCrypto, prefix: str) -> PrpCrypto:
    crypto.get_random_string = lambda: prefix  # type: ignore[method-assign]
    return crypto


def _fresh_decrypt(ciphertext: bytes) -> bytes:
    return WeChatCipher(KEY).decrypt(ciphertext)


def test_what_it_sends_is_wechatpys_framing_but_for_the_dropped_first_block() -> None:
    rng = random.Random(7)
    ours, stock = _Crypto(KEY), PrpCrypto(KEY)
    last = IV  # what the kept context carries on from: the IV, then each message's last block
    for i in range(300):
        text, prefix = _text(rng), f"{rng.getrandbits(64):016x}"
        sealed = base64.b64decode(_fixed(ours, prefix).encrypt(text, APPID))
        expected = _fresh_decrypt(base64.b64decode(_fixed(stock, prefix).encrypt(text, APPID)))
        got = _fresh_decrypt(sealed)  # as WeChat reads it
        assert got[16:] == expected[16:]  # length, message, appid, padding: wechatpy's own
        assert got[:16] == _xor(prefix.encode(), IV, last)  # the random bytes, still random
        if i == 0:  # a fresh context: the very bytes wechatpy sends (the official vectors)
            assert got == expected
        assert stock.decrypt(base64.b64encode(sealed), APPID) == text
        last = sealed[-16:]


def test_what_wechatpy_sends_reads_the_same() -> None:
    rng = random.Random(11)
    ours, stock = _Crypto(KEY), PrpCrypto(KEY)
    for i in range(300):
        text = _text(rng)
        assert ours.decrypt(stock.encrypt(text, APPID), APPID) == text
        if i % 25 == 0:  # bad messages between good ones change nothing for the next
            good = base64.b64decode(stock.encrypt(text, APPID))
            with pytest.raises(ValueError):
                ours.decrypt(base64.b64encode(good[:-5]), APPID)  # not whole blocks
            with pytest.raises(InvalidAppIdException):
                ours.decrypt(stock.encrypt(text, "wxanotherapp00001"), APPID)
            for last in (0, 33, 255):  # padding that cannot be
                body = text.encode()
                framed = b"r" * 16 + len(body).to_bytes(4, "big") + body + APPID.encode()
                framed += bytes([last]) * (32 - len(framed) % 32)
                forged = base64.b64encode(WeChatCipher(KEY).encrypt(framed))
                with pytest.raises(ValueError, match="padding"):
                    ours.decrypt(forged, APPID)
            with pytest.raises(ValueError):
                ours.cipher.encrypt(b"seventeen bytes!!")


def test_the_raw_cipher_differs_from_a_fresh_one_only_in_the_first_block() -> None:
    rng = random.Random(3)
    ours = _Crypto(KEY)
    enc_last = dec_last = IV
    for _ in range(200):
        blocks = rng.randbytes(16 * rng.randint(1, 40))
        out = ours.cipher.encrypt(blocks)
        back = _fresh_decrypt(out)
        assert back[16:] == blocks[16:] and back[:16] == _xor(blocks[:16], IV, enc_last)
        enc_last = out[-16:]
        plain = ours.cipher.decrypt(blocks)
        fresh = _fresh_decrypt(blocks)
        assert plain[16:] == fresh[16:] and plain[:16] == _xor(fresh[:16], IV, dec_last)
        dec_last = blocks[-16:]


def test_threads_share_it() -> None:
    ours, stock = _Crypto(KEY), PrpCrypto(KEY)
    failures: list[str] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(150):
            text = _text(rng)
            if stock.decrypt(ours.encrypt(text, APPID), APPID) != text:
                failures.append(f"encrypt {seed}")
            if ours.decrypt(stock.encrypt(text, APPID), APPID) != text:
                failures.append(f"decrypt {seed}")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
