"""The sharing usage for data officers (the Superset dashboard reads it): the audit log counted
per day, consumer, call, resource, result and reason, and the 回流 deliveries, published as a
DuckDB file swapped in atomically like the operations store's published copy.

Counts only: no subject key, no field value, no key id leaves the store this way. The
calls, results, reasons and resources carry their Chinese labels (the dashboard shows them):
the labels live here, next to the codes the service writes into the audit log.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from pathlib import Path

import duckdb

from sharing.catalogue import load_catalogue
from sharing.store import Store

CALLS = {
    "verify_identity": "人证一致核验",
    "verify_certificate": "电子证照核验",
    "verify_enterprise": "企业核验",
    "query_person": "个人数据查询",
    "query_enterprise": "企业数据查询",
    "catalogue": "目录查询",
    "access_log": "数据使用记录查询",
}
UNAUTHENTICATED = "（未认证的调用方）"
RESULTS = {"allowed": "已应答", "not_found": "未找到", "denied": "拒绝", "error": "错误"}
REASONS = {
    "unauthenticated": "密钥无效或缺失",
    "rate_limited": "超过调用频率",
    "body_too_large": "请求体过大",
    "invalid_input": "输入无效",
    "invalid_identity_number": "身份号码无效",
    "invalid_uscc": "统一社会信用代码无效",
    "unknown_resource": "资源不存在",
    "unknown_field": "字段不在目录中",
    "not_shared": "资源不予共享",
    "no_grant": "无授权",
    "grant_expired": "授权已过期",
    "certificate_type_not_granted": "证照类型未授权",
    "field_not_granted": "字段超出授权",
    "outside_region": "超出授权区划",
    "citizen_portal_only": "仅限市民门户",
    "not_found": "未找到主体",
    "internal": "服务内部错误",
}


def usage_rows(store: Store) -> tuple[list[tuple], list[tuple]]:
    """(calls, deliveries): calls counted by (day, consumer, call, resource, result, status,
    reason); each 回流 delivery with its day, consumer, grant, resource and rows."""
    names: dict[str, str] = {}
    calls: Counter = Counter()
    rows_of: Counter = Counter()
    deliveries = []
    for record in store.audit_records():
        consumer = record["consumer_id"] or "(unauthenticated)"
        if consumer not in names:
            found = store.consumer(consumer) if record["consumer_id"] else None
            names[consumer] = found.name if found else consumer
        day = record["at"][:10]
        if record["call"] == "backflow":
            deliveries.append(
                (
                    day,
                    consumer,
                    names[consumer],
                    record["grant_id"],
                    record["resource"],
                    record["rows"],
                )
            )
            continue
        reason = (record["detail"] or "").split(":")[0] or None
        key = (day, consumer, names[consumer], record["call"], record["resource"], record["result"],
               record["status"], reason)  # fmt: skip
        calls[key] += 1
        rows_of[key] += record["rows"] or 0
    return [(*key, n, rows_of[key]) for key, n in sorted(calls.items(), key=str)], deliveries


def labelled(calls: list[tuple], deliveries: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The rows with the Chinese names of their call, resource, result and reason (an unknown
    code is shown as itself)."""
    resources = {r.code: r.name for r in load_catalogue().resources}
    calls = [
        (
            *row[:2],
            UNAUTHENTICATED if row[1] == "(unauthenticated)" else row[2],
            row[3],
            CALLS.get(row[3], row[3]),
            row[4],
            resources.get(row[4], row[4] or "（无）"),
            row[5],
            RESULTS.get(row[5], row[5]),
            row[6],
            row[7],
            REASONS.get(row[7], row[7]) if row[7] else None,
            *row[8:],
        )
        for row in calls
    ]
    deliveries = [(*row[:5], resources.get(row[4], row[4]), row[5]) for row in deliveries]
    return calls, deliveries


def publish_usage(store: Store, target: Path) -> int:
    """Write the usage file next to `target` and swap it in; the number of calls counted."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    calls, deliveries = labelled(*usage_rows(store))
    conn = duckdb.connect(str(staging))
    try:
        conn.execute(
            "CREATE TABLE sharing_calls (day DATE, consumer_id VARCHAR, consumer_name VARCHAR, "
            "call VARCHAR, call_name VARCHAR, resource VARCHAR, resource_name VARCHAR, "
            "result VARCHAR, result_name VARCHAR, status INTEGER, reason VARCHAR, "
            "reason_name VARCHAR, requests BIGINT, rows_returned BIGINT)"
        )
        if calls:
            marks = ", ".join("?" * 14)
            conn.executemany(f"INSERT INTO sharing_calls VALUES ({marks})", calls)
        conn.execute(
            "CREATE TABLE sharing_deliveries (day DATE, consumer_id VARCHAR, "
            "consumer_name VARCHAR, grant_id VARCHAR, resource VARCHAR, resource_name VARCHAR, "
            "rows_delivered BIGINT)"
        )
        if deliveries:
            conn.executemany(
                "INSERT INTO sharing_deliveries VALUES (?, ?, ?, ?, ?, ?, ?)", deliveries
            )
        conn.execute(
            "CREATE TABLE sharing_usage_info AS SELECT now()::TIMESTAMP AS published_at, "
            "(SELECT max(day) FROM sharing_calls) AS last_day, "
            "(SELECT coalesce(sum(requests), 0) FROM sharing_calls) AS requests, "
            "(SELECT count(*) FROM sharing_deliveries) AS deliveries"
        )
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    staging.chmod(0o644)  # counts only: readable by Superset
    os.replace(staging, target)
    return sum(row[12] for row in calls)
