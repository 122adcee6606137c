"""`make officer-screenshots`: the policy officer's desk (issue 35) in pictures, from the demo
city that `make demo` built and published.

    .venv/bin/python -m pipeline.screenshots [--out docs/screenshots] [--only approval|payout]

- `approval-airflow.png`: the matching DAG's approval step (`approve_run`, Airflow 3's
  human-in-the-loop form) in Airflow's UI. An Airflow of its own (temporary home, metadata
  database, random login, a free port of 127.0.0.1; only `policy_matching` unpaused) runs
  `policy_matching` for the demo city's date against a fresh, temporary operations store, so
  the run's matches are new, pending, and the run parks at the approval step. The form is
  opened logged in, in Debian's chromium, and photographed; then everything started here is
  stopped. The demo's own ledger, push lists and published files are not touched.
- `benefits-payout.png`: the 免申即享看板 with K23 and the median days to pay. The demo's own
  approvals are stamped with the wall clock, after every simulated payment, so on the demo
  store K23 is empty (docs/matching.md). Here a copy of the demo's operations store is given
  the bureau's own approvals of the demo city, as the simulator recorded them
  (`manifest/manifest.sqlite`, table `payouts`: the city's ground truth, read as a file, the
  simulator is not imported), the matching step's payout computation is run on it for the
  city's date, and the dashboard is photographed from that copy (`make dashboards-screenshots`'
  own Superset; the tags view is the demo's own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dashboards.browser import BROWSER_ARGS, CHROMIUM
from dashboards.screenshots import SCREENSHOTS, free_port, published_files
from dashboards.screenshots import screenshots as dashboard_screenshots
from groundfloor.settings import environment, identity_key, matching_paths
from pipeline.approval import APPROVAL_TASK, MATCHING_DAG
from pipeline.demo import city_date

APPROVAL_PNG = "approval-airflow.png"
PAYOUT_SUFFIX = "-payout"


def city_dir() -> Path:
    return Path(environment().get("CITY_DIR", "data/city"))


# ------------------------------------------------------------------ the approval step
def isolated_airflow(tmp: Path) -> dict[str, str]:
    """The environment of an Airflow of its own in `tmp`, writing its matching results there."""
    return {
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_hex(12),
        "AIRFLOW_JWT_SECRET": secrets.token_hex(24),
        "AIRFLOW_API_SECRET_KEY": secrets.token_hex(24),
        "AIRFLOW_HTTP_PORT": str(free_port()),
        "BIND_ADDRESS": "127.0.0.1",
        "OPERATIONS_STORE": str(tmp / "operations.duckdb"),
        "PUSH_DIR": str(tmp / "push"),
        "PUBLISHED_OPERATIONS": str(tmp / "published-operations.duckdb"),
        "SERVE_RUN_DIR": str(tmp / "run"),
    }


def wait_until(what: str, probe, seconds: float, logs: Path):
    """`probe()`'s first truthy answer; an error naming `what` and the logs after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if found := probe():
                return found
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise SystemExit(f"{what} did not happen within {seconds:.0f} s; logs in {logs}")


def park_a_run(base: str, login: tuple[str, str], day: dt.date, logs: Path) -> tuple[str, str]:
    """Trigger policy_matching for `day` and wait until it parks at the approval step;
    (the run id, a JWT of the admin)."""
    token = wait_until(
        "Airflow's login",
        lambda: httpx.post(
            f"{base}/auth/token", json={"username": login[0], "password": login[1]}, timeout=10
        ).json()["access_token"],
        300,
        logs,
    )
    api = httpx.Client(base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token}"})
    dag = f"/dags/{MATCHING_DAG}"
    wait_until("parsing policy_matching", lambda: api.get(dag).status_code == 200, 600, logs)
    api.patch(dag, json={"is_paused": False}).raise_for_status()
    run_id = f"officer_screenshot__{day}"
    api.post(
        f"{dag}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": f"{day}T00:00:00+08:00"},
    ).raise_for_status()

    def parked() -> bool:
        state = api.get(f"{dag}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}").json()["state"]
        if state in ("skipped", "failed", "upstream_failed", "success"):
            raise SystemExit(f"approve_run ended {state} instead of waiting; logs in {logs}")
        return state == "awaiting_input"

    wait_until("the run parking at approve_run", parked, 1200, logs)
    return run_id, token


def photograph_approval(base: str, token: str, run_id: str, png: Path) -> None:
    """The approval form of the parked run, logged in (the UI's own JWT cookie)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        context.add_cookies([{"name": "_token", "value": token, "url": base}])
        page = context.new_page()
        page.goto(
            f"{base}/dags/{MATCHING_DAG}/runs/{run_id}/tasks/{APPROVAL_TASK}/required_actions"
        )
        # the form: the subject, the run's body and the two options
        page.get_by_text("免申即享 审批").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Approve").first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def approval_screenshot(out: Path) -> Path:
    from pipeline import serve
    from pipeline.airflow_setup import migrate_and_create_pool, use_airflow_home

    published_files()  # the demo has run
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian chromium is missing: run `make browser`")
    day = city_date(city_dir())
    with tempfile.TemporaryDirectory(prefix="officer-shots-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.update(isolated_airflow(tmp))
        home, run_dir = tmp / "airflow", tmp / "run"
        use_airflow_home(home)
        migrate_and_create_pool()
        settings = serve.serve_settings()
        try:
            for service in serve.airflow_services(home, settings):
                # only policy_matching is unpaused (below): no other DAG runs on the demo city
                service.env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
                serve.start(service, run_dir)
            base = f"http://{settings.host}:{settings.airflow_port}"
            login = (settings.airflow_admin, settings.airflow_admin_password)
            run_id, token = park_a_run(base, login, day, run_dir)
            shot = tmp / APPROVAL_PNG
            photograph_approval(base, token, run_id, shot)
        finally:
            serve.stop_all(run_dir)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out / APPROVAL_PNG)
    return out / APPROVAL_PNG


# ------------------------------------------------------------------ the payout views
def pseudonym(kind: str, number: str) -> str:
    """The warehouse's pseudonymous key (dbt_project/macros/pseudonyms.sql)."""
    return hashlib.sha256(f"{identity_key()}|{kind}|{number}".encode()).hexdigest()[:32]


def bureau_approvals(city: Path, on: dt.date) -> list[tuple]:
    """The bureau's approvals of the city made by `on` (simulator's manifest, table payouts),
    as approved ledger rows: (policy, type, key, period, amount, approved_on)."""
    conn = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    try:
        rows = conn.execute(
            "select policy, period, subject, subject_type, amount, approved_on from payouts"
        ).fetchall()
    finally:
        conn.close()
    approvals = []
    for code, period, subject, kind, amount, approved in rows:
        if dt.date.fromisoformat(approved) > on:
            continue
        subject_type = "enterprise" if kind == "001" else "person"
        key = pseudonym(subject_type, subject)
        approvals.append((code, subject_type, key, period, amount, approved))
    return approvals


def payout_store(tmp: Path, day: dt.date) -> Path:
    """A published copy of the demo's operations store whose ledger holds the bureau's
    approvals, with the payout rows the matching step computes from them for `day`."""
    from groundfloor.settings import Settings
    from matching.payout import record_payout
    from matching.store import open_store
    from quality.runner import publish_operations

    operations = tmp / "operations.duckdb"
    shutil.copyfile(matching_paths()[0], operations)
    approvals = bureau_approvals(city_dir(), day)
    store = open_store(operations)
    try:
        store.executemany(
            """insert into match_ledger (policy_code, subject_type, subject_key, period,
                policy_version, amount_yuan, explanation_json, explanation_zh, evaluation_date,
                warehouse_snapshot_id, run_id, recorded_at, status, decided_by, decided_at,
                decided_via)
            values (?, ?, ?, ?, 'bureau', ?, '{}', '', ?, 'bureau', 'bureau', ?, 'approved',
                '市数据局', ?, 'cli')
            on conflict do nothing""",
            [(c, t, k, p, a, on, on, f"{on} 10:00:00") for c, t, k, p, a, on in approvals],
        )
    finally:
        store.close()
    rows = record_payout(Settings.load().warehouse, operations, day)
    if not rows:
        raise SystemExit("no payout rows from the bureau's approvals of the demo city")
    return publish_operations(operations, tmp / "published" / "operations.duckdb")


def payout_screenshot(out: Path) -> list[str]:
    published_files()
    day = city_date(city_dir())
    with tempfile.TemporaryDirectory(prefix="payout-shots-") as tmp:
        operations = payout_store(Path(tmp), day)
        return dashboard_screenshots(out, operations, ("benefits",), PAYOUT_SUFFIX)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    parser.add_argument("--only", choices=("approval", "payout"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    taken = []
    if args.only in (None, "payout"):
        taken += [str(out / name) for name in payout_screenshot(out)]
    if args.only in (None, "approval"):
        taken.append(str(approval_screenshot(out)))
    print(json.dumps(taken, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
