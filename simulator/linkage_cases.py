"""The hard cases of identity linkage (docs/linkage.md) planted into the 12345 calls.

A caller gives a phone and a name as people do: in honorific form ("王先生"), with a
homophone or a one-character slip in the given name, from a household member's phone, from
the number they had before a change, or with two digits of the identity number swapped.
Each case is drawn from a stream of its own per work order (never the order's stream), so
every other part of the city stays as it was; each is recorded in the manifest
(`linkage_cases`) beside the caller's identity (`identity_records`), the truth the linkage
is measured against.
"""

from __future__ import annotations

import datetime as dt

from contract.identity import ric_check_char
from simulator.catalogue import GIVEN_CHARS, SURNAMES
from simulator.config import substream

# Shares of the ordinary calls (not the planted v2 ones) each case is drawn for.
HONORIFIC = 0.15
ANONYMOUS = 0.03
HOMOPHONE = 0.03
TYPO = 0.02
HOUSEHOLD_PHONE = 0.04
ID_TRANSPOSED = 0.15  # of the calls that give an identity number
PHONE_CHANGED = 0.10  # of the people with a mobile: a different number before some day

# Characters that sound as a given-name character does (same pinyin, tones aside).
HOMOPHONES = {
    "伟": "玮炜薇",
    "芳": "方坊",
    "敏": "民闽",
    "静": "婧靖",
    "丽": "莉俐",
    "强": "蔷",
    "磊": "垒",
    "军": "君钧",
    "洋": "阳扬",
    "勇": "永咏",
    "艳": "燕彦",
    "杰": "洁捷",
    "娟": "鹃",
    "涛": "韬滔",
    "明": "铭鸣",
    "超": "潮",
    "霞": "侠",
    "平": "萍屏",
    "刚": "钢纲",
    "英": "瑛莹",
    "华": "桦骅",
    "玉": "钰煜",
    "兰": "岚澜",
    "红": "虹鸿",
    "建": "健剑",
    "国": "帼",
    "文": "雯纹",
    "辉": "晖徽",
    "鹏": "朋",
    "飞": "菲妃",
    "斌": "彬滨",
    "宇": "雨禹",
    "浩": "昊皓",
    "婷": "亭庭",
    "雪": "学",
    "琳": "林霖",
    "晨": "辰宸",
    "欣": "鑫馨",
    "怡": "宜仪",
    "佳": "嘉家",
    "俊": "骏峻",
    "峰": "锋枫",
    "志": "智致",
    "亮": "靓",
    "海": "凯",
    "波": "博",
    "荣": "蓉容",
    "春": "纯",
    "梅": "玫媚",
    "东": "冬栋",
    "慧": "惠蕙",
    "琴": "芹勤",
    "云": "芸韵",
    "倩": "茜",
    "瑞": "睿锐",
    "子": "梓紫",
    "轩": "萱宣",
    "涵": "晗含",
    "思": "斯丝",
    "诗": "时",
    "语": "雨羽",
    "琪": "琦棋",
    "龙": "隆珑",
    "德": "得",
    "福": "富甫",
    "生": "升胜",
    "香": "湘祥",
    "发": "法",
    "财": "才",
}


def phone_change_day(seed: int, i: int, people, config) -> dt.date | None:
    """The day person `i` took their current mobile (their old one is `old_phone`), or None."""
    if not people.phone[i]:
        return None
    rng = substream(seed, "linkage-phone-change", i)
    if rng.random() >= PHONE_CHANGED:
        return None
    span = (config.end - config.start).days
    return config.start + dt.timedelta(days=rng.randrange(1, span))


def old_phone(seed: int, i: int) -> str:
    rng = substream(seed, "linkage-old-phone", i)
    return f"{rng.choice([131, 137, 151, 157, 187, 188, 198])}{rng.randrange(10**8):08d}"


def plant(order, people, config, day: dt.date) -> list[tuple[str, str]]:
    """Change one ordinary work order as its caller gave it: the (kind, detail) of each
    hard case planted, in the order applied."""
    rng = substream(config.seed, "linkage-cases", order.gdbh)
    i, cases = order.person, []
    changed = phone_change_day(config.seed, i, people, config)
    if changed is not None and day < changed:
        order.phone = old_phone(config.seed, i)
        cases.append(("old_phone", f"current from {changed.isoformat()}"))
    elif rng.random() < HOUSEHOLD_PHONE:
        relative = _household_member(people, i, day)
        if relative is not None:
            order.phone = people.phone_text(relative)
            cases.append(("household_phone", people.id_number(relative)))
    if order.name is not None:
        cases += _name_case(order, people, i, rng)
    # A swapped pair that fails the check character is an invalid number (a D4 defect as
    # the quality suite counts it): a city generated with `--defects off` plants none.
    if order.id_raw is not None and config.defects and rng.random() < ID_TRANSPOSED:
        swapped = _transposed(order.id_true, rng)
        if swapped is not None:
            order.id_raw = swapped
            cases.append(("id_transposed", swapped))
    return cases


def _name_case(order, people, i: int, rng) -> list[tuple[str, str]]:
    draw = rng.random()
    surname = SURNAMES[people.surname[i]]
    if draw < HONORIFIC:
        order.name = surname + ("先生" if people.sex[i] == 1 else "女士")
        return [("honorific", order.name)]
    draw -= HONORIFIC
    if draw < ANONYMOUS:
        order.name = "匿名"
        return [("anonymous", order.name)]
    draw -= ANONYMOUS
    given = order.name[len(surname) :]
    position = rng.randrange(len(given))
    if draw < HOMOPHONE and given[position] in HOMOPHONES:
        new = rng.choice(HOMOPHONES[given[position]])
        order.name = surname + given[:position] + new + given[position + 1 :]
        return [("homophone", order.name)]
    draw -= HOMOPHONE
    if draw < TYPO:
        new = rng.choice([c for c in GIVEN_CHARS if c != given[position]])
        order.name = surname + given[:position] + new + given[position + 1 :]
        return [("typo", order.name)]
    return []


def _household_member(people, i: int, day: dt.date) -> int | None:
    """Someone near `i` in the register with the same surname and hukou who has a mobile:
    the relative whose phone a household member calls from."""
    region = people.hukou(i, day)
    for j in [*range(max(0, i - 300), i), *range(i + 1, min(len(people), i + 300))]:
        if (
            people.surname[j] == people.surname[i]
            and people.phone[j]
            and people.phone[j] != people.phone[i]
            and people.hukou(j, day) == region
        ):
            return j
    return None


def _transposed(number: str, rng) -> str | None:
    """`number` with two neighbouring unequal digits of its body swapped, kept only when
    the check character then fails (a swap that passes would be another valid number,
    which no check can tell: not this case)."""
    places = [k for k in range(16) if number[k] != number[k + 1]]
    if not places:
        return None
    k = rng.choice(places)
    swapped = number[:k] + number[k + 1] + number[k] + number[k + 2 :]
    return swapped if ric_check_char(swapped[:17]) != swapped[17] else None
