"""Safe mode's cipher keeps one AES context per direction for the process: every message must
still encrypt and decrypt exactly as with wechatpy's own cipher (a fresh context each)."""

from __future__ import annotations

import base64
import random
import threading

import pytest
from wechatpy.crypto import PrpCrypto
from wechatpy.crypto.cryptography import WeChatCipher

from bot.config import DEV_AES_KEY
from bot.envelope import _Crypto

KEY = base64.b64decode(DEV_AES_KEY + "=")
APPID = "wxtestappid000001"
WORDS = ["花园口", "网格员", "养老", "<xml>", "]]>", "a", " ", "🙂", "社区食堂开门了", "\n"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 400)))


def _blocks(rng: random.Random) -> bytes:
    return rng.randbytes(16 * rng.randint(1, 40))


def _fixed(crypto: PrpCrypto, prefix: str) -> PrpCrypto:
    crypto.get_random_string = lambda: prefix  # type: ignore[method-assign]
    return crypto


def test_one_context_gives_what_a_fresh_one_gives_message_after_message() -> None:
    rng = random.Random(7)
    ours, stock = _Crypto(KEY), PrpCrypto(KEY)
    for i in range(300):
        text = _text(rng)
        prefix = f"{rng.getrandbits(64):016x}"
        sealed = _fixed(ours, prefix).encrypt(text, APPID)
        assert sealed == _fixed(stock, prefix).encrypt(text, APPID)
        assert ours.decrypt(stock.encrypt(text, APPID), APPID) == text
        assert stock.decrypt(sealed, APPID) == text
        # the raw AES, whole block runs, against a fresh context each time: the framing would
        # hide a wrong first block (the random prefix), so it is compared here without it
        blocks = _blocks(rng)
        assert ours.cipher.encrypt(blocks) == WeChatCipher(KEY).encrypt(blocks)
        assert ours.cipher.decrypt(blocks) == WeChatCipher(KEY).decrypt(blocks)
        if i % 25 == 0:  # a bad message between good ones changes nothing for the next
            cut = base64.b64encode(base64.b64decode(sealed)[:-5])
            with pytest.raises(ValueError):
                ours.decrypt(cut, APPID)
            with pytest.raises(ValueError):
                ours.cipher.encrypt(b"seventeen bytes!!")


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
            blocks = _blocks(rng)
            if ours.cipher.encrypt(blocks) != WeChatCipher(KEY).encrypt(blocks):
                failures.append(f"raw encrypt {seed}")
            if ours.cipher.decrypt(blocks) != WeChatCipher(KEY).decrypt(blocks):
                failures.append(f"raw decrypt {seed}")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
