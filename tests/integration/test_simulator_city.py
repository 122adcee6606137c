"""A generated city checked against the project's copy of the source contract, and its
ground-truth manifest checked against an independent scan of the data."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from contract import load_contract
from simulator.schema import column_sql_type
from tests.integration import scan

pytestmark = pytest.mark.integration
CONTRACT = load_contract()
TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IDENTITY_COLUMNS = {
    ("bj_jbxx", "SQRZJHM"),
    ("dzzz_zzxx", "CZZTDM"),
    ("fr_jbxx", "FDDBRZJHM"),
    ("bb_jl", "SQRZJHM"),
    ("work_orders", "ldrzjhm"),
}
DB_TABLES = [(t.system, t) for t in CONTRACT.tables() if t.system != "evaluation_hcp"]


def _key(table, row) -> str:
    return "|".join(str(row[k]) for k in table.key)


def _value_ok(column, value) -> bool:
    kind = column.kind
    if kind == "ts":
        return bool(TS.match(value)) and bool(dt.datetime.fromisoformat(value))
    if kind == "date":
        return bool(DATE.match(value)) and bool(dt.date.fromisoformat(value))
    if kind == "int":
        return isinstance(value, int)
    if kind == "dec":
        return isinstance(value, int | float)
    if kind == "str":
        return isinstance(value, str)
    return True


@pytest.mark.parametrize(("system", "table"), DB_TABLES, ids=[t.name for _, t in DB_TABLES])
def test_tables_have_every_contract_column_with_its_type(city, system, table):
    conn = sqlite3.connect(city / scan.SYSTEM_FILES[system])
    declared = {r[1]: r[2] for r in conn.execute(f"PRAGMA table_info({table.name})")}
    conn.close()
    for column in table.columns:
        assert column.name in declared, f"{table.name}.{column.name} missing"
        if system != "hotline_12345":
            assert declared[column.name] == column_sql_type(column, "sqlite")
    extra = set(declared) - set(table.column_names)
    drift = {
        c
        for (c,) in scan.manifest(
            city,
            "SELECT column_name FROM defects WHERE defect = 'D11' AND table_name = ?",
            (table.name,),
        )
    }
    assert extra == drift
    rows = scan.rows(city, system, table.name)
    assert rows, f"{table.name} is empty"
    for column in table.columns:
        values = [r[column.name] for r in rows]
        if column.required:
            assert None not in values, f"{table.name}.{column.name} has nulls"
        bad = [v for v in values if v is not None and not _value_ok(column, v)]
        assert not bad, f"{table.name}.{column.name}: {bad[:3]}"
        if column.kind == "str" and (table.name, column.name) not in IDENTITY_COLUMNS:
            assert all(len(v) <= column.length for v in values if v is not None), column.name


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_codes_are_in_their_lists_except_d7(request, city_name):
    city = request.getfixturevalue(city_name)
    found = set()
    for system, table in DB_TABLES:
        for row in scan.rows(city, system, table.name):
            for column in table.columns:
                value = row[column.name]
                if (
                    column.kind == "code"
                    and value is not None
                    and value not in CONTRACT.codes[column.code_list]
                ):
                    found.add((table.name, _key(table, row), column.name))
    listed = set(
        scan.manifest(
            city,
            "SELECT table_name, key, column_name FROM defects "
            "WHERE defect = 'D7' AND table_name <> 'hcp_pj'",
        )
    )
    assert found == listed
    assert city_name == "city" or len(found) > 20


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_keys_are_unique_except_d1(request, city_name):
    city = request.getfixturevalue(city_name)
    for system, table in DB_TABLES:
        counts = collections.Counter(_key(table, r) for r in scan.rows(city, system, table.name))
        repeated = {k for k, n in counts.items() if n > 1}
        assert repeated == scan.defect_keys(city, "D1", table.name), table.name
        assert all(counts[k] == 2 for k in repeated)


def _tree_digest(city: Path) -> dict[str, str]:
    return {
        str(p.relative_to(city)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(city.rglob("*"))
        if p.is_file() and ".simulator" not in p.parts
    }


def test_same_seed_gives_identical_files(tmp_path):
    """Two runs with different hash salts must write byte-identical cities. In one process:
    with two, the days each process draws depend on their speed, so the SQLite files hold
    the same rows in the same order (test_two_workers_build_the_same_city_as_one) but not the
    same pages; under load the bytes differed."""
    outs = []
    for salt in ("1", "2"):
        out = tmp_path / f"run{salt}"
        env = {**os.environ, "PYTHONHASHSEED": salt}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "generate",
                "--people",
                "600",
                "--seed",
                "5",
                "--months",
                "8",
                "--out",
                str(out),
                "--workers",
                "1",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        outs.append(out)
    first, second = (_tree_digest(o) for o in outs)
    assert len(first) > 10
    assert first == second
    mtimes = [
        {p.name: p.stat().st_mtime for p in (o / "inbox" / "evaluation_hcp").iterdir()}
        for o in outs
    ]
    assert mtimes[0] == mtimes[1]


def test_another_seed_gives_another_city(tmp_path):
    from simulator.run import generate_city
    from tests.conftest import small_config

    generate_city(small_config(people=300, seed=1, months=3), tmp_path / "a")
    generate_city(small_config(people=300, seed=2, months=3), tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "b")


def test_drops_open_and_have_title_and_footer_where_the_spec_puts_them(city):
    drops = sorted((city / "inbox" / "evaluation_hcp").iterdir())
    assert {p.suffix for p in drops} == {".csv", ".xlsx"}
    headers = scan.HCP_HEADERS
    for path in drops:
        assert re.fullmatch(r"好差评_\d{6}\.(csv|xlsx)", path.name)
        month = path.name[4:10]
        if path.suffix == ".csv":
            text = path.read_bytes().decode("gbk")  # raises if not GBK
            assert text.splitlines()[0].split(",") == headers
            assert "\r\n" in text
        else:
            sheet = openpyxl.load_workbook(path).active
            values = list(sheet.iter_rows(values_only=True))
            assert values[0][0] == f"{int(month[:4])}年{int(month[4:])}月政务服务好差评明细"
            assert [str(r) for r in sheet.merged_cells.ranges] == ["A1:H1"]
            assert list(values[1]) == headers
            assert values[-1][0] == "合计"
            assert all(v[0] != "合计" for v in values[2:-1])
        records = scan.read_drop(path)
        assert records
        assert {scan.parse_pjsj(r["PJSJ"]).strftime("%Y%m") for r in records} == {month}


def test_every_timestamp_form_parses_to_the_manifest_value(city):
    truth = {
        (k, d.split("|")[0]): (d.split("|")[1], v)
        for k, d, v in scan.manifest(
            city, "SELECT key, detail, expected FROM defects WHERE defect = 'D10'"
        )
    }
    forms = collections.Counter()
    for path in (city / "inbox" / "evaluation_hcp").iterdir():
        for record in scan.read_drop(path):
            form, expected = truth[(record["PJBH"], path.name)]
            forms[form] += 1
            assert scan.parse_pjsj(record["PJSJ"]).strftime("%Y-%m-%d %H:%M:%S") == expected
    assert set(forms) == {"slash", "dash", "compact", "excel"}


def test_a_month_is_delivered_again_and_the_latest_arrival_is_in_force(city):
    deliveries = scan.manifest(
        city, "SELECT file_name, month, delivered_at, in_force FROM hcp_deliveries"
    )
    months = collections.Counter(m for _, m, _, _ in deliveries)
    assert any(n > 1 for n in months.values())
    in_force = {m: f for f, m, _, flag in deliveries if flag}
    assert in_force == {m: p.name for m, p in scan.drops_in_force(city).items()}


def _identity_values(city):
    for table, column in sorted(IDENTITY_COLUMNS):
        spec = CONTRACT.table(table)
        for row in scan.rows(city, spec.system, table):
            id_type = {"bj_jbxx": row.get("SQRZJLX"), "dzzz_zzxx": row.get("CZZTDMLX")}.get(
                table, "111"
            )
            if row[column] is not None:
                yield table, _key(spec, row), column, id_type, row[column]


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_d4_and_d5_match_an_independent_scan(request, city_name):
    city = request.getfixturevalue(city_name)
    dirty = {"D4": {}, "D5": {}}
    for table, key, column, id_type, value in _identity_values(city):
        if id_type == "111" and not scan.valid_id(value):
            dirty["D4"][(table, key, column)] = value
        elif id_type == "001" and not scan.valid_uscc(value):
            dirty["D5"][(table, key, column)] = value
    for defect, found in dirty.items():
        listed = {
            (t, k, c): (raw, expected)
            for t, k, c, raw, expected in scan.manifest(
                city,
                "SELECT table_name, key, column_name, detail, expected FROM defects "
                "WHERE defect = ?",
                (defect,),
            )
        }
        assert set(found) == set(listed), defect
        outcomes = collections.Counter()
        for where, raw in found.items():
            assert listed[where][0] == raw
            normal = scan.normalise_id(raw)
            ok = scan.valid_id(normal) if defect == "D4" else scan.valid_uscc(normal)
            assert listed[where][1] == (normal if ok else "invalid"), (where, raw)
            outcomes[ok] += 1
        if city_name == "dirty_city":
            assert outcomes[True] > 10 and outcomes[False] > 3, (defect, outcomes)


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_d6_matches_an_independent_scan(request, city_name):
    city = request.getfixturevalue(city_name)
    found = set()
    for row in scan.rows(city, "case_platform", "bj_jbxx"):
        if row["SLSJ"] and row["SLSJ"] < row["SQSJ"]:
            found.add(("bj_jbxx", row["SBLSH"], "SLSJ"))
        if row["BJSJ"] and row["SLSJ"] and row["BJSJ"] < row["SLSJ"]:
            found.add(("bj_jbxx", row["SBLSH"], "BJSJ"))
    for row in scan.rows(city, "case_platform", "bb_jl"):
        if row["SCXYSJ"] and row["SCXYSJ"] < row["QQSJ"]:
            found.add(("bb_jl", row["BBBH"], "SCXYSJ"))
    for path in scan.drops_in_force(city).values():
        for r in scan.read_drop(path):
            if r["ZGWCSJ"] and dt.datetime.fromisoformat(r["ZGWCSJ"]) < scan.parse_pjsj(r["PJSJ"]):
                found.add(("hcp_pj", r["PJBH"], "ZGWCSJ"))
    listed = set(
        scan.manifest(
            city,
            "SELECT table_name, key, column_name FROM defects WHERE defect = 'D6' "
            "AND (table_name <> 'hcp_pj' OR detail LIKE ?)",
            ("%",),
        )
    )
    in_force = {p.name for p in scan.drops_in_force(city).values()}
    listed = {x for x in listed if x[0] != "hcp_pj"} | {
        (t, k, c)
        for t, k, c, d in scan.manifest(
            city,
            "SELECT table_name, key, column_name, detail FROM defects WHERE defect = 'D6' "
            "AND table_name = 'hcp_pj'",
        )
        if d.split("|")[0] in in_force
    }
    assert found == listed
    assert city_name == "city" or len(found) > 10


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_d8_matches_an_independent_scan(request, city_name):
    """References older than the longest late arrival (10 days) must resolve unless listed."""
    city = request.getfixturevalue(city_name)
    settled = scan.clock(city) - dt.timedelta(days=11)
    cases = {r["SBLSH"] for r in scan.rows(city, "case_platform", "bj_jbxx")}
    uses = scan.rows(city, "certificate_library", "dzzz_yyjl")
    found = {str(u["DYBH"]) for u in uses if u["SBLSH"] not in cases and u["DYSJ"] < str(settled)}
    listed = {
        k
        for k in scan.defect_keys(city, "D8", "dzzz_yyjl")
        if next(u for u in uses if str(u["DYBH"]) == k)["DYSJ"] < str(settled)
    }
    assert found == listed
    rated = set()
    for path in scan.drops_in_force(city).values():
        rated |= {r["PJBH"] for r in scan.read_drop(path) if r["SBLSH"] not in cases}
    listed_ratings = {
        k
        for k, d in scan.manifest(
            city, "SELECT key, detail FROM defects WHERE defect = 'D8' AND table_name = 'hcp_pj'"
        )
        if d.split("|")[0] in {p.name for p in scan.drops_in_force(city).values()}
    }
    assert rated == listed_ratings
    assert len(found) + len(rated) > 0


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_d13_matches_an_independent_scan(request, city_name):
    city = request.getfixturevalue(city_name)
    today = scan.clock(city).date().isoformat()
    stale = {
        r["ZZBH"]
        for r in scan.rows(city, "certificate_library", "dzzz_zzxx")
        if r["ZZZT"] == "1" and r["YXQZ"] and r["YXQZ"] < today
    }
    assert stale == scan.defect_keys(city, "D13", "dzzz_zzxx")
    assert stale
    expired = [r for r in scan.rows(city, "certificate_library", "dzzz_zzxx") if r["ZZZT"] == "3"]
    assert expired and all(r["YXQZ"] < today for r in expired)


def test_rare_characters_are_written_byte_exact(dirty_city):
    listed = scan.manifest(
        dirty_city, "SELECT table_name, key, detail FROM defects WHERE defect = 'D14'"
    )
    assert listed
    names = {r["GMSFHM"]: r["XM"] for r in scan.rows(dirty_city, "population_base", "rk_jbxx")}
    for table, key, name in listed:
        if table == "rk_jbxx":
            assert names[key] == name
        with pytest.raises(UnicodeEncodeError):
            name.encode("gbk")


def test_identity_truth_covers_every_record_that_names_someone(city):
    truth = collections.Counter(
        t for (t,) in scan.manifest(city, "SELECT table_name FROM identity_truth")
    )
    cases = scan.rows(city, "case_platform", "bj_jbxx")
    assert truth["bj_jbxx"] == len({r["SBLSH"] for r in cases})
    assert truth["dzzz_zzxx"] == len(
        {r["ZZBH"] for r in scan.rows(city, "certificate_library", "dzzz_zzxx")}
    )
    assert truth["work_orders"] == len(scan.rows(city, "hotline_12345", "work_orders"))
    people = {r["GMSFHM"] for r in scan.rows(city, "population_base", "rk_jbxx")}
    for _table, true_id in scan.manifest(
        city, "SELECT table_name, true_id FROM identity_truth WHERE id_type = '111'"
    ):
        assert scan.valid_id(true_id)
    linked = scan.manifest(city, "SELECT true_id FROM identity_truth WHERE table_name = 'rk_tsqt'")
    assert {t for (t,) in linked} <= people


def test_historical_region_codes_appear_in_identity_numbers_of_older_people(city):
    people = scan.rows(city, "population_base", "rk_jbxx")
    old_codes = [p for p in people if p["GMSFHM"][:4] == "3621"]
    assert old_codes and all(p["CSRQ"] < "1998" for p in old_codes)
    hukou = {p["HJXZQHDM"] for p in people}
    assert not any(code.startswith("3621") for code in hukou)
    assert {"360721", "360727", "360782"} & {p["GMSFHM"][:6] for p in people}


@pytest.mark.parametrize("city_name", ["city", "dirty_city"])
def test_drops_keep_codes_and_keys_except_d7_and_d1(request, city_name):
    city = request.getfixturevalue(city_name)
    codes = {
        "PJQD": CONTRACT.codes["channel"],
        "PJDJ": CONTRACT.codes["rating"],
        "ZGZT": CONTRACT.codes["rectification_status"],
    }
    for path in (city / "inbox" / "evaluation_hcp").iterdir():
        records = scan.read_drop(path)
        bad = {
            (r["PJBH"], c)
            for r in records
            for c, allowed in codes.items()
            if r[c] is not None and str(r[c]) not in allowed
        }
        listed = {
            (k, c)
            for k, c, d in scan.manifest(
                city,
                "SELECT key, column_name, detail FROM defects WHERE defect = 'D7' "
                "AND table_name = 'hcp_pj'",
            )
            if d.split("|")[0] == path.name
        }
        assert bad == listed, path.name
        counts = collections.Counter(r["PJBH"] for r in records)
        repeated = {k for k, n in counts.items() if n > 1}
        dups = {
            k
            for k, d in scan.manifest(
                city,
                "SELECT key, detail FROM defects WHERE defect = 'D1' AND table_name = 'hcp_pj'",
            )
            if d.split("|")[0] == path.name
        }
        assert repeated == dups, path.name


def _table_digests(city: Path) -> dict[str, tuple[int, str]]:
    """Every table's rows as a multiset (order-free), and the identity truth as the view
    shows it: identity columns are numbered in order of first use, which parallel
    workers change."""
    digests = {}
    for path in sorted(city.rglob("*.sqlite")):
        conn = sqlite3.connect(path)
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT IN ('identity_columns', 'identity_records') ORDER BY name"
        ).fetchall()
        for (name,) in names:
            rows = sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"'))
            text = "\n".join(rows).encode()
            digests[f"{path.relative_to(city)}:{name}"] = (len(rows), hashlib.md5(text).hexdigest())
        conn.close()
    return digests


def _stored_rows(path: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    conn.close()
    return rows


def test_two_workers_build_the_same_city_as_one(tmp_path, monkeypatch):
    """The registries' process takes case days from the back (here the last 40, whatever the
    timing, so that the merge of several parts is exercised): the same rows, in the same
    order, certificate uses numbered as one process numbers them."""
    from simulator import run
    from simulator.run import generate_city
    from tests.conftest import small_config

    monkeypatch.setattr(run, "RESERVED_TAIL_DAYS", 40)
    config = small_config(people=700, seed=9, months=6, drift_column=True)
    generate_city(config, tmp_path / "one", workers=1)
    generate_city(config, tmp_path / "two", workers=2)
    one, two = _table_digests(tmp_path / "one"), _table_digests(tmp_path / "two")
    assert sum(count for count, _ in one.values()) > 10_000
    assert one == two
    for system, table in (("case_platform", "bj_gcxx"), ("certificate_library", "dzzz_yyjl")):
        stored = [
            _stored_rows(tmp_path / name / "exchange" / f"{system}.sqlite", table)
            for name in ("one", "two")
        ]
        assert len(stored[0]) > 300
        assert stored[0] == stored[1], table
    files = [
        {p.relative_to(c) for p in c.rglob("*") if p.is_file()}
        for c in (tmp_path / "one", tmp_path / "two")
    ]
    assert files[0] == files[1]
    assert not (tmp_path / "two" / ".simulator" / "parts").exists()
    for name in files[0]:
        if name.suffix != ".sqlite" and name.name != "city.json":
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_a_city_without_ground_truth_has_the_same_data(tmp_path):
    """`--ground-truth off` (the benchmark's largest city) leaves out only what tests read:
    every exchange table, the hotline store and the drops are the same, after an advance too;
    the manifest keeps its deliveries and changes and records no defect, identity or gap."""
    from dataclasses import replace

    from simulator.run import advance_city, generate_city
    from tests.conftest import small_config

    config = small_config(people=700, seed=9, months=6)
    cities = {"with": tmp_path / "with", "without": tmp_path / "without"}
    generate_city(config, cities["with"], workers=2)
    generate_city(replace(config, ground_truth=False), cities["without"], workers=2)
    for out in cities.values():
        advance_city(out, 1, workers=2)
    digests = {name: _table_digests(out) for name, out in cities.items()}
    data = {k: v for k, v in digests["with"].items() if not k.startswith("manifest")}
    assert sum(count for count, _ in data.values()) > 5_000
    assert {k: v for k, v in digests["without"].items() if not k.startswith("manifest")} == data
    manifest = {k.split(":")[1]: v for k, v in digests["without"].items() if "manifest" in k}
    for table in ("hcp_deliveries", "changes"):
        assert manifest[table] == digests["with"][f"manifest/manifest.sqlite:{table}"]
        assert manifest[table][0] > 0
    for table in ("defects", "data_gaps", "non_residents", "identity_truth"):
        assert manifest[table][0] == 0 and digests["with"][f"manifest/manifest.sqlite:{table}"][0]
    for drop in (cities["with"] / "inbox" / "evaluation_hcp").iterdir():
        other = cities["without"] / "inbox" / "evaluation_hcp" / drop.name
        assert other.read_bytes() == drop.read_bytes()
