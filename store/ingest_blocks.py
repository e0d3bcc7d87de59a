"""Page import, step 1: cut a page into line units and say what each one is.

A printed page extracted from PDF is a stream of lines. Blank lines separate paragraphs (one) and
layout boxes (two or more). Each non-blank line becomes a :class:`Unit` with a kind:

- ``text``: body text (a paragraph, or a piece of one cut at a column break: ``open``)
- ``head``: a short line without final punctuation (headline, subtitle, section head, caption)
- ``byline``: reporters and correspondents (记者 X 通讯员 Y 文/图), ``credit``: a photo credit (… 摄)
- ``banner`` / ``column`` / ``footer``: page furniture, series banners, column names, footers

Later steps (``ingest_mend``, ``ingest``) refine heads into titles, section heads and captions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from store.text import COMMAS, balanced, is_closed, outside_quotes, squeeze

ROLES = ("本报特约记者", "本报见习记者", "本报实习记者", "本报记者", "本报通讯员", "特约记者",
         "见习记者", "实习记者", "首席记者", "记者", "通讯员", "实习生", "特约撰稿", "撰稿")
_ROLE = "|".join(ROLES)
_NAME = r"[\u4e00-\u9fff·]{2,5}"
_SUFFIX = r"(?:文\s*/\s*图|图\s*/\s*文|文图|文|图|摄影|摄)"
_MARK = r"[□■◎●◆▲△○★☆]"
# One byline: roles each followed by one or more names, optional 文/图 or 摄 at the end.
BYLINE = re.compile(
    rf"^(?:{_MARK}\s*)?(?:(?:{_ROLE})\s*[:：]?\s+{_NAME}(?:\s+{_NAME})*\s*)+(?:{_SUFFIX})?$"
)
# A byline glued to the end of a paragraph: 。记者 简洋 文/图
GLUED_BYLINE = re.compile(
    rf"(?<=[。！？!?”』」）)])\s*((?:{_MARK}\s*)?(?:(?:{_ROLE})\s*[:：]?\s+{_NAME}"
    rf"(?:\s+{_NAME})*\s*)+(?:{_SUFFIX})?)$"
)
CREDIT_END = re.compile(r"(摄影?|供图|/摄)$")
BENBAO = re.compile(r"^(?:本报讯|本报消息|本报电)\s*(?:[（(]([^）)]{0,60})[）)])?\s*")
FOOTER = re.compile(r"扫一扫|关注我们|微信公众号|公众号|二维码|本版编辑|责任编辑|版式设计|美编|校对[:：]")
# Series banners and their broken pieces: the line is nothing but these phrases.
BANNER_PHRASES = re.compile(
    r"不忘初心|牢记使命|主题教育|献礼七一|特别报道|特别策划|庆祝建党\d+周年|庆祝中国共产党成立\d+周年|"
    r"喜迎二十大|学习贯彻|专题报道|系列报道|第[一二三四五六七八九十\d]+版|专版|要闻|[ A-Z]+版"
)
COLUMNS = {"人物特写", "核心提示", "编者按", "记者手记", "短评", "评论员文章", "基层动态", "一线直击",
           "身边榜样", "党建动态", "社区动态", "先锋风采", "榜样力量", "基层声音", "百姓故事",
           "新闻链接", "链接", "相关新闻", "图片新闻", "深度", "聚焦", "关注"}
DATE_LINE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(?:星期|周)[一二三四五六日天]")
CAPTION_MARKS = re.compile(r"[（(](?:左|右|中|前排|后排|左一|右一|左二|右二)[^）)]{0,6}[）)]|合照|合影|留影|图为")

# A headline does not end on a particle, preposition or a word cut in two.
HEAD_NEVER_ENDS = set("的了和与及对为在从把被向将一这那之而并等说是有")

Kind = str  # text, head, byline, credit, banner, column, footer, date


@dataclass
class Unit:
    text: str
    kind: Kind
    gap: int = 0  # blank lines before this line
    index: int = 0  # position on the page
    open: bool = False  # text cut mid-sentence (no final punctuation)
    byline: str = ""  # byline glued to the end of this text
    credit: str = ""  # photo credit glued to the end of this caption
    benbao: str = ""  # 本报讯 marker stripped from the front ("" when none)
    role: str = ""  # refined later: title, section, caption, lede...
    merged: list[int] = field(default_factory=list)  # indexes of units mended into this one

    @property
    def length(self) -> int:
        return len(self.text.replace(" ", ""))


def is_byline(line: str) -> bool:
    return bool(BYLINE.match(line)) and not CREDIT_END.search(line)


def is_credit(line: str) -> bool:
    return bool(BYLINE.match(line)) and bool(CREDIT_END.search(line))


def byline_names(byline: str) -> list[str]:
    """The people of a byline, in order: roles, marks and 文/图 dropped."""
    t = re.sub(_MARK, " ", byline)
    t = re.sub(rf"{_SUFFIX}\s*$", " ", t.strip())
    names: list[str] = []
    for tok in re.split(r"[\s:：、，,]+", t):
        for role in ROLES:
            if tok.startswith(role):
                tok = tok[len(role):]
                break
        if re.fullmatch(_NAME, tok) and tok not in names:
            names.append(tok)
    return names


def is_banner_line(line: str) -> bool:
    """Nothing but series-banner phrases (and stray quotes, spaces, punctuation)."""
    rest = BANNER_PHRASES.sub("", line)
    rest = re.sub(r"[\s“”‘’\"'、，,·:：!！\-—]", "", rest)
    return len(rest) <= 1 and len(line) <= 30


def looks_like_head(line: str) -> bool:
    """Short, no final or inner full stop (outside quotes), quotes paired, not ending in a
    comma: a headline, subtitle, section head or caption rather than running text."""
    if len(line) > 64 or is_closed(line) or not balanced(line):
        return False
    if line[-1] in COMMAS or line[-1] in "：:—" or line[-1] in HEAD_NEVER_ENDS:
        return False
    own = outside_quotes(line)
    if any(ch in own for ch in "。；;"):
        return False
    parts = line.split(" ")
    return all(sum(ch in "，," for ch in p) <= 2 for p in parts)


def split_lines(page: str) -> list[Unit]:
    """Units of the page in printed order, with the blank-line gap before each."""
    units: list[Unit] = []
    gap = 0
    for raw in page.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = squeeze(raw.replace("\ufeff", ""))
        if not line:
            gap += 1
            continue
        u = classify_line(line, gap, len(units))
        prev = units[-1] if units else None
        # A byline or credit on the line right under a paragraph or caption belongs to it.
        if prev is not None and gap == 0 and prev.kind == "text" and u.kind in ("byline", "credit"):
            if u.kind == "byline" and not prev.byline:
                prev.byline = u.text
                continue
            if u.kind == "credit" and not prev.credit:
                prev.credit = u.text
                continue
        units.append(u)
        gap = 0
    return units


def classify_line(line: str, gap: int, index: int) -> Unit:
    u = Unit(line, "text", gap=gap, index=index)
    if FOOTER.search(line) and len(line) <= 30:
        u.kind = "footer"
    elif DATE_LINE.search(line) and len(line) <= 40:
        u.kind = "date"
    elif is_credit(line):
        u.kind = "credit"
    elif is_byline(line):
        u.kind = "byline"
    elif line in COLUMNS or (line.startswith("【") and line.endswith("】") and len(line) <= 10):
        u.kind = "column"
    else:
        m = BENBAO.match(line)
        if m:
            u.benbao = m.group(0).strip()
            u.text = line[m.end():].strip()
            inner = m.group(1) or ""
            if any(r in inner for r in ROLES):  # 本报讯（记者 X 通讯员 Y）
                u.byline = inner
            line = u.text
        glued = GLUED_BYLINE.search(line)
        if glued and glued.start() > 0:
            tail = glued.group(1).strip()
            u.text = line[: glued.start()].rstrip()
            if CREDIT_END.search(tail):
                u.credit = tail
            else:
                u.byline = tail
        if not u.benbao and not u.credit and looks_like_head(u.text):
            u.kind = "head"
        else:
            u.open = not is_closed(u.text)
    return u
