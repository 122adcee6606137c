"""Chinese names as a caller gives them: surname, given name, the sex an honorific tells,
and the pinyin that homophones share (张伟 / 张玮 → zhangwei)."""

from __future__ import annotations

from dataclasses import dataclass

from pypinyin import lazy_pinyin

# The honorific forms a 12345 operator writes down, with the sex each tells (None: either).
HONORIFICS = {"先生": "1", "女士": "2", "小姐": "2", "阿姨": "2", "师傅": None}
# What stands where the caller gave no name at all.
NO_NAME = frozenset({"匿名", "无", "不详", "未提供"})
COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "司徒", "慕容"})


@dataclass(frozen=True)
class Name:
    full: str | None  # the whole name when one was given (None for "王先生" and "匿名")
    surname: str | None
    given: str | None
    sex: str | None  # '1' / '2' from an honorific, else None

    @property
    def pinyin(self) -> str | None:
        return pinyin(self.full)

    @property
    def surname_pinyin(self) -> str | None:
        return pinyin(self.surname)


def pinyin(text: str | None) -> str | None:
    """Tone-less pinyin, syllables joined: the same for homophones."""
    return "".join(lazy_pinyin(text)) if text else None


def _surname_of(text: str) -> str:
    return text[:2] if text[:2] in COMPOUND_SURNAMES else text[:1]


def parse(text: str | None) -> Name:
    """A name as written: full, honorific ("王先生": surname 王, sex 1), or none."""
    text = (text or "").strip()
    if not text or text in NO_NAME:
        return Name(None, None, None, None)
    for honorific, sex in HONORIFICS.items():
        if text.endswith(honorific) and len(text) > len(honorific):
            surname = text[: -len(honorific)]
            if len(surname) <= 2:
                return Name(None, surname, None, sex)
    surname = _surname_of(text)
    return Name(text, surname, text[len(surname) :] or None, None)
