"""Layout damage a printed page's text carries, mended on import: pages written for the test
reproduce each kind, imported with the CLI and read back as readers get the story (its page)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.config import Config
from store import articles
from store.ingest_mend import join


def _import_and_read(config: Config, services, tmp_path: Path, text: str) -> str:  # type: ignore[no-untyped-def]
    page = tmp_path / "page.txt"
    page.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(main, ["--config", str(config.path), "import", str(page)])
    assert r.exit_code == 0, r.output
    return "\n".join("\n".join(a.body) for a in articles.latest(services.store, limit=10))


# A paragraph cut at a column break whose last character is printed again at the top of the
# next column; the second story's cut falls inside a real doubled word (天天), which stays.
DOUBLED = """
社区食堂开进老街巷
老人家门口吃上热乎饭

本报讯 槐树社区党支部把闲置的活动室改成社区食堂，每天中午为辖区老人供应两荤两素。七十八岁的周大爷吃完饭笑着说，每到中午坐在这里，心里就有种说

说不出的踏实和温暖，社区干部真是把我们当成了自家人。记者 林晓岚

巷口的健身角热闹起来
本报讯 杏林街道在背街小巷里建起健身角，退休的王阿姨说她现在天

天都来这里锻炼身体，和老姐妹们聊聊家常，日子过得很舒心。记者 何志远
"""


def test_a_character_doubled_at_a_column_break_is_kept_once(
    config: Config, services, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    text = _import_and_read(config, services, tmp_path, DOUBLED)
    assert "有种说不出的踏实和温暖" in text and "说说" not in text
    assert "她现在天天都来这里锻炼身体" in text  # a word that doubles its character stays whole


def test_the_join_rule_holds_beyond_one_word() -> None:
    assert join("心里就有种说", "说不出的高兴。") == "心里就有种说不出的高兴。"
    assert join("大家都来看", "看热闹。") == "大家都来看看热闹。"  # 看看 is a word
    assert join("开展主题", "教育活动。") == "开展主题教育活动。"


# A kicker and the story's place line printed side by side, read as one line.
GLUED = """
提升党员凝聚力战斗力槐树社区
议事开到楼门口
服务送到心坎上

本报讯 槐树社区党支部把议事厅搬到楼门口，居民有事当场商量、当场交办，今年以来已经办结停车、照明等十余件事。记者 林晓岚

记者走进杏林社区
本报讯 杏林社区的老人们在党员志愿者的帮助下学会了用手机挂号、缴费，大家直说方便。记者 何志远
"""


def test_a_place_name_glued_to_a_kicker_is_set_apart(
    config: Config, services, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    _import_and_read(config, services, tmp_path, GLUED)
    heads = {a.title: a.kicker for a in articles.latest(services.store, limit=10)}
    kicker = heads["议事开到楼门口 服务送到心坎上"]
    assert "战斗力槐树社区" not in kicker and kicker.split()[-1] == "槐树社区"
    assert "记者走进杏林社区" in heads  # a place the head is about stays in it


# A paragraph whose first half is missing from the page: it opens mid-word.
TORN = """
杏林街道 党员带头办实事

本报讯 杏林街道党工委组织机关党员下沉社区，认领居民“微心愿”一百二十余个。

们不断前进的根本动力，新时代给街道发展带来新机遇，党员干部要把群众的事放在心上。

地铁施工期间，街道党员志愿者在路口值守，帮助居民绕行。记者 林晓岚
"""


def test_a_paragraph_torn_at_its_start_opens_at_its_first_whole_clause(
    config: Config, services, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    text = _import_and_read(config, services, tmp_path, TORN)
    paragraphs = text.splitlines()
    assert not any(p.startswith("们") for p in paragraphs)
    assert "新时代给街道发展带来新机遇，党员干部要把群众的事放在心上。" in paragraphs
    assert any(p.startswith("地铁施工期间") for p in paragraphs)  # a word, not a torn start
