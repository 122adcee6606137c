"""Identity linkage's parts that need no warehouse: names as callers give them, the number
rule, the review queue's memory (an in-memory DuckDB)."""

import datetime as dt

import duckdb

from contract.identity import ric_check_char
from linkage import decisions, names, rules


def _number(body17: str) -> str:
    return body17 + ric_check_char(body17)


def test_honorific_gives_surname_and_sex():
    assert names.parse("王先生") == names.Name(None, "王", None, "1")
    assert names.parse("李女士") == names.Name(None, "李", None, "2")
    assert names.parse("欧阳女士").surname == "欧阳"
    assert names.parse("匿名") == names.Name(None, None, None, None)
    assert names.parse("张伟") == names.Name("张伟", "张", "伟", None)


def test_homophones_share_pinyin_and_others_do_not():
    assert names.pinyin("张伟") == names.pinyin("张玮") == "zhangwei"
    assert names.pinyin("张伟") != names.pinyin("张强")


def test_a_transposed_number_with_the_name_points_to_its_one_resident():
    true = _number("36070219850312123")
    swapped = true[:8] + true[9] + true[8] + true[10:]
    assert true in rules.near_numbers(swapped)
    residents = {true: ("刘德福", "1")}
    assert rules.id_near_name(swapped, "刘德福", residents) == true
    assert rules.id_near_name(swapped, "刘得福", residents) == true  # homophone
    assert rules.id_near_name(swapped, "刘先生", residents) == true
    assert rules.id_near_name(swapped, "刘女士", residents) is None  # the honorific's sex
    assert rules.id_near_name(swapped, "陈德福", residents) is None  # another name
    assert rules.id_near_name(swapped, None, residents) is None  # a number alone: no rule


def test_two_residents_one_slip_away_is_no_rule():
    a = _number("36070219850312123")
    b = _number("36070219850321123")  # a's body with its 13th and 14th digits swapped
    wrong_check = a[:17] + ("0" if a[17] != "0" else "1")
    assert rules.id_near_name(wrong_check, "刘德福", {a: ("刘德福", "1")}) == a
    residents = {a: ("刘德福", "1"), b: ("刘德福", "1")}
    assert {a, b} <= rules.near_numbers(wrong_check)
    assert rules.id_near_name(wrong_check, "刘德福", residents) is None


def test_the_queue_keeps_the_day_a_record_was_first_queued():
    store = duckdb.connect()
    decisions.note_queued(store, [("work_order", "A"), ("case", "B")], dt.date(2026, 12, 1))
    decisions.note_queued(store, [("work_order", "A")], dt.date(2026, 12, 7))
    assert decisions.queue_age(store) == {
        ("work_order", "A"): dt.date(2026, 12, 1),
        ("case", "B"): dt.date(2026, 12, 1),
    }
    last = store.execute("select record_key, last_queued from linkage_queue_seen order by 1")
    assert last.fetchall() == [("A", dt.date(2026, 12, 7)), ("B", dt.date(2026, 12, 1))]
