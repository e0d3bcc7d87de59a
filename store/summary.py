"""Extractive summaries: the story's own leading sentences, cut to a news card's length."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[。！？!?])")

SHORT = 110
LONG = 250


def sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def _take(paragraphs: list[str], limit: int) -> str:
    out = ""
    for para in paragraphs:
        for s in sentences(para):
            if out and len(out) + len(s) > limit:
                return out
            out += s
            if len(out) >= limit:
                return out[:limit]
    return out


def summarise(title: str, body: list[str]) -> tuple[str, str]:
    """(short ~110 chars, long ~250 chars) from the first sentences of the body."""
    if not body:
        return title, title
    return _take(body, SHORT), _take(body, LONG)
