"""The page splitter on labelled pages written in the seed corpus's style, one layout defect or
more per page (tests/data/pages/). Each test says what a reader of the page sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.ingest import IngestError, decode_page, parse_page, published_of
from store.ingest_blocks import byline_names, is_banner_line
from store.text import is_closed, sentences

PAGES = Path(__file__).parent / "data" / "pages"


def page(name: str):
    return parse_page((PAGES / name).read_text(encoding="utf-8"), name)


def prose(a) -> list[str]:
    """Body paragraphs other than section heads."""
    return [p for p in a.body if is_closed(p)]


def test_banner_kicker_title_subtitle_sections_caption_footer():
    [a] = page("a_banner_sections.txt")
    # banner lines (不忘初心 牢记使命 / 庆祝建党100周年特别报道) are not the headline
    assert a.title == "“红色管家”让老旧小区焕新颜"
    assert a.kicker == "柳湾区"
    assert a.subtitle == "杏林街道探索“党建+物业”模式，破解小区治理难题"
    # byline glued to the end of the lede: its people, and not in the text
    assert a.authors == ["林晓岚", "何志远"]
    assert not any("记者" in p and "文/图" in p for p in a.body)
    # section heads stay inside the story, as their own lines
    assert "党员带头亮身份" in a.body and "议事会上定难题" in a.body
    assert a.body.index("党员带头亮身份") < a.body.index("议事会上定难题")
    # the paragraph cut at "投入使|用" is mended
    assert any("如今已投入使用，可同时为80辆电动自行车充电。" in p for p in a.body)
    # caption with its photo credit, kept apart from the body
    assert a.captions == ["韩立新（右）与居民商量充电棚选址。 本报记者 林晓岚 摄"]
    assert not any("选址" in p for p in a.body)
    # footer gone; anniversary tells the year
    assert not any("扫一扫" in p or "公众号" in p for p in a.body + a.captions)
    assert a.published == "2021"


def test_column_name_and_every_byline_form():
    a, b, c = page("b_bylines.txt")
    # column name above the headline; a profile's "——记…" line is its subtitle
    assert (a.kicker, a.title) == ("人物特写", "把群众的小事当成自己的大事")
    assert a.subtitle == "——记柳湾区南苑社区网格员郑秀梅"
    # 本报记者 / 本报通讯员 on two lines before the body
    assert a.authors == ["孔令军", "沈佳", "宋文博"]
    # 本报讯 item with the byline on its own line after the body
    assert b.title == "东关街道 开展“党课进小区”活动"
    assert b.authors == ["孔令军", "邱雨"]
    assert b.body[0].startswith("7月1日上午")  # the 本报讯 marker is not text
    # □ 记者 X 文/图 under the headline
    assert c.title == "柳湾区 “一刻钟便民生活圈”覆盖所有社区"
    assert c.authors == ["孔令军"]
    assert len(c.body) == 2
    for s in (a, b, c):
        assert all(is_closed(p) for p in s.body)


def test_column_break_with_blocks_between_repeat_and_shuffled_order():
    a, b = page("c_shuffled_columns.txt")
    assert a.title == "在共建中聚合力 在服务中暖民心"
    assert b.title == "东关街道 举办“两新”组织党建培训班"
    # the cut "共同解|决了" is mended although two blocks and a section head sit between
    mended = [p for p in a.body if "共同解决了停车难" in p]
    assert len(mended) == 1 and mended[0].startswith("签订共建协议。")
    # and it is read in its section, before the next section head
    assert a.body.index(mended[0]) < a.body.index("开展结对服务")
    # the block printed twice appears once
    assert sum("推行积分管理" in p for p in a.body) == 1
    # boxed photo captions without credits are captions, not headlines or text
    assert a.captions == ["街区党建联盟联席会议现场", "党员医生为居民测量血压"]
    assert b.authors == ["孔令军", "邱雨"]
    assert len(b.body) == 2


def test_dated_page_caption_inside_a_cut_paragraph():
    a, b = page("d_dated_caption_in_cut.txt")
    assert a.published == b.published == "2024-07-02"  # the page header's date
    # 本报讯（记者 … 通讯员 …）
    assert a.authors == ["沈佳", "宋文博"]
    assert a.body[0].startswith("走进柳湾区")
    # the caption printed inside the cut goes to captions; the paragraph is whole
    assert a.captions == ["志愿者为老人送餐上门。 本报记者 沈佳 摄"]
    assert any("提供送餐服务，目前已有固定送餐对象47户。" in p for p in a.body)
    assert any(p.endswith("做到老人的心坎上。”") for p in a.body)
    assert len(a.body) == 3
    assert b.authors == ["孔令军", "田甜"]  # 本报记者 + 实习生 lines


def test_sample_pages_split_into_their_stories():
    """The demo pages shipped in store/data/samples are read as written."""
    from store.samples import sample_pages

    pages = sample_pages()
    assert 4 <= len(pages) <= 6
    total = 0
    for name, text in pages:
        stories = parse_page(text, name)
        total += len(stories)
        for s in stories:
            assert s.title and s.authors and s.body, (name, s.title)
            assert all(is_closed(p) or len(p) <= 28 for p in s.body), (name, s.title)
    assert 12 <= total <= 20


def test_sentences_respect_quotes_and_brackets():
    text = "他说：“我们好。明天见！”郭龙生说。会上（据介绍。）很热闹。你来吗?我来!"
    assert sentences(text) == ["他说：“我们好。明天见！”郭龙生说。", "会上（据介绍。）很热闹。",
                               "你来吗?", "我来!"]
    assert sentences("“一是党建。二是治理。”") == ["“一是党建。二是治理。”"]


def test_byline_names_and_banners():
    assert byline_names("记者 马燕 实习记者 牛耘一 通讯员 张佳莉 文/图") == ["马燕", "牛耘一", "张佳莉"]
    assert byline_names("□ 记者 吕正子 文/图") == ["吕正子"]
    assert is_banner_line("不忘初心 牢记使命 庆祝建党98周年")
    assert not is_banner_line("“不忘初心、牢记使命”微党课 用语言诠释初心和使命")
    assert published_of("今年是建党98周年") == "2019"
    assert published_of("6月21日下午，近日") is None


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"  \n\n ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("社区党支部开展主题党日活动。".encode("gbk"), "GBK"),
        (b"x" * 2_000_001, "too large"),
        ("党建".encode("utf-16"), "UTF-16"),
    ],
)
def test_bad_input_is_refused_with_a_reason(data, words):
    with pytest.raises(IngestError, match=words):
        decode_page(data, "page.txt")


def test_page_without_a_story_is_refused():
    with pytest.raises(IngestError, match="no story"):
        parse_page("扫一扫 关注我们\n柳湾党建 微信公众号\n", "x.txt")
