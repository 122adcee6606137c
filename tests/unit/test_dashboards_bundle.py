"""The Superset bundle read as files: every rate a ratio of sums, every dashboard a dbt exposure
(and back), every link by UUID resolved, database URIs templated and read-only, Chinese titles
and a 数据截至 chart on every dashboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dashboards import bundle

PROJECT = Path(__file__).resolve().parents[2]
EXPOSURES = PROJECT / "dbt_project" / "models" / "marts" / "_exposures.yml"
FILES = bundle.read_bundle()
DATASETS = bundle.documents(FILES, "datasets")
CHARTS = bundle.documents(FILES, "charts")
DASHBOARDS = bundle.documents(FILES, "dashboards")
DATABASES = bundle.documents(FILES, "databases")

# Columns holding a rate already computed per row: never aggregated on a dashboard.
STORED_RATES = ("rate", "score", "unexpected_share", "online_case_share", "target")
AGGREGATE = re.compile(r"^(SUM|COUNT)\s*\(", re.IGNORECASE)
# A target is a reference value (one per KPI), not a rate of the data: shown as MAX(target).
TARGET = re.compile(r"^(ROUND\(100\.0 \* )?MAX\(target\)(, 1\))?$")


def group_end(text: str, start: int) -> int:
    """Index just after the parenthesised group opening at `start`."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def group_start(text: str, end: int) -> int:
    """Index of the '(' matching the ')' at `end`."""
    depth = 0
    for i in range(end, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


def split_top(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def aggregate_before(expression: str, slash: int) -> str:
    """The function name of the aggregate just before `slash` (its FILTER clause skipped)."""
    end = len(expression[:slash].rstrip()) - 1
    start = group_start(expression, end)
    head = expression[:start].rstrip()
    if head.upper().endswith("FILTER"):
        end = len(head[: -len("FILTER")].rstrip()) - 1
        start = group_start(expression, end)
        head = expression[:start].rstrip()
    return re.findall(r"(\w+)$", head)[-1].upper() if re.search(r"\w+$", head) else ""


def sums_only(text: str) -> bool:
    """Every term of `text` (joined by +) is a SUM or COUNT aggregate, with optional FILTER."""
    for term in split_top(text, "+"):
        term = term.strip()
        match = AGGREGATE.match(term)
        if not match:
            return False
        rest = term[group_end(term, term.index("(")) :].strip()
        if rest and not re.match(r"^FILTER\s*\(.*\)$", rest, re.IGNORECASE | re.DOTALL):
            return False
    return True


def denominator_after(expression: str, slash: int) -> str | None:
    """The first argument of the NULLIF(..., 0) right after `slash`, or None if it is not one."""
    rest = expression[slash + 1 :].lstrip()
    if not rest.upper().startswith("NULLIF"):
        return None
    open_at = rest.index("(")
    inner = rest[open_at + 1 : group_end(rest, open_at) - 1]
    denominator, zero = split_top(inner, ",")
    return denominator if zero.strip() == "0" else None


def ratio_of_sums_problems(expression: str) -> list[str]:
    """Why `expression` is not a ratio of sums (empty when every division is one)."""
    problems = []
    if re.search(r"\b(AVG|MEDIAN|MEAN|QUANTILE\w*)\s*\(", expression, re.IGNORECASE):
        problems.append("averages")
    for column in STORED_RATES:
        if re.search(rf"\b\w+\s*\(\s*{column}\s*\)", expression) and not TARGET.match(expression):
            problems.append(f"aggregates the stored rate {column}")
    for slash in [m.start() for m in re.finditer("/", expression)]:
        if aggregate_before(expression, slash) not in {"SUM", "COUNT"}:
            problems.append("numerator is not a SUM")
        denominator = denominator_after(expression, slash)
        if denominator is None or not sums_only(denominator):
            problems.append("denominator is not NULLIF(SUM(...), 0)")
    return problems


def is_rate(metric: dict) -> bool:
    return "/" in metric["expression"] or "%" in (metric.get("d3format") or "")


def dataset_metrics() -> list[tuple[str, dict]]:
    return [
        (f"{doc['table_name']}.{m['metric_name']}", m)
        for doc in DATASETS.values()
        for m in doc.get("metrics", [])
    ]


def chart_adhoc_metrics() -> list[tuple[str, dict]]:
    """Metrics defined inside a chart (SQL or simple adhoc metrics), as {expression, d3format}."""
    found = []
    for doc in CHARTS.values():
        params = doc["params"]
        candidates = [*params.get("metrics", []), *params.get("percent_metrics", [])]
        candidates += [params.get(k) for k in ("metric", "timeseries_limit_metric", "x", "y")]
        for metric in candidates:
            if isinstance(metric, dict):
                expression = metric.get("sqlExpression") or (
                    f"{metric.get('aggregate')}({metric.get('column', {}).get('column_name')})"
                )
                found.append((doc["slice_name"], {"expression": expression, "d3format": None}))
    return found


@pytest.mark.parametrize(
    "expression",
    [
        "SUM(numerator) / NULLIF(SUM(denominator), 0)",
        "SUM(numerator) FILTER (WHERE kpi_id = 'K1') / NULLIF(SUM(denominator) FILTER "
        "(WHERE kpi_id = 'K1'), 0)",
        "SUM(already_granted) / NULLIF(SUM(already_granted) + SUM(matches), 0)",
        "ROUND(100.0 * SUM(n) FILTER (WHERE p = 'a') / NULLIF(SUM(d) FILTER (WHERE p = 'a'), 0)"
        " - 100.0 * SUM(n) / NULLIF(SUM(d), 0), 1)",
    ],
)
def test_ratios_of_sums_pass(expression):
    assert ratio_of_sums_problems(expression) == []


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("AVG(rate)", "averages"),
        ("SUM(rate) / NULLIF(COUNT(*), 0)", "aggregates the stored rate rate"),
        ("MAX(score)", "aggregates the stored rate score"),
        ("SUM(numerator) / SUM(denominator)", "denominator is not NULLIF(SUM(...), 0)"),
        ("MAX(numerator) / NULLIF(SUM(denominator), 0)", "numerator is not a SUM"),
        ("SUM(n) / NULLIF(MAX(d), 0)", "denominator is not NULLIF(SUM(...), 0)"),
    ],
)
def test_the_rule_catches_rates_that_are_not_ratios_of_sums(expression, problem):
    assert problem in ratio_of_sums_problems(expression)


def test_every_rate_in_the_bundle_is_a_ratio_of_sums():
    metrics = dataset_metrics() + chart_adhoc_metrics()
    rates = [(name, m) for name, m in metrics if is_rate(m)]
    assert len(rates) >= 20, [name for name, _ in rates]
    offending = {
        name: ratio_of_sums_problems(m["expression"])
        for name, m in rates
        if ratio_of_sums_problems(m["expression"]) and not TARGET.match(m["expression"])
    }
    assert offending == {}


def test_every_dashboard_has_a_dbt_exposure_and_every_exposure_a_dashboard():
    exposures = yaml.safe_load(EXPOSURES.read_text(encoding="utf-8"))["exposures"]
    dashboards = {e["label"] for e in exposures if e["type"] == "dashboard"}
    titles = {doc["dashboard_title"] for doc in DASHBOARDS.values()}
    assert (
        titles
        == dashboards
        == {
            "政务服务效能看板",
            "数据质量看板",
            "免申即享看板",
            "电子监察看板",
            "行动清单看板",
            "数据共享用量看板",
        }
    )


def test_every_link_by_uuid_resolves():
    databases = {doc["uuid"] for doc in DATABASES.values()}
    datasets = {doc["uuid"] for doc in DATASETS.values()}
    charts = {doc["uuid"] for doc in CHARTS.values()}
    assert {doc["database_uuid"] for doc in DATASETS.values()} == databases
    assert {doc["dataset_uuid"] for doc in CHARTS.values()} == datasets
    on_dashboards = [
        node["meta"]["uuid"]
        for doc in DASHBOARDS.values()
        for node in doc["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    ]
    assert set(on_dashboards) == charts
    assert len(on_dashboards) == len(charts)


def test_databases_read_published_files_only_and_read_only():
    uris = sorted(doc["sqlalchemy_uri"] for doc in DATABASES.values())
    assert uris == [
        "duckdb:///${PUBLISHED_OPERATIONS}?access_mode=read_only",
        "duckdb:///${PUBLISHED_SHARING_USAGE}?access_mode=read_only",
        "duckdb:///${PUBLISHED_WAREHOUSE}?access_mode=read_only",
    ]
    assert all(not doc["allow_dml"] and not doc["allow_csv_upload"] for doc in DATABASES.values())


def test_rendering_fills_in_the_published_paths_only():
    paths = bundle.placeholders(
        Path("/srv/p/warehouse.duckdb"),
        Path("/srv/p/operations.duckdb"),
        Path("/srv/p/sharing_usage.duckdb"),
    )
    rendered = bundle.render(FILES, paths)
    uris = sorted(yaml.safe_load(rendered[n])["sqlalchemy_uri"] for n in DATABASES)
    assert uris == [
        "duckdb:////srv/p/operations.duckdb?access_mode=read_only",
        "duckdb:////srv/p/sharing_usage.duckdb?access_mode=read_only",
        "duckdb:////srv/p/warehouse.duckdb?access_mode=read_only",
    ]
    assert {n: t for n, t in rendered.items() if n not in DATABASES} == {
        n: t for n, t in FILES.items() if n not in DATABASES
    }


CJK = re.compile(r"[\u4e00-\u9fff]")


def test_titles_are_chinese_and_every_dashboard_shows_data_as_of():
    assert all(CJK.search(doc["dashboard_title"]) for doc in DASHBOARDS.values())
    assert all(CJK.search(doc["slice_name"]) for doc in CHARTS.values())
    for doc in DASHBOARDS.values():
        names = [
            node["meta"]["sliceName"]
            for node in doc["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        ]
        assert any(name.startswith("数据截至") for name in names), doc["dashboard_title"]


def test_leaders_dashboard_has_a_tile_and_a_trend_per_kpi():
    names = {doc["slice_name"] for doc in CHARTS.values()}
    for k in range(1, 23):
        assert any(n.startswith(f"K{k} ") and "趋势" not in n for n in names), k
        assert any(n.startswith(f"K{k} ") and n.endswith("月度趋势") for n in names), k


def test_kpi_tiles_colour_by_the_better_direction_and_monitored_kpis_have_no_target_line():
    """kpis.md v2: a dashboard uses `better`; a target of "—" is shown without a target line."""
    dataset = next(d for d in DATASETS.values() if d["table_name"] == "kpi_monthly_by_region")
    metrics = {m["metric_name"]: m["expression"] for m in dataset["metrics"]}
    assert "MAX(better) = 'lower'" in metrics["target_state"]
    assert "<=" in metrics["target_state"] and ">=" in metrics["target_state"]
    assert "better" in {c["column_name"] for c in dataset["columns"]}
    # the item KPIs K15–K18 have only city rows: the dataset keeps them
    assert "'K15', 'K16', 'K17', 'K18'" in dataset["sql"]
    dashboard = next(d for d in DASHBOARDS.values() if d["dashboard_title"] == "政务服务效能看板")
    on_dashboard = {
        node["meta"]["uuid"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    for doc in CHARTS.values():
        name = doc["slice_name"]
        kpi = name.split(" ")[0]
        if not re.fullmatch(r"K\d+", kpi):
            continue
        assert doc["uuid"] in on_dashboard, name
        if name.endswith("月度趋势"):
            has_target_line = "kpi_target" in doc["params"]["metrics"]
            assert has_target_line == (kpi not in ("K19", "K20")), name
        else:
            assert "target_state" in doc["params"]["metrics"], name
            assert "kpi-{{target_state}}" in doc["params"]["handlebarsTemplate"], name
            style = doc["params"]["styleTemplate"]
            assert all(f".kpi-{state} {{" in style for state in ("met", "missed", "none")), name


# What the usage dashboard may show: counts of the audit log by day, consumer, call, resource,
# result and reason, and the 回流 deliveries. No subject key, field value, name, number or phone.
USAGE_COLUMNS = {
    "day", "day_text", "consumer_id", "consumer_name", "call", "call_name", "resource",
    "resource_name", "result", "result_name", "status", "reason", "reason_name", "is_refused",
    "is_answered_verification", "requests", "rows_returned", "grant_id", "rows_delivered",
    "published_at", "last_day", "deliveries",
}  # fmt: skip
IDENTIFYING = re.compile(r"subject|person|identity|number|name_digest|phone|mobile|uscc|key_id")


def usage_datasets() -> list[dict]:
    (usage,) = [d["uuid"] for d in DATABASES.values() if "SHARING_USAGE" in d["sqlalchemy_uri"]]
    return [d for d in DATASETS.values() if d["database_uuid"] == usage]


def test_the_usage_dashboard_reads_only_counts_from_the_usage_database():
    """数据共享用量看板: every chart on it reads a dataset of the usage database, whose columns
    are counts and labels only (no L3/L4 field can be among them)."""
    datasets = usage_datasets()
    assert {d["table_name"] for d in datasets} == {
        "sharing_calls", "sharing_deliveries", "sharing_usage_info",
    }  # fmt: skip
    columns = {c["column_name"] for d in datasets for c in d["columns"]}
    assert columns <= USAGE_COLUMNS
    assert [c for c in columns if IDENTIFYING.search(c)] == []
    assert all(CJK.search(c["verbose_name"] or "") for d in datasets for c in d["columns"])
    (dashboard,) = [d for d in DASHBOARDS.values() if d["dashboard_title"] == "数据共享用量看板"]
    on_it = {
        node["meta"]["uuid"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    usage = {d["uuid"] for d in datasets}
    charts = [c for c in CHARTS.values() if c["uuid"] in on_it]
    assert len(charts) == 7
    assert {c["dataset_uuid"] for c in charts} == usage
    assert all(c["description"] and CJK.search(c["description"]) for c in charts)
    # the datasets select named columns of the usage tables, never `*`
    assert all("*" not in d["sql"].replace("COUNT(*)", "") for d in datasets)


def test_the_usage_columns_are_the_ones_sharing_usage_publishes():
    from sharing import usage

    text = Path(usage.__file__).read_text(encoding="utf-8")
    published = set(re.findall(r"(\w+) (?:DATE|VARCHAR|INTEGER|BIGINT)\b", text))
    published |= {"published_at", "last_day", "requests", "deliveries"}
    selected = {c["column_name"] for d in usage_datasets() for c in d["columns"]}
    derived = {"day_text", "is_refused", "is_answered_verification"}
    assert selected - derived <= published
    assert not [c for c in published if IDENTIFYING.search(c)]


def test_the_effectiveness_dashboard_has_native_filters_and_cross_filters():
    """月份, 区县, 部门, 事项, 渠道 on the KPI-as-reported dataset (部门 narrowed by 区县, 事项 by
    部门), cross-filtering on; the month only on the close tab (the tiles compare each KPI's
    latest month with the one before)."""
    dashboard = DASHBOARDS["dashboards/effectiveness.yaml"]
    metadata = dashboard["metadata"]
    assert metadata["cross_filters_enabled"] is True
    reported = DATASETS["datasets/kpi_as_reported.yaml"]
    columns = {c["column_name"] for c in reported["columns"]}
    filters = {f["name"]: f for f in metadata["native_filter_configuration"]}
    wanted = {"月份": "month_text", "区县": "region_name", "部门": "department_name",
              "事项": "item_code", "渠道": "channel_name"}  # fmt: skip
    assert {n: f["targets"][0]["column"]["name"] for n, f in filters.items()} == wanted
    assert set(wanted.values()) <= columns
    assert {f["targets"][0]["datasetUuid"] for f in filters.values()} == {reported["uuid"]}
    assert filters["部门"]["cascadeParentIds"] == [filters["区县"]["id"]]
    assert filters["事项"]["cascadeParentIds"] == [filters["部门"]["id"]]
    tabs = {k for k, node in dashboard["position"].items() if isinstance(node, dict)
            and node.get("type") == "TAB"}  # fmt: skip
    for name, native in filters.items():
        assert set(native["scope"]["rootPath"]) <= tabs, name
    assert filters["月份"]["scope"]["rootPath"] == ["TAB-5"]
