"""`make serve` / `make stop` for Airflow: the services start on 127.0.0.1, ask for a login, show
the project's DAGs unpaused even when an earlier run (`make demo`) created them paused, serve
the UI with Beijing time as its default time zone, and `stop` leaves no process behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from groundfloor.settings import PROJECT
from pipeline.assets import SYSTEMS

pytestmark = pytest.mark.integration

EXPECTED_DAGS = {
    *(f"ingest_{system}" for system in SYSTEMS),
    "warehouse",
    "policy_matching",
    "data_sharing",
}
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.serve", command, "--no-superset"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The airflow CLI on the test's Airflow home (pipeline.airflow_setup's settings)."""
    script = (
        "import sys; from pathlib import Path; from pipeline import airflow_setup as a; "
        "a.use_airflow_home(Path(sys.argv[1])); print(a.airflow_cli(*sys.argv[2:]).stdout)"
    )
    command = [sys.executable, "-c", script, env["AIRFLOW_HOME_DIR"], *args]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=True)


def paused_as_after_make_demo(env: dict[str, str]) -> dict[str, bool]:
    """The state `make demo` leaves: the metadata database migrated and every DAG in it,
    paused (as Airflow creates DAGs by default). Each DAG's is_paused."""
    env = {**env, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
    airflow(env, "db", "migrate")
    airflow(env, "dags", "reserialize")
    listed = airflow(env, "dags", "list", "-o", "json", "--columns", "dag_id,is_paused").stdout
    # the JSON follows Airflow's own log lines; the CLI renders booleans as strings
    rows = json.loads(listed[listed.index("[{") :])
    return {d["dag_id"]: str(d["is_paused"]) == "True" for d in rows}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME_DIR": str(tmp / "airflow"),
        "SERVE_RUN_DIR": str(tmp / "run"),
        "AIRFLOW_HTTP_PORT": str(port),
        "AIRFLOW_ADMIN_PASSWORD": "serve-test-password",
        "AIRFLOW_JWT_SECRET": "serve-test-jwt-secret-0123456789",
        "AIRFLOW_API_SECRET_KEY": "serve-test-api-secret",
        "HOTLINE_API_TOKEN": "serve-test-token",
        "CITY_DIR": str(tmp / "no-city"),
    }
    env.pop("AIRFLOW_HOME", None)
    before = paused_as_after_make_demo(env)
    assert {d: before.get(d) for d in EXPECTED_DAGS} == dict.fromkeys(EXPECTED_DAGS, True)
    started = serve_command("start", env)
    pids = {p.stem: int(p.read_text()) for p in (tmp / "run").glob("*.pid")}
    try:
        yield started, f"http://127.0.0.1:{port}", pids, env, tmp
    finally:
        serve_command("stop", env)


def test_start_runs_every_airflow_component_and_prints_the_url(served):
    started, url, pids, _, _ = served
    assert started.returncode == 0, started.stdout + started.stderr
    assert set(pids) == {
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }
    assert url in started.stdout
    assert "serve-test-password" in started.stdout
    # the DAGs the "demo" left paused, said to be unpaused and running
    (unpaused,) = [line for line in started.stdout.splitlines() if "unpaused" in line]
    assert set(unpaused.split(": ", 1)[1].split(", ")) == EXPECTED_DAGS
    assert "DAGs running on their schedules" in started.stdout
    # the documentation sites as URLs (or how to build them), never relative paths
    docs = [line for line in started.stdout.splitlines() if line.startswith(("dbt docs", "Data"))]
    assert len(docs) == 2
    assert all("file:///" in line or "make demo" in line for line in docs)


def test_the_api_listens_on_localhost_only_and_needs_a_login(served):
    _, url, _, _, _ = served
    assert httpx.get(f"{url}/api/v2/dags", timeout=10).status_code == 401
    bad = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": "wrong"})
    assert bad.status_code == 401
    port = url.rsplit(":", 1)[1]
    lines = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    listening = [f.split()[3] for f in lines.splitlines() if f.split()[3].endswith(f":{port}")]
    assert listening == [f"127.0.0.1:{port}"]


def test_the_project_dags_are_visible_and_unpaused(served):
    _, url, _, _, _ = served
    token = httpx.post(
        f"{url}/auth/token", json={"username": "admin", "password": "serve-test-password"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    dags = {}
    for _ in range(90):  # the DAG processor parses the folder shortly after it starts
        body = httpx.get(f"{url}/api/v2/dags", headers=headers, timeout=10).json()
        dags = {d["dag_id"]: d for d in body["dags"]}
        if set(dags) >= EXPECTED_DAGS:
            break
        time.sleep(2)
    assert set(dags) >= EXPECTED_DAGS
    assert {d: dags[d]["is_paused"] for d in EXPECTED_DAGS} == dict.fromkeys(EXPECTED_DAGS, False)


def test_the_ui_shows_beijing_time_by_default(served):
    """Airflow 3's UI shows the browser's time zone (UTC here) unless one is stored in the
    browser: a browser in UTC that never chose one gets Asia/Shanghai, a choice is kept."""
    from playwright import sync_api

    _, url, _, _, _ = served
    page_html = httpx.get(f"{url}/", timeout=10, follow_redirects=True).text
    assert 'localStorage.setItem("timezone","\\"Asia/Shanghai\\"")' in page_html
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run `make browser`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(timezone_id="UTC")
        page.goto(f"{url}/")
        page.wait_for_load_state("networkidle")  # the UI sends a visitor on to its login page
        assert page.evaluate("localStorage.getItem('timezone')") == '"Asia/Shanghai"'
        page.evaluate("localStorage.setItem('timezone', JSON.stringify('Europe/Paris'))")
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("localStorage.getItem('timezone')") == '"Europe/Paris"'
        browser.close()


def test_stop_leaves_no_process_behind(served):
    _, _, pids, env, tmp = served
    stopped = serve_command("stop", env)
    assert stopped.returncode == 0
    assert not any(group_alive(pid) for pid in pids.values())
    assert list(Path(tmp / "run").glob("*.pid")) == []
