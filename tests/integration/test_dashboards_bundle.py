"""The Superset bundle on the simulator's test city: imported into a fresh metadata database
(twice: nothing changes), exported back unchanged, every chart answering through the chart
data API, the leaders' tiles equal to the KPI mart, a district seeing only its district,
publishing while charts are queried, and every dashboard rendered in Debian's chromium.

Superset runs in its own environment (.venv-superset) as subprocesses of the test: the
import and export commands, and `python -m dashboards serve` on a free port.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

from dashboards import bundle
from dashboards.browser import (
    BROWSER_ARGS,
    CHROMIUM,
    SLUGS,
    native_filters_param,
    not_drawn,
    render_dashboard,
    settle,
)
from dashboards.browser import logged_in as browser_logged_in
from dashboards.screenshots import superset_env, wait_for_health
from matching.engine import evaluate
from matching.payout import record_payout
from matching.tags import evaluate_tags
from quality.runner import run_quality
from sharing.backflow import deliver_all
from sharing.snapshot import SnapshotReader
from sharing.store import Store
from sharing.usage import publish_usage
from tests.integration import scan
from tests.integration.dbt_city import warehouse_copy
from tests.integration.payout_city import record_approvals
from tests.integration.sharing_city import build_city_snapshot, demo_registry, running_service
from transform.dbt import build, run_dbt
from transform.publish import publish

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
SUPERSET_PYTHON = PROJECT / ".venv-superset" / "bin" / "python"


# ------------------------------------------------------------------ the site under test
@dataclass
class Site:
    env: dict[str, str]
    warehouse: Path
    published: Path
    usage: SharingUsage
    metadata: Path
    as_of: dt.date
    tmp: Path

    def password(self, username: str) -> str:
        if username == "admin":
            return self.env["SUPERSET_ADMIN_PASSWORD"]
        return self.env["SUPERSET_DEMO_PASSWORD"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['SUPERSET_HTTP_PORT']}"


def supervision_later(warehouse: Path, as_of: dt.date) -> None:
    """The test city's open cases are all within their deadline on its last day (the demo
    city has overdue ones): rebuild the 电子监察 mart three weeks on, as a supervisor would
    see it if none of them were completed, so that its charts have rows to show."""
    later = as_of + dt.timedelta(days=21)
    run_dbt(warehouse, "run", "--select", "overdue_cases", as_of=later, target="ci", capture=True)


@dataclass
class SharingUsage:
    """The sharing service's usage published as the pipeline publishes it, and what made it."""

    published: Path
    people: list
    answered_verifications: int
    refusals: dict[str, int]
    deliveries: int


def sharing_usage(tmp: Path) -> SharingUsage:
    """The sharing test city's service over real HTTP: verifications answered (found and not
    found), a query, refusals (wrong key, a field outside the grant, another district's
    resident); 回流 delivered; the audit log counted and published (sharing/usage.py)."""
    home = tmp / "sharing"
    home.mkdir()
    snapshot, people, _ = build_city_snapshot(home)
    url = f"sqlite:///{home / 'store.db'}"
    store = Store(url)
    store.create()
    catalogue, consumers, grants = demo_registry()
    store.load_registry(consumers, grants)
    keys = {c.id: store.issue_key(c.id).secret for c in consumers}
    zgq = [p for p in people if p.region == "360702"]
    other = next(p for p in people if p.region != "360702")
    with (
        running_service(url, snapshot, home / "service.log", workers=1) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        answers = [
            client.post(
                "/v1/verify/identity",
                json={"identity_number": p.number, "name": p.name},
                headers={"X-API-Key": keys["gaj"]},
            ).status_code
            for p in people[:4]
        ]
        client.get(
            f"/v1/persons/{zgq[0].number}",
            params={"fields": "name,age"},
            headers={"X-API-Key": keys["zgq"]},
        ).raise_for_status()
        refused = [
            client.get(f"/v1/persons/{zgq[1].number}", params={"fields": "mobile_phone"},
                       headers={"X-API-Key": keys["mzj"]}).status_code,
            client.get(f"/v1/persons/{other.number}", params={"fields": "age"},
                       headers={"X-API-Key": keys["zgq"]}).status_code,
            client.post("/v1/verify/identity", json={"identity_number": people[0].number,
                        "name": people[0].name}, headers={"X-API-Key": "wrong"}).status_code,
        ]  # fmt: skip
    assert answers == [200] * 4 and refused == [403, 403, 401]
    delivered = deliver_all(store, catalogue, SnapshotReader(snapshot), home / "backflow", TODAY)
    target = tmp / "published" / "sharing_usage.duckdb"
    assert publish_usage(store, target) == 8
    store.dispose()
    return SharingUsage(target, people, 4, {"密钥无效或缺失": 1, "字段超出授权": 1,
                        "超出授权区划": 1}, len(delivered))  # fmt: skip


TODAY = dt.date.today()


@pytest.fixture(scope="module")
def site(ingested, tmp_path_factory) -> Site:
    """The test city built by dbt, published, matched and quality-checked, its operations store
    published."""
    # `make test` installs Superset's environment: its absence is a broken setup, not a skip
    if not SUPERSET_PYTHON.exists():
        pytest.fail("Superset's environment is missing: run `make install`")
    city, source = ingested
    tmp = tmp_path_factory.mktemp("dashboards")
    warehouse = warehouse_copy(source, tmp)
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    supervision_later(warehouse, as_of)
    published = publish(warehouse, tmp / "published" / "warehouse.duckdb", as_of).path
    evaluate(as_of, warehouse, tmp / "operations.duckdb", tmp / "push")
    # the officer's views: the bureau's approvals of the city (its ground truth) followed to
    # their payments (K23), and the tags, as the matching DAG's tags_and_payout step writes them
    record_approvals(city, tmp / "operations.duckdb", as_of)
    record_payout(warehouse, tmp / "operations.duckdb", as_of)
    evaluate_tags(warehouse, tmp / "operations.duckdb", as_of)
    operations = tmp / "published" / "operations.duckdb"
    # the real quality step, for two days so that the 数据质量看板 has a trend; each run
    # publishes the operations store (results, scorecard, matching) as the pipeline does
    for day in (as_of - dt.timedelta(days=1), as_of):
        run_quality(warehouse, day, operations_store=tmp / "operations.duckdb",
                    published_operations=operations, docs_dir=tmp / "quality")  # fmt: skip
    close_and_alert(tmp, published, operations, as_of + dt.timedelta(days=1))
    usage = sharing_usage(tmp)
    env = superset_env(tmp, published, operations, usage.published)
    return Site(env, warehouse, published, usage, tmp / "superset.db", as_of, tmp)


def close_and_alert(tmp: Path, published: Path, operations: Path, day: dt.date) -> None:
    """The warehouse DAG's last two tasks after publish, for the run of `day`: the monthly
    close (every month whose close day has passed) and the KPI alerts, both publishing the
    operations store."""
    from pipeline import tasks

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLISHED_WAREHOUSE", str(published))
        patch.setenv("OPERATIONS_STORE", str(tmp / "operations.duckdb"))
        patch.setenv("PUBLISHED_OPERATIONS", str(operations))
        for name in ("ALERT_WEBHOOK_URL", "ALERT_SMTP_HOST", "CLOSE_WORKDAY"):
            patch.delenv(name, raising=False)
        tasks.close_months(day)
        tasks.kpi_alerts(day)


def run_dashboards(site: Site, *args: str) -> str:
    """`python -m dashboards ...` in Superset's environment; its output."""
    done = subprocess.run(
        [str(SUPERSET_PYTHON), "-m", "dashboards", *args],
        cwd=PROJECT, env=site.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


VOLATILE = {"created_on", "changed_on", "last_login", "login_count", "fail_login_count"}
# Link tables: Superset rewrites a dashboard's chart links on import (new surrogate ids, the
# same pairs), so only the pairs are compared.
LINKS = {
    "dashboard_slices", "ab_permission_view_role", "rls_filter_roles", "rls_filter_tables",
    "ab_user_role",
}  # fmt: skip
METADATA_TABLES = (
    "dbs", "tables", "table_columns", "sql_metrics", "slices", "dashboards", "dashboard_slices",
    "ab_role", "ab_permission_view_role", "row_level_security_filters", "rls_filter_roles",
    "rls_filter_tables", "ab_user", "ab_user_role",
)  # fmt: skip


def metadata_state(path: Path) -> dict[str, list[dict]]:
    """Every row of the tables the import writes, without timestamps."""
    state = {}
    with sqlite3.connect(path) as conn:
        for table in METADATA_TABLES:
            columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
            kept = [c for c in columns if c not in VOLATILE | ({"id"} if table in LINKS else set())]
            quoted = ", ".join(f'"{c}"' for c in kept)
            rows = conn.execute(f"select {quoted} from {table}")
            state[table] = sorted((dict(zip(kept, row, strict=True)) for row in rows), key=repr)
    return state


@pytest.fixture(scope="module")
def imported(site: Site) -> dict[str, list[dict]]:
    run_dashboards(site, "import")
    return metadata_state(site.metadata)


@pytest.fixture(scope="module")
def server(site: Site, imported) -> Iterator[str]:
    """`python -m dashboards serve` on a free port; stopped after the module."""
    log = (site.tmp / "superset.log").open("w")
    process = subprocess.Popen(
        [str(SUPERSET_PYTHON), "-m", "dashboards", "serve"],
        cwd=PROJECT, env=site.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_health(site.url, process)
        yield site.url
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


class Api:
    """Superset's REST API as one user (JWT from /api/v1/security/login)."""

    def __init__(self, url: str, username: str, password: str):
        self.client = httpx.Client(base_url=url, timeout=120)
        login = self.client.post(
            "/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
        )
        login.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = self.client.get("/api/v1/security/csrf_token/").json()["result"]
        self.client.headers.update({"X-CSRFToken": csrf, "Referer": f"{url}/"})

    def charts(self) -> dict[str, int]:
        found = self.client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()
        return {c["slice_name"]: c["id"] for c in found["result"]}

    def chart_response(self, chart_id: int) -> httpx.Response:
        return self.client.get(f"/api/v1/chart/{chart_id}/data/")

    def rows(self, chart_id: int) -> list[dict]:
        response = self.chart_response(chart_id)
        assert response.status_code == 200, response.text[:500]
        return response.json()["result"][0]["data"]


def api(site: Site, username: str) -> Api:
    return Api(site.url, username, site.password(username))


def chart_names() -> list[str]:
    charts = bundle.documents(bundle.read_bundle(), "charts")
    return sorted(doc["slice_name"] for doc in charts.values())


# ------------------------------------------------------------------ import and export
def test_import_into_a_fresh_metadata_database(site, imported):
    files = bundle.read_bundle()
    assert len(imported["dbs"]) == 3
    assert len(imported["tables"]) == len(bundle.documents(files, "datasets"))
    assert len(imported["slices"]) == len(bundle.documents(files, "charts"))
    assert len(imported["dashboards"]) == 6
    roles = {row["name"] for row in imported["ab_role"]}
    districts = {d.role for d in access_districts(site.published)}
    assert len(districts) == 18
    assert {"Admin", "leader", "data_officer", *districts} <= roles
    users = {row["username"] for row in imported["ab_user"]}
    assert users == {"admin", "leader", "data_officer", *districts}


def access_districts(published: Path):
    from dashboards.access import districts

    return districts(published)


def test_importing_again_changes_nothing(site, imported):
    run_dashboards(site, "import")
    assert metadata_state(site.metadata) == imported


def test_export_gives_back_the_bundle_unchanged(site, imported):
    target = site.tmp / "export"
    run_dashboards(site, "export", "--to", str(target))
    assert bundle.read_bundle(target) == bundle.read_bundle()


def test_districts_are_the_contract_districts(site):
    from contract.regions import current_city_districts

    expected = [(r.code, r.name) for r in current_city_districts()]
    assert [(d.code, d.name) for d in access_districts(site.published)] == expected


# ------------------------------------------------------------------ chart data
def test_every_chart_returns_rows_through_the_chart_data_api(site, server):
    admin = api(site, "admin")
    charts = admin.charts()
    assert sorted(charts) == chart_names()
    counts = {name: len(admin.rows(chart_id)) for name, chart_id in charts.items()}
    assert {name: n for name, n in counts.items() if n == 0} == {}


def kpi_ratio(published: Path, kpi: str, month_offset: int, region: str = "ALL") -> float | None:
    """SUM(numerator) / SUM(denominator) of the KPI mart for a region (ALL: the city's roll-up)
    in the KPI's latest month (month_offset 0) or the month before (-1)."""
    with duckdb.connect(str(published), read_only=True) as conn:
        return conn.execute(
            """
            select sum(numerator) / nullif(sum(denominator), 0)
            from main_marts.kpi_monthly
            where kpi_id = $kpi and region_code = $region
              and month = (select max(month) from main_marts.kpi_monthly where kpi_id = $kpi)
                  + to_months($offset)
            """,
            {"kpi": kpi, "region": region, "offset": month_offset},
        ).fetchone()[0]


def kpi_target(published: Path, kpi: str) -> tuple[float | None, str]:
    """The KPI's target (None when monitored) and its `better` direction."""
    with duckdb.connect(str(published), read_only=True) as conn:
        sql = "select target, better from main_reference.kpi_targets where kpi_id = ?"
        target, better = conn.execute(sql, [kpi]).fetchone()
        return (None if target is None else float(target)), better


KPIS = [f"K{k}" for k in range(1, 23)]
ITEM_KPIS = ("K15", "K16", "K17", "K18")  # city rows only: no district sees them


def tile_rows(client: Api, kpis: list[str] = KPIS) -> dict[str, dict]:
    charts = client.charts()
    tiles = {}
    for kpi in kpis:
        (name,) = [n for n in charts if n.startswith(f"{kpi} ") and "趋势" not in n]
        (tiles[kpi],) = client.rows(charts[name])
    return tiles


def test_leaders_tiles_equal_the_kpi_mart(site, server):
    tiles = tile_rows(api(site, "leader"))
    for kpi, row in tiles.items():
        latest, previous = kpi_ratio(site.published, kpi, 0), kpi_ratio(site.published, kpi, -1)
        assert row["latest_rate"] == pytest.approx(latest), kpi
        assert row["previous_rate"] == pytest.approx(previous), kpi
        target, better = kpi_target(site.published, kpi)
        assert row["kpi_target"] == (None if target is None else pytest.approx(target)), kpi
        assert row["latest_pct"] == pytest.approx(round(100 * latest, 1)), kpi
        # the tile's colour follows the KPI's `better` direction (kpis.md v2)
        if target is None:
            state = "none"
        else:
            met = latest <= target if better == "lower" else latest >= target
            state = "met" if met else "missed"
        assert row["target_state"] == state, kpi
        # 环比 in words: "—" with the reason when a month has no denominator (K9 often)
        if previous is None:
            assert row["change_text"] == "—（上月无分母，无法比较）", kpi
        elif latest is None:
            assert row["change_text"] == "—（本月无分母，无法比较）", kpi
        else:
            assert row["change_text"] == f"{round(100 * latest - 100 * previous, 1)} 个百分点"
        # the latest month is 未结账 unless the close has recorded it
        latest_month = kpi_latest_month(site.published, kpi)
        closed = latest_month in closed_months(site)
        assert row["close_mark"] == ("已结账" if closed else "未结账"), kpi


def kpi_latest_month(published: Path, kpi: str) -> dt.date:
    with duckdb.connect(str(published), read_only=True) as conn:
        sql = "select max(month) from main_marts.kpi_monthly where kpi_id = ?"
        return conn.execute(sql, [kpi]).fetchone()[0]


def closed_months(site: Site) -> set[dt.date]:
    with duckdb.connect(str(site.tmp / "operations.duckdb"), read_only=True) as conn:
        return {m for (m,) in conn.execute("select month from kpi_closes").fetchall()}


def test_the_close_charts_show_the_reported_values_and_the_open_month(site, server):
    """结账与重述: each closed month at the values recorded on its close (city: the sum over
    regions of the store's reported rows), marked 已结账; the latest month 未结账."""
    leader = api(site, "leader")
    charts = leader.charts()
    ops = site.tmp / "operations.duckdb"
    with duckdb.connect(str(ops), read_only=True) as conn:
        closed = dict(conn.execute("select month, closed_on from kpi_closes").fetchall())
        reported = {
            (month, label): num / den if den else None
            for month, label, num, den in conn.execute(
                "select strftime(month, '%Y年%m月'), kpi_id || ' ' || kpi_name_zh, "
                "sum(numerator), sum(denominator) from kpi_reported "
                "where region_code = 'ALL' group by all"
            ).fetchall()
        }
    assert closed
    status = {r["month_text"]: (r["close_status"], r["closed_on_text"])
              for r in leader.rows(charts["结账状态（按月）"])}  # fmt: skip
    assert {m for m, (s, _) in status.items() if s == "已结账"} == {f"{m:%Y年%m月}" for m in closed}
    assert {s for m, (s, _) in status.items() if f"{site.as_of:%Y年%m月}" == m} == {"未结账"}
    rows = leader.rows(charts["重述对照：报告值与当前值（全市）"])
    shown = {(r["month_text"], r["kpi_label"]): r["reported_rate"] for r in rows}
    assert set(shown) == set(reported)
    for key, value in reported.items():
        assert shown[key] == (None if value is None else pytest.approx(value)), key
    assert {r["restated_mark"] for r in rows} == {"—"}  # nothing moved since the close


def test_the_quality_dashboard_lists_the_kpi_alerts(site, server):
    officer = api(site, "data_officer")
    rows = officer.rows(officer.charts()["告警列表"])
    with duckdb.connect(str(site.tmp / "operations.duckdb"), read_only=True) as conn:
        raised = [m for (m,) in conn.execute("select message from kpi_alerts").fetchall()]
    assert raised
    assert sorted(r["message"] for r in rows if r["kind"] == "KPI 告警") == sorted(raised)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in str(text))


def test_the_near_miss_chart_names_every_field_in_chinese(site, server):
    admin = api(site, "admin")
    rows = admin.rows(admin.charts()["差一点符合：缺少的条件字段（最新一次）"])
    labels = {row["missing_field_label"] for row in rows}
    assert labels
    assert {label for label in labels if not has_chinese(label)} == set()


def test_departments_and_items_are_shown_by_their_chinese_names(site, server):
    """电子监察 and the department ranking show 赣州市公安局, not GA; the list of cases shows
    the item's name with its code beside it."""
    admin = api(site, "admin")
    charts = admin.charts()
    for chart in ("各部门超期与临近到期件数", "部门排名（最新月）"):
        names = {row["department_name"] for row in admin.rows(charts[chart])}
        assert names and {n for n in names if not has_chinese(n)} == set(), chart
    listed = admin.rows(charts["超期与临近到期办件清单"])
    assert listed
    assert all(has_chinese(r["department_name"]) and has_chinese(r["item_name"]) for r in listed)
    assert all(r["item_code"] and not has_chinese(r["item_code"]) for r in listed)


def operations_rows(site: Site, sql: str) -> list[tuple]:
    with duckdb.connect(str(site.env["PUBLISHED_OPERATIONS"]), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_the_payout_charts_show_k23_and_the_median_days_to_pay(site, server):
    """K23 by policy and district is a ratio of sums over the districts' rows; the median days
    to pay are the matching step's own, per policy, district and month of approval."""
    admin = api(site, "admin")
    charts = admin.charts()
    stored = operations_rows(
        site,
        "select policy_code, region_name, sum(paid_within_30_days), sum(approved)"
        " from payout_monthly where region_code is not null group by all",
    )
    assert stored and any(within < approved for *_, within, approved in stored)
    names = {"GXJL": "高新技术企业认定奖励", "XWWG": "稳岗返还", "YEBT": "育儿补贴"}
    expected = {(names[code], region): within / approved
                for code, region, within, approved in stored}  # fmt: skip
    # the chart data API answers the pivot's query: one row per policy and district
    pivot = admin.rows(charts["免申即享兑付率 K23（按政策、区县）"])
    shown = {(r["policy_name"], r["region_name"]): r["payout_rate"] for r in pivot}
    assert shown == pytest.approx(expected)
    listed = admin.rows(charts["审批至兑付天数中位数（按政策、区县、审批月份）"])
    medians = operations_rows(
        site, "select region_name, approved, paid_within_30_days, median_days_to_pay"
        " from payout_monthly",
    )  # fmt: skip
    shown_medians = [
        (r["region_name"], r["approved"], r["paid_within_30_days"], r["median_days_to_pay"])
        for r in listed
    ]
    assert sorted(shown_medians, key=repr) == sorted(medians, key=repr)
    assert any(r["region_name"] == "全市" and r["median_days_to_pay"] for r in listed)


def tag_counts(client: Api) -> dict[tuple[str, str], int]:
    rows = client.rows(client.charts()["千人千面：标签对象数（按标签、区县）"])
    return {(r["tag_name"], r["region_name"]): r["subject_count"] for r in rows}


def test_the_tag_view_counts_each_tag_by_district(site, server):
    stored = operations_rows(site, "select tag_name, region_name, subjects from tag_counts")
    assert {name for name, *_ in stored} >= {"老年人", "残疾人", "新设企业"}
    assert tag_counts(api(site, "admin")) == {(name, region): n for name, region, n in stored}


# ------------------------------------------------------------------ roles
def busiest_district(site: Site):
    """The district with the most cases (K1's denominator) in the latest month."""
    codes = {d.code: d for d in access_districts(site.published)}
    with duckdb.connect(str(site.published), read_only=True) as conn:
        ranked = conn.execute(
            "select region_code from main_marts.kpi_monthly where kpi_id = 'K1' "
            "and month = (select max(month) from main_marts.kpi_monthly where kpi_id = 'K1') "
            "group by 1 order by sum(denominator) desc"
        ).fetchall()
    return next(codes[code] for (code,) in ranked if code in codes)


def test_a_district_sees_only_its_own_district(site, server):
    district = busiest_district(site)
    client = api(site, district.username)
    charts = client.charts()
    assert {r["region_name"] for r in client.rows(charts["区县排名（最新月）"])} == {district.name}
    regional = [k for k in KPIS if k not in ITEM_KPIS]
    k1 = next(rows for name, rows in tile_rows(client, regional).items() if name == "K1")
    assert k1["latest_rate"] == pytest.approx(kpi_ratio(site.published, "K1", 0, district.code))
    # the item KPIs (K15–K18) have no region: a district's row-level security shows none
    for kpi in ITEM_KPIS:
        (name,) = [n for n in charts if n.startswith(f"{kpi} ") and "趋势" not in n]
        assert client.rows(charts[name]) == [], kpi
    # the lists to act on: a district sees its own to-do and hotspots only
    todo = client.rows(charts["差评整改待办清单（15个工作日内整改）"])
    assert {r["region_name"] for r in todo} <= {district.name}
    hotspots = client.rows(charts["12345 热点（每周工单量与突增，未诉先办）"])
    assert hotspots and {r["region_name"] for r in hotspots} == {district.name}
    overdue = client.rows(charts["超期与临近到期办件清单"])
    assert {r["region_name"] for r in overdue} <= {district.name}
    assert client.rows(charts["“一件事”主题（全部月份）"]) == []
    # the tags and K23: its own district's counts only, never the city's 全市 rows
    tags = operations_rows(
        site, f"select tag_name, subjects from tag_counts where region_code = '{district.code}'"
    )
    assert tags and tag_counts(client) == {(n, district.name): c for n, c in tags}
    payout = client.rows(charts["审批至兑付天数中位数（按政策、区县、审批月份）"])
    assert {r["region_name"] for r in payout} <= {district.name}
    seen = {d["dashboard_title"] for d in dashboards(client)}
    assert "数据质量看板" not in seen and "数据共享用量看板" not in seen


def dashboards(client: Api) -> list[dict]:
    return client.client.get("/api/v1/dashboard/", params={"q": "(page_size:100)"}).json()["result"]


def sql_lab_status(client: Api, database_id: int) -> int:
    response = client.client.post(
        "/api/v1/sqllab/execute/",
        json={"database_id": database_id, "sql": "select 1 as one", "runAsync": False},
    )
    return response.status_code


def test_sql_lab_is_closed_to_leaders_and_districts_open_to_data_officers(site, server):
    admin = api(site, "admin")
    databases = admin.client.get("/api/v1/database/").json()["result"]
    warehouse = next(d["id"] for d in databases if "快照" in d["database_name"])
    assert sql_lab_status(api(site, "leader"), warehouse) == 403
    assert sql_lab_status(api(site, busiest_district(site).username), warehouse) == 403
    assert sql_lab_status(api(site, "data_officer"), warehouse) == 200


def test_leaders_see_all_six_dashboards(site, server):
    titles = {d["dashboard_title"] for d in dashboards(api(site, "leader"))}
    assert titles == {
        "政务服务效能看板",
        "数据质量看板",
        "免申即享看板",
        "电子监察看板",
        "行动清单看板",
        "数据共享用量看板",
    }


def test_the_usage_dashboard_counts_the_audit_log_and_shows_no_personal_value(site, server):
    """数据共享用量看板, as the data officer reads it through the chart data API: the counts
    equal what the service was asked, and no identity number, name, phone or subject key of
    the residents it was asked about appears in any chart or in the published file."""
    officer = api(site, "data_officer")
    assert "数据共享用量看板" in {d["dashboard_title"] for d in dashboards(officer)}
    charts = officer.charts()
    verified = officer.rows(charts["核验应答量（每日，按核验类型）"])
    assert [(r["call_name"], r["requests_sum"]) for r in verified] == [
        ("人证一致核验", site.usage.answered_verifications)
    ]
    refused = officer.rows(charts["拒绝与出错（按原因）"])
    by_reason: dict[str, int] = {}
    for row in refused:
        by_reason[row["reason_name"]] = by_reason.get(row["reason_name"], 0) + row["requests_sum"]
    assert by_reason == site.usage.refusals
    delivered = officer.rows(charts["回流交付记录"])
    assert len(delivered) == site.usage.deliveries > 0
    summary = {r["consumer_name"]: r for r in officer.rows(charts["各调用方调用汇总"])}
    assert summary["赣州市公安局"]["requests_sum"] == 4
    assert summary["赣州市公安局"]["refused_share"] == 0
    # nothing of a resident: in any usage chart, nor anywhere in the published file
    usage_charts = ["数据截至（数据共享）", "各调用方每日调用量", "各资源调用量（按结果）",
                    "拒绝与出错（按原因）", "核验应答量（每日，按核验类型）", "各调用方调用汇总",
                    "回流交付记录"]  # fmt: skip
    values = {
        str(v) for name in usage_charts for r in officer.rows(charts[name]) for v in r.values()
    }
    with duckdb.connect(str(site.usage.published), read_only=True) as conn:
        for (table,) in conn.execute("show tables").fetchall():
            for row in conn.execute(f"select * from {table}").fetchall():
                values |= {str(v) for v in row}
    secrets = {x for p in site.usage.people for x in (p.number, p.phone, p.key)}
    assert [v for v in values if any(s in v for s in secrets)] == []
    assert {p.name for p in site.usage.people} & values == set()


# ------------------------------------------------------------------ publishing while serving
def query_until(stop: threading.Event, client: Api, chart_ids: list[int], outcomes: list) -> None:
    while not stop.is_set():
        for chart_id in chart_ids:
            response = client.chart_response(chart_id)
            ok = response.status_code == 200 and response.json()["result"][0]["data"]
            outcomes.append("ok" if ok else f"{response.status_code}: {response.text[:200]}")


def test_publishing_while_charts_are_queried(site, server):
    admin = api(site, "admin")
    charts = admin.charts()
    watched = [charts["数据截至"], charts["K1 网办率"], charts["区县排名（最新月）"]]
    outcomes: list[str] = []
    stop = threading.Event()
    loop = threading.Thread(target=query_until, args=(stop, api(site, "admin"), watched, outcomes))
    loop.start()
    new_as_of = site.as_of + dt.timedelta(days=1)
    try:
        for _ in range(4):
            time.sleep(0.5)
            snapshot = publish(site.warehouse, site.published, new_as_of)
        time.sleep(0.5)
    finally:
        stop.set()
        loop.join(timeout=120)
    assert len(outcomes) >= 6
    assert [o for o in outcomes if o != "ok"] == []
    (row,) = admin.rows(charts["数据截至"])
    assert (row["snapshot_id"], row["as_of_date"]) == (snapshot.snapshot_id, str(new_as_of))


# ------------------------------------------------------------------ in the browser
@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api  # a dev dependency of the locked environment

    # `make test` installs Debian chromium (`make browser`), never a Playwright-downloaded one
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run `make browser`")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


def logged_in(browser, site: Site, username: str):
    return browser_logged_in(browser, site.url, username, site.password(username))


def test_the_leader_sees_every_chart_of_every_dashboard_rendered(site, server, browser):
    page = logged_in(browser, site, "leader")
    on_dashboards = 0
    for slug, title in SLUGS.items():
        # screenshots of the test city stay in tmp: the README's come from the demo city
        states = render_dashboard(page, site.url, slug, site.tmp)
        assert title in page.inner_text("body")
        assert not_drawn(states) == {}, slug
        on_dashboards += len(states)
    assert on_dashboards == len(chart_names())
    page.close()


def test_the_login_page_is_chinese_for_an_english_browser(site, server, browser):
    """Before login, too, the interface is Chinese: the page's texts come from the Chinese
    language pack, whatever language the browser asks for."""
    page = browser.new_page(locale="en-US", extra_http_headers={"Accept-Language": "en-US,en"})
    page.goto(f"{site.url}/login/")
    page.wait_for_load_state("networkidle")
    text = page.inner_text("body")
    assert "用户名" in text and "密码" in text and "请输入用户名和密码" in text
    assert text.replace(" ", "").count("登录") >= 2  # the menu's and the button's
    assert not [w for w in ("Sign in", "Username", "Password", "Not In") if w in text]
    page.close()


def test_a_district_sees_only_its_district_in_the_browser_and_no_sql_lab(site, server, browser):
    district = busiest_district(site)
    page = logged_in(browser, site, district.username)
    page.goto(f"{site.url}/superset/dashboard/effectiveness/")
    page.locator('[data-test="dashboard-component-tabs"] [role="tab"]', has_text="排名").click()
    page.wait_for_timeout(500)
    states = {c["name"]: c for c in settle(page)}
    page.screenshot(path=str(site.tmp / "district-ranking.png"), full_page=True)
    ranking = states["区县排名（最新月）"]["text"]
    others = [d.name for d in access_districts(site.published) if d.code != district.code]
    assert district.name in ranking
    assert [name for name in others if name in ranking] == []
    assert page.goto(f"{site.url}/sqllab/").status == 403
    page.close()


# ------------------------------------------------------------------ drill-down (native filters)
FILTERS = {"月份": "month_text", "区县": "region_name", "部门": "department_name",
           "事项": "item_code", "渠道": "channel_name"}  # fmt: skip


def dataset_ids(client: Api) -> dict[str, int]:
    found = client.client.get("/api/v1/dataset/", params={"q": "(page_size:100)"}).json()
    return {d["table_name"]: d["id"] for d in found["result"]}


def native_filters(client: Api, slug: str) -> list[dict]:
    dashboard = client.client.get(f"/api/v1/dashboard/{slug}").json()["result"]
    return json.loads(dashboard["json_metadata"])["native_filter_configuration"]


def k2_drill_target(site: Site) -> tuple[str, str, str, str]:
    """(district code, its name, department code, its name): the busiest district and, in it,
    the department with the most K2 decisions in K2's latest month."""
    district = busiest_district(site)
    with duckdb.connect(str(site.published), read_only=True) as conn:
        department, name = conn.execute(
            "select k.department, coalesce(d.department_name, k.department) "
            "from main_marts.kpi_monthly as k "
            "left join main_marts.departments as d on d.department_code = k.department "
            "where k.kpi_id = 'K2' and k.region_code = ? "
            "and k.month = (select max(month) from main_marts.kpi_monthly where kpi_id = 'K2') "
            "group by all order by sum(k.denominator) desc, 1 limit 1",
            [district.code],
        ).fetchone()
    return district.code, district.name, department, name


def k2_latest(published: Path, region: str, department: str | None = None) -> float:
    with duckdb.connect(str(published), read_only=True) as conn:
        return conn.execute(
            "select sum(numerator) / sum(denominator) from main_marts.kpi_monthly "
            "where kpi_id = 'K2' and region_code = ? and (? is null or department = ?) "
            "and month = (select max(month) from main_marts.kpi_monthly where kpi_id = 'K2')",
            [region, department, department],
        ).fetchone()[0]


def test_the_effectiveness_dashboard_filters_by_month_region_department_item_and_channel(
    site, server
):
    admin = api(site, "admin")
    reported = dataset_ids(admin)["kpi_as_reported"]
    filters = native_filters(admin, "effectiveness")
    assert {f["name"]: f["targets"][0]["column"]["name"] for f in filters} == FILTERS
    assert {f["targets"][0]["datasetId"] for f in filters} == {reported}
    dashboard = admin.client.get("/api/v1/dashboard/effectiveness").json()["result"]
    assert json.loads(dashboard["json_metadata"])["cross_filters_enabled"] is True


def column_values(client: Api, dataset_id: int, column: str) -> set[str]:
    """The values a native select filter offers: the dashboard asks the chart data API for
    the column's distinct values of the filter's dataset (row-level security applies)."""
    body = {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "form_data": {"datasource": f"{dataset_id}__table", "viz_type": "filter_select"},
        "queries": [
            {"columns": [column], "metrics": [], "filters": [], "orderby": [[column, True]],
             "row_limit": 1000, "extras": {}}
        ],
        "result_format": "json",
        "result_type": "full",
    }  # fmt: skip
    response = client.client.post("/api/v1/chart/data", json=body)
    assert response.status_code == 200, response.text[:300]
    return {r[column] for r in response.json()["result"][0]["data"] if r[column] is not None}


def test_a_district_sees_only_its_district_in_every_filter(site, server):
    code, name, _, _ = k2_drill_target(site)
    district = next(d for d in access_districts(site.published) if d.code == code)
    client = api(site, district.username)
    reported = dataset_ids(api(site, "admin"))["kpi_as_reported"]
    assert column_values(client, reported, "region_name") == {name}
    with duckdb.connect(str(site.tmp / "operations.duckdb"), read_only=True) as conn:
        own = {
            column: {
                v
                for (v,) in conn.execute(
                    f"select distinct {column} from kpi_monthly_as_reported "
                    f"where region_code = ? and {column} is not null",
                    [code],
                ).fetchall()
            }
            for column in ("department_name", "item_code", "month_text")
        }
    for column, values in own.items():
        assert column_values(client, reported, column) == values, column
    every = column_values(api(site, "admin"), reported, "department_name")
    assert own["department_name"] < every  # other districts' departments are not offered


def filtered_tile(client: Api, chart_id: int, filters: list[dict]) -> dict:
    """The tile's row with the dashboard's native filters applied (as the dashboard sends
    them: extra filters in the chart's query)."""
    chart = client.client.get(f"/api/v1/chart/{chart_id}").json()["result"]
    context = json.loads(chart["query_context"])
    for query in context["queries"]:
        query["filters"] = [*query["filters"], *filters]
    response = client.client.post("/api/v1/chart/data", json=context)
    assert response.status_code == 200, response.text[:500]
    (row,) = response.json()["result"][0]["data"]
    return row


def test_the_k2_tile_drills_from_the_city_to_a_district_and_a_department(site, server):
    code, name, department, department_name = k2_drill_target(site)
    leader = api(site, "leader")
    tile = leader.charts()["K2 首办成功率"]
    city = filtered_tile(leader, tile, [])
    assert city["latest_rate"] == pytest.approx(k2_latest(site.published, "ALL"))
    by_region = [{"col": "region_name", "op": "IN", "val": [name]}]
    district = filtered_tile(leader, tile, by_region)
    assert district["latest_rate"] == pytest.approx(k2_latest(site.published, code))
    by_department = [*by_region, {"col": "department_name", "op": "IN", "val": [department_name]}]
    both = filtered_tile(leader, tile, by_department)
    assert both["latest_rate"] == pytest.approx(k2_latest(site.published, code, department))


def tile_percent(page, url: str) -> float:
    """The K2 tile's value as the page shows it (one decimal, "%")."""
    page.goto(url)
    page.wait_for_selector('[data-test-chart-name="K2 首办成功率"] .kpi-value', timeout=60_000)
    settle(page)
    text = page.locator('[data-test-chart-name="K2 首办成功率"] .kpi-value').inner_text()
    assert text.endswith("%"), text
    return float(text[:-1])


def shows(percent: float, rate: float) -> bool:
    """`percent`, shown to one decimal, is `rate`."""
    return abs(percent - 100 * rate) <= 0.05 + 1e-9


def test_the_leader_drills_the_k2_tile_to_a_district_and_a_department_in_the_browser(
    site, server, browser
):
    code, name, department, department_name = k2_drill_target(site)
    ids = {f["name"]: f["id"] for f in native_filters(api(site, "admin"), "effectiveness")}
    page = logged_in(browser, site, "leader")
    base = f"{site.url}/superset/dashboard/effectiveness/"
    assert shows(tile_percent(page, base), k2_latest(site.published, "ALL"))
    region = (ids["区县"], "region_name", name)
    shown = tile_percent(page, f"{base}?{native_filters_param([region])}")
    assert shows(shown, k2_latest(site.published, code))
    page.screenshot(path=str(site.tmp / "drill-district.png"), full_page=True)
    both = [region, (ids["部门"], "department_name", department_name)]
    shown = tile_percent(page, f"{base}?{native_filters_param(both)}")
    assert shows(shown, k2_latest(site.published, code, department))
    page.screenshot(path=str(site.tmp / "drill-department.png"), full_page=True)
    page.close()
