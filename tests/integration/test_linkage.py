"""Identity linkage on the small ingested city: each hard case the simulator planted ends as
expected, a record is never linked to two persons, officers' decisions override the model
and survive a rebuild, and precision against the simulator's truth stays at 0.99 or more."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from bench.linkage import planted_cases, true_persons
from linkage import decisions, run
from tests.integration.dbt_city import warehouse_copy

BAND = (0.80, 0.99)


@pytest.fixture(scope="module")
def linked(ingested, tmp_path_factory):
    """(outcomes by record, truth by record, hard cases by record, warehouse)."""
    city, warehouse = ingested
    copy = warehouse_copy(warehouse, tmp_path_factory.mktemp("linkage"))
    conn = duckdb.connect(str(copy))
    run.prepare(conn)
    outcomes = {(o.record_kind, o.record_key): o for o in run.decide(conn, [], BAND)}
    conn.close()
    truth, cases = true_persons(city), planted_cases(city)
    return outcomes, truth, cases, copy


def test_precision_against_the_truth_is_at_least_099(linked):
    outcomes, truth, _, _ = linked
    links = [o for o in outcomes.values() if o.outcome == "linked"]
    correct = sum(o.person_id == truth[o.record_kind, o.record_key] for o in links)
    exact = sum(o.method == "exact" for o in links)
    assert set(outcomes) <= set(truth)  # (a quarantined order is not in raw)
    assert {kind for kind, _ in outcomes} == {"work_order", "case"}
    assert correct / len(links) >= 0.99
    assert len(links) > 1.5 * exact  # the rules and the model link more than numbers alone


def test_each_record_has_one_outcome_and_at_most_one_person(linked):
    *_, warehouse = linked
    conn = duckdb.connect(str(warehouse), read_only=True)
    rows = conn.execute(
        "select record_kind, record_key, count(*), count(distinct person_id) "
        "from linkage.outcomes group by all having count(*) > 1 or count(distinct person_id) > 1"
    ).fetchall()
    linked_without_person = conn.execute(
        "select count(*) from linkage.outcomes "
        "where (outcome = 'linked') <> (person_id is not null)"
    ).fetchall()[0][0]
    leftovers = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_name like '%splink%' or table_schema like '%splink%'"
    ).fetchall()
    conn.close()
    assert rows == [] and linked_without_person == 0
    assert leftovers == []  # Splink's working tables are not left in the warehouse


def _planted(linked, kind):
    outcomes, truth, cases, _ = linked
    keys = [k for k, found in cases.items() if kind in found and len(found) == 1]
    assert keys, f"the city planted no {kind} case alone"
    return [(outcomes[k], truth[k], cases[k][kind]) for k in keys]


def test_a_transposed_number_with_its_name_links_by_the_rule(linked):
    planted = _planted(linked, "id_transposed")
    by_rule = [(o, true) for o, true, _ in planted if o.method == "rule"]
    assert len(by_rule) >= len(planted) // 2
    assert all(o.person_id == true for o, true in by_rule)


def test_honorific_and_homophone_callers_link_to_themselves_or_wait(linked):
    for kind in ("honorific", "homophone"):
        planted = _planted(linked, kind)
        assert all(o.person_id in (None, true) for o, true, _ in planted), kind
        assert any(o.outcome == "linked" and o.method != "exact" for o, _, _ in planted), kind


def test_a_household_members_phone_never_links_the_relative(linked):
    for outcome, true, relative in _planted(linked, "household_phone"):
        assert outcome.person_id != relative
        assert outcome.person_id in (None, true)


def test_decisions_override_the_model_and_survive_a_rebuild(linked, ingested, tmp_path):
    outcomes, truth, _, _ = linked
    modelled = sorted(k for k, o in outcomes.items() if o.method == "probabilistic")
    waiting = sorted(k for k, o in outcomes.items() if o.outcome == "review")
    assert modelled and waiting
    rejected, accepted = modelled[0], waiting[0]
    store = duckdb.connect(str(tmp_path / "operations.duckdb"))
    for key, person, action in (
        (rejected, outcomes[rejected].person_id, "reject"),
        (accepted, truth[accepted], "accept"),
    ):
        decisions.record(store, decisions.Decision(*key, person, action), "测试员")
    in_force = decisions.load(store)
    store.close()
    rebuilt = warehouse_copy(ingested[1], tmp_path)  # a warehouse built again from raw
    conn = duckdb.connect(str(rebuilt))
    run.prepare(conn)
    again = {(o.record_kind, o.record_key): o for o in run.decide(conn, in_force, BAND)}
    conn.close()
    assert again[rejected].person_id != outcomes[rejected].person_id
    assert (again[accepted].outcome, again[accepted].method) == ("linked", "reviewed")
    assert again[accepted].person_id == truth[accepted]


def test_the_review_command_lists_the_queue_and_records_a_decision(linked, tmp_path):
    """`python -m linkage review list` shows a record waiting with its candidate; `review
    accept` writes the decision into the operations store, where the next run finds it."""
    *_, warehouse = linked
    store = tmp_path / "operations.duckdb"
    env = {**os.environ, "OPERATIONS_STORE": str(store)}
    listing = _linkage(env, "--warehouse", str(warehouse), "review", "list", "--limit", "1")
    kind, record, rank, person = listing.splitlines()[1].split("\t")[:4]
    assert rank == "1"
    accept = ["review", "accept", record, person, "--by", "测试员", "--kind", kind]
    _linkage(env, "--warehouse", str(warehouse), *accept)
    conn = duckdb.connect(str(store))
    in_force = decisions.load(conn)
    conn.close()
    assert in_force == [decisions.Decision(kind, record, person, "accept")]


def _linkage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "linkage", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
