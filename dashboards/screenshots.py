"""`make dashboards-screenshots`: the README's screenshots, taken from what the pipeline
published for the demo city (`make demo` first), never from a test fixture or stand-in rows.

    .venv/bin/python -m dashboards.screenshots [--out docs/screenshots]

Reads the published snapshot, operations store and sharing usage exactly as `make serve`'s
Superset does, but through a Superset of its own: a throwaway metadata database and random
passwords in a temporary directory, the bundle imported into it, served on a free port of
127.0.0.1, every dashboard opened as the leader in Debian's chromium, every chart checked to
have drawn before the screenshots are kept. Runs in the project's environment (.venv); Superset
runs in its own (.venv-superset) as subprocesses.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dashboards.browser import (
    BROWSER_ARGS,
    CHROMIUM,
    SLUGS,
    logged_in,
    native_filters_param,
    not_drawn,
    render_dashboard,
    settle,
)
from groundfloor.settings import PROJECT, Settings, quality_paths, sharing_settings

SUPERSET_PYTHON = PROJECT / ".venv-superset" / "bin" / "python"
SCREENSHOTS = PROJECT / "docs" / "screenshots"


def published_files() -> tuple[Path, Path, Path]:
    """The pipeline's published snapshot, operations store and sharing usage; an error naming
    `make demo` when the pipeline has not produced them."""
    warehouse, operations = Settings.load().published.resolve(), quality_paths()[1].resolve()
    usage = sharing_settings().published_usage.resolve()
    missing = [str(p) for p in (warehouse, operations, usage) if not p.exists()]
    if missing:
        raise SystemExit(f"not published yet: {', '.join(missing)}; run `make demo` first")
    return warehouse, operations, usage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def superset_env(tmp: Path, warehouse: Path, operations: Path, usage: Path) -> dict[str, str]:
    """A Superset of its own reading the pipeline's published files."""
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "SUPERSET_METADATA_URI": f"sqlite:///{tmp / 'superset.db'}",
        "SUPERSET_SECRET_KEY": secrets.token_hex(24),
        "SUPERSET_ADMIN_USERNAME": "admin",
        "SUPERSET_ADMIN_PASSWORD": secrets.token_hex(12),
        "SUPERSET_DEMO_PASSWORD": secrets.token_hex(12),
        "PUBLISHED_WAREHOUSE": str(warehouse),
        "PUBLISHED_OPERATIONS": str(operations),
        "PUBLISHED_SHARING_USAGE": str(usage),
        "SUPERSET_HOST": "127.0.0.1",
        "SUPERSET_HTTP_PORT": str(free_port()),
        "REDIS_HOST": "",
    }


def dashboards_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(SUPERSET_PYTHON), "-m", "dashboards", *args],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        raise SystemExit(f"dashboards {args[0]} failed:\n{output}")


def wait_for_health(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("superset exited before answering")
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "OK":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"superset did not answer on {url}")


def busiest_district(operations: Path) -> str | None:
    """The name of the district with the most K2 decisions in K2's latest month."""
    import duckdb

    with duckdb.connect(str(operations), read_only=True) as conn:
        found = conn.execute(
            "select region_name from kpi_monthly_as_reported where kpi_id = 'K2' "
            "and region_code not in ('ALL', 'unknown') and month = "
            "(select max(month) from kpi_monthly_as_reported where kpi_id = 'K2') "
            "group by region_name order by sum(denominator) desc limit 1"
        ).fetchone()
    return found[0] if found else None


def drill_down(page, url: str, shots: Path, district: str) -> str:
    """The 政务服务效能看板 with its 区县 filter set to `district` (a leader's drill-down)."""
    import yaml

    from dashboards.bundle import BUNDLE

    dashboard = yaml.safe_load((BUNDLE / "dashboards" / "effectiveness.yaml").read_text("utf-8"))
    (region,) = [
        f["id"] for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "区县"
    ]
    query = native_filters_param([(region, "region_name", district)])
    page.goto(f"{url}/superset/dashboard/effectiveness/?{query}")
    page.wait_for_selector('[data-test="chart-grid-component"]', timeout=60_000)
    # a tile may be empty here (the item KPIs K15–K18 have no district; a district may have
    # no row of a KPI), never in error
    if bad := [c["name"] for c in settle(page) if c["error"]]:
        raise SystemExit(f"drill-down: charts in error: {', '.join(sorted(bad))}")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "effectiveness-drill.png"), full_page=True)
    return "effectiveness-drill.png"


def take(url: str, env: dict[str, str], shots: Path, slugs=tuple(SLUGS)) -> list[str]:
    """Every dashboard as the leader; the screenshots' names. Fails when a chart has not
    drawn, so that no screenshot of a broken dashboard is kept."""
    from playwright import sync_api

    taken: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = logged_in(browser, url, "leader", env["SUPERSET_DEMO_PASSWORD"])
        # a cold server's first dashboard on a busy machine may take minutes to show its grid
        page.goto(f"{url}/superset/dashboard/{slugs[0]}/")
        page.wait_for_selector('[data-test="chart-grid-component"]', timeout=300_000)
        for slug in slugs:
            states = render_dashboard(page, url, slug, shots)
            if bad := not_drawn(states):
                raise SystemExit(f"{slug}: charts not drawn: {', '.join(sorted(bad))}")
            taken += sorted(p.name for p in shots.glob(f"{slug}*.png"))
        district = busiest_district(Path(env["PUBLISHED_OPERATIONS"]))
        if "effectiveness" in slugs and district:
            taken.append(drill_down(page, url, shots, district))
        browser.close()
    return taken


def screenshots(
    out: Path, operations: Path | None = None, slugs=tuple(SLUGS), suffix: str = ""
) -> list[str]:
    """The dashboards `slugs` into `out`; `operations` in place of the published operations
    store (the officer's payout views, pipeline/screenshots.py), `suffix` added to the names."""
    warehouse, published_operations, usage = published_files()
    operations = operations or published_operations
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian chromium is missing: run `make browser`")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        tmp_path = Path(tmp)
        env = superset_env(tmp_path, warehouse, operations, usage)
        dashboards_cli(env, "import")
        url = f"http://127.0.0.1:{env['SUPERSET_HTTP_PORT']}"
        with (tmp_path / "superset.log").open("w") as log:
            server = subprocess.Popen(
                [str(SUPERSET_PYTHON), "-m", "dashboards", "serve"],
                cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                wait_for_health(url, server)
                shots = tmp_path / "shots"
                shots.mkdir()
                taken = take(url, env, shots, slugs)
            finally:
                server.terminate()
                server.wait(timeout=60)
        # only a complete, checked set replaces the old one
        out.mkdir(parents=True, exist_ok=True)
        named = [name.replace(".png", f"{suffix}.png") for name in taken]
        for name, kept in zip(taken, named, strict=True):
            shutil.copyfile(shots / name, out / kept)
    return named


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    out = parser.parse_args(argv).out.resolve()
    taken = screenshots(out)
    print(f"{len(taken)} screenshots from the published demo city in {out}:")
    for name in taken:
        print(f"  {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
