"""数据共享 end to end: a simulator city ingested and built by dbt, published, then the
data_sharing DAG through Airflow (`dag.test`): the sharing snapshot from the real marts (its
keys are the warehouse's keys), 回流 deliveries with their audit records, and the service
over real HTTP answering from that snapshot for a real resident."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import duckdb
import httpx
import pendulum
import pytest

from sharing.pseudonyms import person_key
from sharing.store import Store
from tests.integration import scan
from tests.integration.dbt_city import ingested_city
from tests.integration.sharing_city import running_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from pipeline.airflow_setup import migrate_and_create_pool
    from pipeline.chain import ChainResult, dag_bag, run_dag
    from transform.dbt import build
    from transform.publish import publish

    tmp = tmp_path_factory.mktemp("sharing-e2e")
    city, warehouse = ingested_city(tmp)
    env = {
        "WAREHOUSE": str(warehouse),
        "PUBLISHED_WAREHOUSE": str(tmp / "published" / "warehouse.duckdb"),
        "SHARING_STORE_URL": f"sqlite:///{tmp / 'sharing' / 'sharing.db'}",
        "SHARING_SNAPSHOT": str(tmp / "sharing" / "snapshot.sqlite"),
        "SHARING_BACKFLOW_DIR": str(tmp / "sharing" / "backflow"),
        "PUBLISHED_SHARING_USAGE": str(tmp / "published" / "sharing_usage.duckdb"),
        "DBT_TARGET": "ci",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        day = scan.clock(city).date()
        build(warehouse, day - dt.timedelta(days=1), target="ci", capture=True)
        published = publish(warehouse, tmp / "published" / "warehouse.duckdb", day)
        migrate_and_create_pool()
        result = ChainResult(pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai"))
        run_dag(dag_bag().dags["data_sharing"], result.logical_date, result)
    return {
        "env": env,
        "result": result,
        "warehouse": warehouse,
        "published": published,
        "day": day,
    }


def test_the_dag_ran_both_tasks(shared):
    result = shared["result"]
    assert result.ok, (result.states, result.failed_tasks)
    snapshot = result.outputs["data_sharing.sharing_snapshot"]
    assert snapshot["published_snapshot_id"] == shared["published"].snapshot_id
    assert snapshot["rows"]["persons"] > 0 and snapshot["grants"] == 13
    deliveries = result.outputs["data_sharing.backflow"]["deliveries"]
    assert {(d["consumer"], d["grant"]) for d in deliveries} == {
        ("zgq", "ZGQ-2026-01"),
        ("zgq", "ZGQ-2026-02"),
        ("nkq", "NKQ-2026-01"),
        ("nkq", "NKQ-2026-02"),
    }


def _residents(warehouse) -> list[tuple]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(
            "SELECT v.person_key, v.identity_number, v.name, p.hukou_region_code, p.name_masked "
            "FROM main_restricted.identity_persons v JOIN main_marts.person_file p USING "
            "(person_key) WHERE p.is_resident ORDER BY p.hukou_region_code, v.person_key"
        ).fetchall()
    finally:
        conn.close()


def test_the_snapshot_keys_are_the_warehouse_keys(shared):
    residents = _residents(shared["warehouse"])
    key = os.environ["IDENTITY_KEY"]
    assert residents
    assert all(person_key(key, number) == pk for pk, number, *_ in residents)
    snapshot = shared["env"]["SHARING_SNAPSHOT"]
    assert os.stat(snapshot).st_mode & 0o777 == 0o600
    conn = sqlite3.connect(snapshot)
    keys = {k for (k,) in conn.execute("SELECT person_key FROM persons")}
    assert {pk for pk, *_ in residents} <= keys
    dump = "\n".join(conn.iterdump())
    assert not [number for _, number, *_ in residents if number in dump]


def test_the_usage_is_published_with_the_deliveries(shared):
    usage = duckdb.connect(shared["env"]["PUBLISHED_SHARING_USAGE"], read_only=True)
    try:
        assert usage.execute("SELECT count(*) FROM sharing_deliveries").fetchone() == (4,)
    finally:
        usage.close()


def test_backflow_audited_once_per_delivery(shared):
    store = Store(shared["env"]["SHARING_STORE_URL"])
    records = [r for r in store.audit_records() if r["call"] == "backflow"]
    deliveries = shared["result"].outputs["data_sharing.backflow"]["deliveries"]
    assert sorted((r["consumer_id"], r["rows"]) for r in records) == sorted(
        (d["consumer"], d["rows"]) for d in deliveries
    )
    assert store.verify_chain().intact
    store.dispose()


def test_the_service_answers_for_a_real_resident(shared, tmp_path):
    residents = [r for r in _residents(shared["warehouse"]) if r[3] == "360702"]
    assert residents, "the test city has residents in 章贡区"
    _, number, name, _, name_masked = residents[0]
    env = shared["env"]
    store = Store(env["SHARING_STORE_URL"])
    keys = {c: store.issue_key(c).secret for c in ("gaj", "zgq")}
    with running_service(
        env["SHARING_STORE_URL"],
        env["SHARING_SNAPSHOT"],
        tmp_path / "log",
        IDENTITY_KEY=os.environ["IDENTITY_KEY"],  # the key the city's warehouse was built with
    ) as base:
        body = {"identity_number": number, "name": name}
        answer = httpx.post(
            f"{base}/v1/verify/identity", json=body, headers={"X-API-Key": keys["gaj"]}
        )
        assert answer.json() == {"consistent": True}
        answer = httpx.get(
            f"{base}/v1/persons/{number.lower()}",
            params={"fields": "name,hukou_region_code"},
            headers={"X-API-Key": keys["zgq"]},
        )
        record = answer.json()["records"][0]
        # the same masked name as the published mart shows
        assert record == {"name": name_masked, "hukou_region_code": "360702"}
    store.dispose()
