"""The users' side: messages and events sent to the bot's callback as WeChat would send them."""

from __future__ import annotations

import httpx

from bot.callback import BotReply, message_xml, post


class UserSide:
    """Signs (and optionally encrypts) a user's message and POSTs it to the bot's callback."""

    def __init__(self, callback: str, token: str, appid: str, aes_key: str | None = None, *,
                 encrypt: bool = False, account: str = "gh_newsbot", timeout: float = 10.0) -> None:
        self.callback, self.token, self.appid, self.aes_key = callback, token, appid, aes_key
        self.encrypt, self.account = encrypt, account
        self.http = httpx.Client(timeout=timeout)

    def send(self, openid: str, *, text: str | None = None, event: str | None = None,
             key: str = "", encrypt: bool | None = None) -> BotReply:
        xml = message_xml(user=openid, account=self.account, text=text, event=event, key=key)
        return post(self.callback, xml, self.token, appid=self.appid, aes_key=self.aes_key,
                    encrypt=self.encrypt if encrypt is None else encrypt, client=self.http)

    def close(self) -> None:
        self.http.close()
