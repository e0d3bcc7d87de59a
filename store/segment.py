"""jieba, set up once per process: the project's user dictionary for the domain's terms.

Index text with :func:`cut_for_index` (search mode: long words and their parts) and queries
with :func:`cut_for_query` (precise mode); both load the same dictionary.
"""

from __future__ import annotations

import logging
import threading
from importlib import resources
from typing import Iterator

import jieba

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None

USER_DICT = "userdict.txt"


def tokenizer() -> jieba.Tokenizer:
    """The process's tokenizer with the user dictionary loaded (first call loads it)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                tk.initialize()
                path = resources.files("store") / "data" / USER_DICT
                if path.is_file():
                    with resources.as_file(path) as p:
                        tk.load_userdict(str(p))
                _tokenizer = tk
    return _tokenizer


def cut_for_index(text: str) -> Iterator[str]:
    """Search-mode tokens (words and their sub-words), whitespace dropped."""
    for w in tokenizer().cut_for_search(text, HMM=True):
        w = w.strip()
        if w:
            yield w


def cut_for_query(text: str) -> Iterator[str]:
    """Precise-mode tokens, whitespace dropped."""
    for w in tokenizer().cut(text, HMM=True):
        w = w.strip()
        if w:
            yield w
