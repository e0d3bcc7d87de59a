"""Chinese text is stored with Chinese punctuation: half-width marks between Chinese characters
become full-width when a story is saved; numbers, Latin text and web addresses keep theirs."""

from __future__ import annotations

from store.ingest import import_text
from tests.conftest import Bot

PAGE = """\
汝河路街道(村)开展主题党日活动

6月21日下午,汝河路街道党工委在二楼会议室开展主题党日活动,各社区(村)党员70余人参加。
活动于15:30开始,议程见 https://news.example/a?id=1,2 网页。怎样把党建工作推向深入?大家畅所欲言!
会议明确了三项任务:一是学习;二是调研;三是整改。
"""


def test_a_stored_story_reads_with_chinese_punctuation(bot: Bot, services) -> None:  # type: ignore[no-untyped-def]
    import_text(services.store, PAGE, "汝河晚报.txt")
    card = bot.send("汝河路街道", user="o_punct")
    assert card.kind == "news"
    [a] = card.articles
    assert a["Title"] == "汝河路街道（村）开展主题党日活动"
    assert "6月21日下午，汝河路街道" in a["Description"]
    page = bot.http.get("/articles/" + a["Url"].rsplit("/", 1)[1]).text
    assert "各社区（村）党员70余人参加。" in page
    assert "推向深入？大家畅所欲言！" in page and "三项任务：一是学习；二是调研；" in page
    assert "15:30" in page and "https://news.example/a?id=1,2" in page  # left as they were
