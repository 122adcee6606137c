"""The project's copy of the source contract, its calendar and region codes."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from contract import load_contract
from contract.regions import (
    all_region_codes,
    current_city_districts,
    historical_city_codes,
    is_city_region,
)
from contract.sources import ContractError, parse_type
from contract.workdays import ProvisionalCalendarWarning, WorkdayCalendar, calendar


def test_all_six_systems_and_their_tables_are_loaded():
    contract = load_contract()
    assert list(contract.systems) == [
        "case_platform",
        "certificate_library",
        "hotline_12345",
        "evaluation_hcp",
        "population_base",
        "legal_entity_base",
    ]
    assert len(contract.tables()) == 14
    assert contract.table("bj_jbxx").key == ("SBLSH",)
    assert contract.table("fr_ndxx").key == ("TYSHXYDM", "ND")
    assert contract.table("work_orders").change_column == "updated_at"
    assert contract.table("dzzz_yyjl").change_column is None


def test_decimal_types_survive_the_flow_mapping_comma():
    ffje = load_contract().table("jf_ffjl").column("FFJE")
    assert (ffje.kind, ffje.precision, ffje.scale, ffje.type_text) == ("dec", 14, 2, "dec(14,2)")


def test_code_lists_are_text_keyed():
    codes = load_contract().codes
    assert codes["channel"]["1"] == "PC端(政务服务网)"
    assert set(codes["rating"]) == {"1", "2", "3", "4", "5"}
    assert load_contract().table("bj_jbxx").column("SQFS").code_list == "channel"


@pytest.mark.parametrize("text", ["str", "dec(1)", "code()", "float", "str(x)"])
def test_unknown_types_are_refused_with_the_place(text):
    with pytest.raises(ContractError, match="here"):
        parse_type(text, "here")


def test_ganzhou_has_its_eighteen_current_districts_and_retired_codes():
    codes = [r.code for r in current_city_districts()]
    assert len(codes) == 18 and "360702" in codes and "360783" in codes
    assert "360721" not in codes and "360727" not in codes
    retired = {r.code for r in historical_city_codes()}
    assert {"360721", "360727", "360782", "362101", "362132"} <= retired
    assert {"362101", "110101"} <= all_region_codes()
    assert is_city_region("360700") and not is_city_region("362101") and not is_city_region(None)


def test_working_days_follow_the_official_calendar_with_swapped_days():
    cal = calendar()
    assert not cal.is_workday(dt.date(2026, 10, 1))  # 国庆
    assert cal.is_workday(dt.date(2026, 9, 20))  # Sunday worked for 国庆 (调休)
    assert cal.wd(dt.date(2026, 9, 30), dt.date(2026, 10, 9)) == 2  # 10-08, 10-09
    assert cal.wd(dt.date(2025, 3, 3), dt.date(2025, 3, 3)) == 0
    assert cal.wd(dt.date(2025, 3, 7), dt.date(2025, 3, 10)) == 1  # Friday -> Monday
    assert cal.add_workdays(dt.date(2026, 9, 30), 2) == dt.date(2026, 10, 9)


def test_beyond_the_seed_mondays_to_fridays_count_and_a_warning_says_so():
    cal = WorkdayCalendar()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cal.wd(dt.date(2027, 3, 5), dt.date(2027, 3, 8)) == 1
    assert any(issubclass(w.category, ProvisionalCalendarWarning) for w in caught)
    assert cal.covers(dt.date(2026, 12, 31)) and not cal.covers(dt.date(2027, 1, 1))
