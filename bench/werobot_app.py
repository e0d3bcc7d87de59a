"""Baseline B: the same account on WeRoBot, answering every text message with a fixed text.

Runs in its own virtualenv (``bench/.venv-werobot``, made by ``python3 -m bench``) under
``gunicorn -w 1 -k sync werobot_app:app``. Token from ``BENCH_TOKEN``. ``BENCH_WEROBOT_SESSION``
``on`` keeps WeRoBot's default SQLite session store (a read and a write per message); the
default here is off, WeRoBot's fastest set-up.
"""

from __future__ import annotations

import os

import werobot

_session = os.environ.get("BENCH_WEROBOT_SESSION", "off") == "on"
_kwargs = {} if _session else {"SESSION_STORAGE": False}
robot = werobot.WeRoBot(token=os.environ.get("BENCH_TOKEN", "benchtoken"), **_kwargs)

FIXED = "感谢关注！回复关键词（如 花园口、网格员、养老）查看相关报道。"


@robot.text
def answer(message):  # type: ignore[no-untyped-def]
    return FIXED


app = robot.wsgi
