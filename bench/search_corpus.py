"""A synthetic article store for the search benchmark, from sample sentences written for it.

Stories are assembled from the sentences below with made-up people, places and numbers, to
the length spread of the seed pages' stories (a few hundred to a few thousand characters,
about 1,300 on average). Like the real pages, nearly every story speaks of 党建, 社区, 党员 or
主题教育, so those words match most of the store; people and places are rare.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段漕钱汤尹黎易常武乔贺赖龚文"
GIVEN = "国志建文明华平军伟俊丽静敏燕秀英玉兰桂芳红霞春海涛波宇鹏飞雪梅晓云峰磊强勇刚杰娟婷琳欣怡佳瑞祥福德长庆永利兴荣新振宏光"
PLACE_HEADS = ["天河", "金水", "惠民", "朝阳", "花园", "桐柏", "嵩山", "建设", "文化", "解放", "民主", "人民", "和平", "东风", "北城", "南湖", "西岭", "红旗", "五一", "幸福", "龙湖", "兴华", "大河", "黄河", "丰庆", "锦绣", "清华", "中原", "白庙", "古城"]
PLACE_TAILS = ["社区", "村", "街道", "镇", "小区"]
TOPICS = ["养老", "托育", "垃圾分类", "老旧小区改造", "文明创建", "防汛", "义诊", "就业",
          "便民服务", "平安建设", "志愿服务", "乡村振兴", "红色教育", "邻里互助", "移风易俗"]

TITLES = [
    "{place}{topic}工作见实效",
    "党建引领{topic} {place}探索新路子",
    "{person}：扎根基层的“{topic}”带头人",
    "{place}开展“不忘初心、牢记使命”主题教育",
    "{place}党员志愿者助力{topic}",
    "社区党支部书记{person}的一天",
    "{place}推进{topic}惠及{num}户居民",
    "以党建为引领 做实{topic}文章",
    "{place}：小网格撬动大治理",
    "主题教育走深走实 {place}党员干部在行动",
]

SENTENCES = [
    "近日，{place}党支部组织全体党员开展主题党日活动，重温入党誓词。",
    "{person}是{place}的党支部书记，在社区工作已经{num2}年。",
    "为深入推进主题教育，{place}把群众反映的问题列成清单，逐项销号。",
    "社区党员志愿者每天上门走访独居老人，帮助他们解决生活中的难题。",
    "“群众的事无小事，党员就要冲在前面。”{person}说。",
    "今年以来，{place}共为居民办实事{num}件，群众满意度明显提升。",
    "{place}以党建为引领，把{topic}作为服务群众的重要抓手。",
    "在{person}的带领下，社区建起了党群服务中心，居民议事有了固定场所。",
    "网格员每天巡查楼院，发现问题第一时间上报、第一时间处置。",
    "主题教育开展以来，党员干部深入基层调研，找准工作中的短板和不足。",
    "社区还组织了{topic}专题讲座，吸引了{num}余名居民参加。",
    "据了解，{place}共有党员{num}名，划分为{num2}个网格党小组。",
    "{person}告诉记者，下一步将继续完善{topic}机制，让居民得到更多实惠。",
    "活动现场，党员们认真聆听，不时记下要点。",
    "街道党工委把党建工作与基层治理紧密结合，推动资源下沉到社区。",
    "老党员{person}已经八十多岁，仍然坚持每周参加支部学习。",
    "通过“党建+{topic}”模式，{place}探索出一条共建共治共享的新路子。",
    "为了解决停车难问题，社区多次召开居民议事会，广泛听取意见。",
    "党支部书记带头，党员骨干分片包干，确保每项任务落到实处。",
    "{place}将红色资源融入主题教育，组织党员参观革命纪念馆。",
    "社区工作者利用周末时间，为辖区{num}户困难家庭送去米面油。",
    "居民们纷纷表示，社区的变化看得见、摸得着。",
    "在疫情防控中，{place}党员冲锋在前，筑牢了社区防线。",
    "{person}坚持把群众当亲人，谁家有困难总是第一个赶到。",
    "党建引领下的{topic}工作，让{place}的面貌焕然一新。",
    "社区党委定期召开联席会议，协调辖区单位共同参与社区建设。",
    "学习中，大家结合岗位实际谈体会、谈打算，进一步坚定了理想信念。",
    "下一步，{place}将持续深化主题教育成果，推动党建和业务深度融合。",
    "辖区内{num}名在职党员到社区报到，认领了{num2}个服务岗位。",
    "“以前楼道里堆满杂物，现在干干净净。”居民{person}高兴地说。",
    "社区还成立了由党员、楼长和热心居民组成的志愿服务队。",
    "{place}把{topic}纳入年度重点工作，细化措施，压实责任。",
    "党员干部走进田间地头和居民家中，面对面听取意见建议。",
    "这次活动进一步增强了党员的责任感和使命感。",
    "{person}说，做社区工作，最重要的是把居民的事当成自己的事。",
    "截至目前，{place}已累计投入资金{num}万元，完成改造楼院{num2}个。",
    "社区党支部创新推行“一线工作法”，问题在一线发现、在一线解决。",
    "老人们在日间照料中心吃上了热乎饭，子女们也放心了。",
    "为丰富居民文化生活，社区组织了广场舞比赛和书法展览。",
    "各党支部认真对照检视问题，制定整改措施，明确完成时限。",
]


def _fill(template: str, rng: random.Random, story: dict[str, str]) -> str:
    return template.format(
        place=story["place"],
        person=story["person"] if rng.random() < 0.7 else _person(rng),
        topic=story["topic"] if rng.random() < 0.8 else rng.choice(TOPICS),
        num=story["num"] if rng.random() < 0.5 else str(rng.randint(10, 3000)),
        num2=str(rng.randint(2, 40)),
    )


def _person(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.8 else "")
    return rng.choice(SURNAMES) + given


def _place(rng: random.Random) -> str:
    return rng.choice(PLACE_HEADS) + rng.choice(PLACE_TAILS)


def _length(rng: random.Random) -> int:
    """Characters of body: log-normal around the seed stories' ~1,300, 200 to 4,000."""
    return int(min(4000, max(200, rng.lognormvariate(7.0, 0.55))))


def stories(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``n`` rows for the ``articles`` table (bodies as JSON lists of paragraphs)."""
    rng = random.Random(seed)
    for i in range(n):
        story = {"place": _place(rng), "person": _person(rng), "topic": rng.choice(TOPICS),
                 "num": str(rng.randint(10, 3000))}
        target = _length(rng)
        paragraphs: list[str] = []
        size = 0
        while size < target:
            para = "".join(_fill(rng.choice(SENTENCES), rng, story)
                           for _ in range(rng.randint(2, 5)))
            paragraphs.append(para)
            size += len(para)
        title = _fill(rng.choice(TITLES), rng, story)
        now = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00+00:00"
        yield {
            "id": i + 1,
            "title": title,
            "body": json.dumps(paragraphs, ensure_ascii=False),
            "authors": json.dumps([_person(rng)], ensure_ascii=False),
            "captions": "[]",
            "categories": json.dumps(["党建", "社区"], ensure_ascii=False),
            "source": "bench",
            "summary": paragraphs[0][:100],
            "summary_long": paragraphs[0][:250],
            "added_at": now,
            "updated_at": now,
            "content_hash": f"bench{i}",
            "story_key": f"bench\x1f{i}",
        }
