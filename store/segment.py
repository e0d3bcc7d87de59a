"""jieba, set up once per process: the project's user dictionary for the domain's terms.

Index text with :func:`cut_for_index` (search mode: long words and their parts) and queries
with :func:`cut_for_query` (precise mode); both load the same dictionary.
"""

from __future__ import annotations

import logging
import marshal
import os
import threading
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jieba

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None

USER_DICT = "userdict.txt"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where jieba keeps its prefix-dictionary cache: ``$XDG_CACHE_HOME/newsbot`` or
    ``~/.cache/newsbot``, made if missing. ``None`` (jieba's default, the system's temporary
    folder) when it cannot be written.

    jieba trusts any ``jieba.cache`` in the temporary folder and rebuilds it when it is gone
    (tmp cleaners), which costs a worker seconds and much memory at its peak; a folder of the
    project's own keeps it across reboots."""
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    path = Path(base) / "newsbot"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def cache_name() -> str:
    """The cache file's name, for this jieba and its dictionary: an upgrade that changes
    either gets a fresh cache instead of a stale one (jieba checks neither for its own)."""
    st = os.stat(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"))
    return f"jieba-{jieba.__version__}-{st.st_size}-{int(st.st_mtime)}.cache"


def _load_cache(tk: jieba.Tokenizer, path: Path) -> bool:
    """Load jieba's prefix-dictionary cache into ``tk`` as jieba would, but from the bytes
    read at once: jieba unmarshals it from the open file, one small read per entry (half a
    million of them: most of a worker's cold start). ``False``
    when there is no usable cache (jieba then builds it)."""
    try:
        freq, total = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return False
    if not isinstance(freq, dict) or not isinstance(total, int) or not freq:
        return False
    tk.FREQ, tk.total, tk.initialized = freq, total, True
    return True


def tokenizer() -> jieba.Tokenizer:
    """The process's tokenizer with the user dictionary loaded (first call loads it)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                where, name = cache_dir(), cache_name()
                if where is not None:
                    tk.tmp_dir, tk.cache_file = str(where), name
                if where is None or not _load_cache(tk, where / name):
                    tk.initialize()  # builds the prefix dictionary and writes the cache
                path = resources.files("store") / "data" / USER_DICT
                if path.is_file():
                    with resources.as_file(path) as p:
                        tk.load_userdict(str(p))
                _tokenizer = tk
    return _tokenizer


@lru_cache(maxsize=1)
def tfidf() -> Any:
    """jieba's TF-IDF keyword extractor on the process's tokenizer (made once: it reads its
    IDF table); summaries and related stories weigh words with it."""
    import jieba.analyse  # here: the model is heavy, and a search-only worker never needs it

    t = jieba.analyse.TFIDF()
    t.tokenizer = tokenizer()
    t.postokenizer.tokenizer = t.tokenizer
    return t


@lru_cache(maxsize=1)
def tagger() -> Any:
    """jieba's part-of-speech tagger on the process's tokenizer (made once)."""
    import jieba.posseg  # here: as tfidf

    return jieba.posseg.POSTokenizer(tokenizer())


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
