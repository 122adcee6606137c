"""What-if: a draft policy file run on a date before it is published (policies.md v2).

The draft is compiled and evaluated exactly as a run would (engine.scored_sql), in a DuckDB of
its own in memory with the warehouse attached read-only: nothing is written to the ledger or
the operations store. For a draft of a policy that is in force on the date (same code in the
policies folder), the subjects who would gain or lose eligibility are listed against it.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from contract.regions import all_regions
from groundfloor.warehouse import writer_lock
from matching.compiler import compile_policy, sql_text
from matching.engine import DEFAULT_POLICIES, scored_sql
from matching.policy import Policy, load_policies, load_policy
from matching.store import WAREHOUSE_ALIAS

WH = f"{WAREHOUSE_ALIAS}.main_marts"


@dataclass
class WhatIf:
    draft: Policy
    on: dt.date
    period: str
    in_force: Policy | None
    matches: int = 0
    cost: Decimal = Decimal(0)
    by_district: list[tuple[str, str, int, Decimal]] = field(default_factory=list)
    by_tier: list[tuple[Decimal, int, Decimal]] = field(default_factory=list)
    near_misses: list[tuple[str, list[str]]] = field(default_factory=list)
    gains: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    matched_keys: set[str] = field(default_factory=set)


def what_if(
    warehouse: Path, draft_file: Path, on: dt.date, policies_dir: Path = DEFAULT_POLICIES
) -> WhatIf:
    draft = load_policy(draft_file)  # a refused draft raises PolicyError naming the fault
    in_force = policy_in_force(policies_dir, draft.code, on)
    with writer_lock(warehouse, "policy matching: what-if"):
        connection = duckdb.connect()  # in memory: a what-if has nowhere to write
        try:
            connection.execute(
                f"attach {sql_text(str(warehouse.resolve()))} as {WAREHOUSE_ALIAS} (read_only)"
            )
            return _what_if(connection, draft, in_force, on)
        finally:
            connection.close()


def policy_in_force(policies_dir: Path, code: str, on: dt.date) -> Policy | None:
    found = [p for p in load_policies(policies_dir, [code]).policies if p.in_force(on)]
    return found[0] if found else None


def _what_if(connection, draft: Policy, in_force: Policy | None, on: dt.date) -> WhatIf:
    period = draft.period_of(on)
    result = WhatIf(draft, on, period, in_force)
    _score(connection, "draft", draft, on)
    _matched_with_district(connection, draft)
    result.matched_keys = {k for (k,) in connection.execute("select subject_key from m").fetchall()}
    result.matches, cost = connection.execute(
        "select count(*), coalesce(sum(amount), 0) from m"
    ).fetchone()
    result.cost = Decimal(cost)
    names = {r.code: r.name for r in all_regions()}
    result.by_district = [
        (code or "（无）", names.get(code, "本市以外或未知"), n, Decimal(total))
        for code, n, total in connection.execute(
            "select district, count(*), sum(amount) from m group by all order by district"
        ).fetchall()
    ]
    result.by_tier = [
        (Decimal(amount), n, Decimal(total))
        for amount, n, total in connection.execute(
            "select amount, count(*), sum(amount) from m group by all order by amount"
        ).fetchall()
    ]
    result.near_misses = connection.execute(
        """select subject_key, missing_fields from draft
        where status = 'near_miss' and not granted order by subject_key"""
    ).fetchall()
    if in_force is not None:
        _score(connection, "current", in_force, on)
        current = {
            k
            for (k,) in connection.execute(
                "select subject_key from current where status = 'match' and not granted"
            ).fetchall()
        }
        result.gains = sorted(result.matched_keys - current)
        result.losses = sorted(current - result.matched_keys)
    return result


def _score(connection, table: str, policy: Policy, on: dt.date) -> None:
    compiled = compile_policy(policy, on, WH)
    connection.execute(
        f"create or replace temp table {table} as {scored_sql(policy, compiled)}",
        [policy.code, policy.period_of(on)],
    )


def _matched_with_district(connection, policy: Policy) -> None:
    """Temp table m: the draft's matches (eligible, not granted) with their district."""
    if policy.subject == "person":
        source, key, district = "person_file", "person_key", "hukou_region_code"
    else:
        source, key, district = "enterprise_file", "enterprise_key", "region_code"
    connection.execute(
        f"""create or replace temp table m as
        select d.subject_key, d.amount, s.{district} as district
        from draft d join {WH}.{source} s on s.{key} = d.subject_key
        where d.status = 'match' and not d.granted"""
    )


# ---------------------------------------------------------------- the officer's report


def report_sections(result: WhatIf, listed: int = 200) -> list[tuple[str, list[str], list[list]]]:
    """(heading, columns, rows) of each table of the report, shared by Markdown and HTML."""
    sections = [
        (
            "按区县 by district",
            ["区县代码", "区县", "人数/户数", "金额（元）"],
            [[c, n, f"{k:,}", f"{t:,.2f}"] for c, n, k, t in result.by_district],
        ),
        (
            "按金额档 by amount tier",
            ["金额（元）", "人数/户数", "合计（元）"],
            [[f"{a:,.2f}", f"{k:,}", f"{t:,.2f}"] for a, k, t in result.by_tier],
        ),
        (
            f"数据缺失 near misses（前 {listed} 个）",
            ["主体", "缺失字段"],
            [[k, "、".join(f)] for k, f in result.near_misses[:listed]],
        ),
    ]
    if result.in_force is not None:
        sections += [
            (f"新增符合 gains（{len(result.gains)}，前 {listed} 个）", ["主体"],
             [[k] for k in result.gains[:listed]]),
            (f"不再符合 losses（{len(result.losses)}，前 {listed} 个）", ["主体"],
             [[k] for k in result.losses[:listed]]),
        ]  # fmt: skip
    return sections


def headline(result: WhatIf) -> list[str]:
    draft = result.draft
    against = (
        f"对照现行版本 {result.in_force.path.name}（{result.in_force.version[:12]}）"
        if result.in_force
        else "无现行版本（新政策）"
    )
    return [
        f"草案 {draft.path.name}：{draft.code} {draft.name}（{draft.version[:12]}）",
        f"评估日期 E = {result.on}，期间 {result.period}；{against}",
        f"符合 {result.matches:,}，金额合计 {result.cost:,.2f} 元；"
        f"数据缺失 {len(result.near_misses):,}"
        + (
            f"；新增 {len(result.gains):,}，不再符合 {len(result.losses):,}"
            if result.in_force
            else ""
        ),
        "草案试算不写入台账（match ledger）。",
    ]


def markdown(result: WhatIf) -> str:
    lines = [f"# 政策试算 what-if: {result.draft.code}", ""]
    lines += [f"- {line}" for line in headline(result)]
    for heading, columns, rows in report_sections(result):
        lines += ["", f"## {heading}", "", "| " + " | ".join(columns) + " |"]
        lines.append("| " + " | ".join("---" for _ in columns) + " |")
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_report(result: WhatIf) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='zh'><meta charset='utf-8'>",
        f"<title>政策试算 {e(result.draft.code)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 8px}</style>",
        f"<h1>政策试算 what-if: {e(result.draft.code)}</h1><ul>",
        *[f"<li>{e(line)}</li>" for line in headline(result)],
        "</ul>",
    ]
    for heading, columns, rows in report_sections(result):
        parts.append(f"<h2>{e(heading)}</h2><table><tr>")
        parts += [f"<th>{e(c)}</th>" for c in columns]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n</html>\n"


def write_report(result: WhatIf, path: Path) -> Path:
    """Markdown for a `.md` path, HTML otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(result) if path.suffix == ".md" else html_report(result)
    path.write_text(text, encoding="utf-8")
    return path
