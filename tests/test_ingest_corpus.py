"""Acceptance: whole pages read as a reader of each page reads them, on two page sets: the sample
pages shipped with the project (store/data/samples/, always run) and the five seed pages beside
the checkout (../shared/corpus/, skipped when absent). Story counts, titles and bylines below were
checked by reading the pages."""

from __future__ import annotations

import pytest

from store.categories import classify
from store.ingest import parse_page
from store.text import is_closed, normal_key
from tests.conftest import page_text

OWN = {
    "01": [
        ("“红色物业”把服务送到楼门口", ["林晓岚", "何志远"]),
        ("东关街道 “银发讲师团”走进社区讲党史", ["孔令军", "邱雨"]),
        ("南苑社区 “家门口”议事会解决停车难题", ["孔令军", "宋文博"]),
    ],
    "02": [
        ("守好网格 就是守好万家灯火", ["孔令军", "沈佳", "宋文博"]),
        ("贾明：把群众的事当成自家的事", ["林晓岚"]),
    ],
    "03": [
        ("在共建中聚合力 在服务中暖民心", ["林晓岚", "何志远"]),
        ("东关街道 举办“两新”组织党建培训班", ["孔令军", "邱雨"]),
        ("柳湾区 快递小哥有了“红色驿站”", ["林晓岚", "田甜"]),
    ],
    "04": [
        ("“家门口”的养老驿站暖了老人心", ["沈佳", "宋文博"]),
        ("柳湾区 开展“清凉护航”关爱户外劳动者活动", ["孔令军", "田甜"]),
        ("杏林街道 党员志愿者守护孩子“快乐暑假”", ["林晓岚"]),
    ],
    "05": [
        ("以“网格微治理”激活基层“神经末梢”", ["沈佳", "何志远"]),
        ("柳湾中学 党建带团建 红色基因代代传", ["孔令军"]),
    ],
    "06": [
        ("“小院议事厅”议出幸福新生活", ["沈佳", "罗文清"]),
        ("十年守护一条巷", ["林晓岚"]),
        ("北郊街道 召开老旧院落治理现场推进会", ["孔令军", "罗文清"]),
    ],
}

SEED = {
    "000": [
        ("体悟初心本色 践行使命担当", ["简洋", "李文裴"]),
        ("时刻怀揣“三心” 做合格社区干部", ["简洋"]),
    ],
    "001": [
        ("群众满意就是工作标准", ["马燕", "牛耘一", "张佳莉"]),
        ("“不忘初心、牢记使命”微党课 用语言诠释初心和使命", ["王阳", "刘晓林"]),
        ("杨桥办事处 聆听党课表态度", ["王阳", "贾浩彬"]),
    ],
    "002": [
        ("在融合中共赢 在共赢中发展", ["张改华", "蔚光勋", "冉安伟"]),
        ("汝河路街道 开展党工委书记讲党课专题活动", ["张改华", "程晓丹"]),
        ("棉纺路街道 政企联合 开展主题教育", ["张改华", "张丹"]),
        ("桐柏路街道 时刻发挥模范带头作用 为中原区发展贡献力量", ["张改华", "谷永超"]),
    ],
    "003": [
        ("党员亮身份,打通服务群众“最后一米”", ["吕正子"]),
        ("主题教育打通群众服务“最后一米”", ["吕正子"]),
        ("“党员要亮身份,带动大伙儿一起干!”", ["吕正子"]),
        ("“把工作做到贫困户心里去!”", ["吕正子"]),
    ],
    "004": [
        ("以『小切口』撬动社区治理『大文章』", ["杜挺勇", "贺起帅", "尤淑慧"]),
        ("郭龙生：用心做好每件民生实事", ["宁江东"]),
        ("张乾林：把工作做到群众心坎上", ["杜挺勇"]),
        ("山阳区教育工委：“643”赋能党建与教育“双开花”", ["杨珂", "张文艳"]),
    ],
}

EXPECTED = {"own": OWN, "seed": SEED}
PAGES = [pytest.param(kind, prefix, id=f"{kind}-{prefix}")
         for kind, table in EXPECTED.items() for prefix in sorted(table)]


def stories(prefix: str, kind: str = "seed"):
    return parse_page(page_text(kind, prefix), prefix)


@pytest.mark.parametrize("kind,prefix", PAGES)
def test_each_printed_story_is_one_article(kind, prefix):
    got = stories(prefix, kind)
    assert [(a.title, a.authors) for a in got] == EXPECTED[kind][prefix]


@pytest.mark.parametrize("kind,prefix", PAGES)
def test_paragraphs_are_mended_and_not_repeated(kind, prefix):
    for a in stories(prefix, kind):
        keys = [normal_key(p) for p in a.body]
        assert len(keys) == len(set(keys)), a.title
        for i, k in enumerate(keys):
            assert not any(k in other for j, other in enumerate(keys) if j != i), a.title
        for p in a.body:
            # every paragraph ends a sentence, except short section heads
            assert is_closed(p) or len(p) <= 28, (a.title, p[-20:])
            assert "记者 " not in p and "文/图" not in p, (a.title, p[-30:])


@pytest.mark.parametrize("kind,prefix", PAGES)
def test_every_story_has_a_category(kind, prefix):
    for a in stories(prefix, kind):
        assert classify(a.title, a.body), a.title


# Joins whose seam is torn (the page lost the text between the halves), marked with a gap; every
# other join of these pages is clean and stays unmarked.
GAPS = {"own": dict.fromkeys(OWN, 0), "seed": {"000": 0, "001": 0, "002": 1, "003": 0, "004": 0}}


@pytest.mark.parametrize("kind,prefix", PAGES)
def test_gaps_are_marked_only_where_the_page_lost_text(kind, prefix):
    from store.ingest_mend import gaps_in

    marked = [g.around for a in stories(prefix, kind) for g in gaps_in(a.body)]
    assert len(marked) == GAPS[kind][prefix], marked
    if (kind, prefix) == ("seed", "002"):
        assert "相关单〔……〕商共同努力" in marked[0]


def test_cuts_across_columns_are_mended_on_the_samples():
    [first, *_] = stories("06", "own")
    # cut after 解, a section head and a paragraph between, the block printed twice
    assert any("形成办理事项86件，目前已经解决81件，完成率超过九成。" in p for p in first.body)
    assert sum("义务水电工" in p for p in first.body) == 1
    body = " ".join(p for a in stories("03", "own") for p in a.body)
    assert "共同解决了停车难、就医难等民生问题14个" in body


def test_sections_captions_dates_and_categories_on_the_samples():
    first, profile, item = stories("06", "own")
    heads = ["议事有章法", "办事有力量", "效果看得见"]
    at = [first.body.index(h) for h in heads]
    assert at == sorted(at)
    assert first.kicker == "柳湾区" and first.subtitle.startswith("北郊街道把协商搬到院坝里")
    assert first.captions == ["议事厅成员（左二）在院落里商量改造方案。 本报记者 沈佳 摄"]
    assert (profile.kicker, profile.subtitle) == ("人物特写", "——记北郊街道清水巷社区党员志愿者卢秀珍")
    assert item.body[0].startswith("近日，")  # the 本报讯 marker is not text
    assert not any("扫一扫" in p or "公众号" in p for a in (first, profile, item) for p in a.body)
    assert {a.published for a in stories("04", "own")} == {"2024-07-02"}
    assert {a.published for a in stories("06", "own")} == {None}
    cats = {a.title: classify(a.title, a.body) for p in OWN for a in stories(p, "own")}
    assert cats["东关街道 举办“两新”组织党建培训班"] == ["党建"]
    assert "社区" in cats["南苑社区 “家门口”议事会解决停车难题"]


def test_cuts_across_columns_are_mended():
    body = " ".join(p for a in stories("002") for p in a.body)
    assert "民政、卫生、工商、教育" in body  # cut after 工, continued 9 blocks later
    assert "主动思考为驻区单位做什么" in body
    assert "每年底,中原区委组织部门依据" in body
    body0 = " ".join(stories("000")[1].body)
    assert "更是“你退后，让我来”的那份勇气和担当" in body0
    body4 = " ".join(stories("004")[1].body)
    assert "更架起了干群沟通的“连心桥”" in body4


def test_section_heads_and_column_order():
    first = stories("002")[0]
    heads = ["构建三级议事平台,凝聚合力", "实行三方共建承诺,催生动力", "建立三类科学评价,激发活力"]
    at = [first.body.index(h) for h in heads]
    assert at == sorted(at)
    # each section's paragraphs sit under it: 夯实社区执行平台 is in the first section
    exec_para = next(i for i, p in enumerate(first.body) if p.startswith("夯实社区执行平台"))
    assert at[0] < exec_para < at[1]
    profile = stories("000")[1]
    assert profile.kicker == "人物特写"
    assert profile.subtitle == "惠济区大河路街道天河社区党支部书记 商国亮"
    assert "他的初心和使命" in profile.body


def test_captions_are_kept_apart():
    first = stories("002")[0]
    assert first.captions == ["林山寨党建文化墙开辟红色教育阵地", "林山寨党建文化墙营造浓厚党建氛围",
                              "伏牛北社区党员进行宣誓", "淮西社区党员活动日合照"]
    s004 = stories("004")
    assert s004[1].captions == ["郭龙生（左）与群众拉家常。 本报记者 宁江东 摄"]
    assert s004[2].captions == ["张乾林（右）在老旧楼院排查基础设施建设情况。 本报记者 王梦梦 摄"]
    assert stories("003")[2].captions == ["许继晶锐车间内设置的“党员示范区”。"]
    for prefix in SEED:
        for a in stories(prefix):
            for c in a.captions:
                assert not any(c.split(" ")[0] in p for p in a.body)
    assert not any("扫一扫" in c or "公众号" in c for a in s004 for c in a.captions + a.body)


def test_dates_only_when_they_can_be_told():
    assert {a.published for a in stories("002")} == {"2019"}  # 今年是建党98周年
    for prefix in ("000", "001", "003", "004"):
        assert {a.published for a in stories(prefix)} == {None}


def test_categories_follow_the_story():
    cats = {a.title: classify(a.title, a.body) for p in SEED for a in stories(p)}
    assert "社区" in cats["以『小切口』撬动社区治理『大文章』"]
    assert cats["杨桥办事处 聆听党课表态度"] == ["党建"]
    assert "党建" in cats["“党员要亮身份,带动大伙儿一起干!”"]
    assert set(cats["时刻怀揣“三心” 做合格社区干部"]) == {"党建", "社区"}


@pytest.mark.parametrize("kind,prefix", PAGES)
def test_summaries_are_the_storys_own_prose(kind, prefix):
    from store.summary import summarise

    for a in stories(prefix, kind):
        short, long_ = summarise(a.title, a.body)
        assert 40 <= len(short) <= 120 and len(short) <= len(long_) <= 260, a.title
        heads = [p for p in a.body if not is_closed(p)]
        for s in (short, long_):
            assert "记者 " not in s and "文/图" not in s and " 摄" not in s, a.title
            assert not any(h in s for h in heads), a.title
            assert not any(c.split(" ")[0] in s for c in a.captions), a.title
        opening = short[:20]  # the story's own words (a leading 他 may carry its name)
        assert any(o in " ".join(a.body) for o in
                   [opening] + [p + opening[n:] for n in (2, 3, 4) for p in "他她"])
