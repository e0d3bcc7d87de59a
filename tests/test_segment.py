"""Where jieba's dictionary cache lives, and pypinyin loaded only when pinyin is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from store import articles, segment
from store.articles import Article
from store.db import open_store


def test_the_cache_goes_to_the_users_cache_folder_made_if_missing(tmp_path: Path) -> None:
    where = segment.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert where == tmp_path / "xdg" / "newsbot" and where.is_dir()
    home = segment.cache_dir({"HOME": str(tmp_path / "home")})
    assert home == tmp_path / "home" / ".cache" / "newsbot" and home.is_dir()


def test_an_unusable_cache_folder_falls_back_to_jiebas_default(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    assert segment.cache_dir({"XDG_CACHE_HOME": str(blocker)}) is None


def test_the_processs_tokenizer_uses_that_folder_and_a_name_per_jieba_version() -> None:
    tk = segment.tokenizer()
    where = segment.cache_dir()
    assert tk.tmp_dir == (str(where) if where else None)
    if where:
        assert (where / segment.cache_name()).is_file()
    import jieba

    assert jieba.__version__ in segment.cache_name()


def test_searching_never_loads_pypinyin(tmp_path: Path) -> None:
    """Indexing stores each name's pinyin keys, so a query in letters is matched and
    highlighted without pypinyin's tables in the serving process."""
    path = str(tmp_path / "s.db")
    store = open_store(path)
    articles.save(store, Article(title="郭龙生带领村民修通山路", body=["郭龙生和村里的党员一起出工。"]))
    store.close()
    code = f"""
import sys
from store import search
from store.db import open_store
s = open_store({path!r})
print(search.search(s, '党员').mode, 'pypinyin' in sys.modules)
r = search.search(s, 'guolongsheng')
print(r.mode, 'pypinyin' in sys.modules, '【郭龙生】' in r.hits[0].snippet)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["all", "False", "all", "False", "True"]


def test_the_cache_loads_into_what_jieba_builds_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    import marshal

    import jieba

    built = jieba.Tokenizer()  # jieba's own way: builds the prefix dictionary, writes the cache
    built.tmp_dir, built.cache_file = str(tmp_path), segment.cache_name()
    built.initialize()
    cache = tmp_path / segment.cache_name()
    assert cache.is_file()

    loaded = jieba.Tokenizer()
    assert segment._load_cache(loaded, cache) is True and loaded.initialized
    assert loaded.total == built.total and loaded.FREQ == built.FREQ
    text = "花园口社区的网格员上门为独居老人送去养老服务补贴申请表"
    assert list(loaded.cut(text, HMM=True)) == list(built.cut(text, HMM=True))

    for bad in (b"", b"not marshal at all", marshal.dumps([1, 2]), cache.read_bytes()[:1000]):
        cache.write_bytes(bad)
        fresh = jieba.Tokenizer()
        assert segment._load_cache(fresh, cache) is False and not fresh.initialized
    assert segment._load_cache(jieba.Tokenizer(), tmp_path / "missing.cache") is False
