"""The dashboards in a browser (Playwright driving Debian's chromium, never a browser Playwright
downloads): log in, open a dashboard and each of its tabs, wait until every chart has drawn,
screenshot. Shared by the browser tests and `make dashboards-screenshots`; runs in the
project's environment (.venv), not Superset's."""

from __future__ import annotations

import contextlib
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
CHART_STATES = """() => Array.from(
    document.querySelectorAll('[data-test="chart-grid-component"]')).map(c => ({
  name: c.getAttribute('data-test-chart-name'),
  loading: !!c.querySelector('[data-test="loading-indicator"]'),
  error: !!c.querySelector('.ant-alert-error, [role="alert"], [data-test="error-tooltip"]'),
  empty: !!c.querySelector('[data-test="empty-state"]'),
  content: !!c.querySelector('canvas, table tbody tr, .kpi-tile, .asof, .header-line'),
  text: c.innerText,
  visible: c.offsetParent !== null && c.getBoundingClientRect().height > 0,
})).filter(c => c.visible)"""
SETTLED = (
    f"() => {{ const shown = ({CHART_STATES})(); return shown.length > 0 && "
    "shown.every(c => !c.loading && (c.content || c.error || c.empty)); }"
)
SLUGS = {
    "effectiveness": "政务服务效能看板",
    "data-quality": "数据质量看板",
    "benefits": "免申即享看板",
    "supervision": "电子监察看板",
    "action_lists": "行动清单看板",
    "sharing_usage": "数据共享用量看板",
}


def logged_in(browser, url: str, username: str, password: str):
    """A page logged in as `username` (the login form may still re-render when first typed
    into right after the server started: try again then)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    for _ in range(3):
        page.goto(f"{url}/login/")
        page.wait_for_load_state("networkidle")
        page.locator("[data-test=username-input]").fill(username)
        page.locator("[data-test=password-input]").fill(password)
        page.locator("[data-test=password-input]").press("Enter")
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_url(lambda at: "/login" not in at, timeout=15_000)
            return page
    raise AssertionError(f"could not log in as {username}")


def settle(page) -> list[dict]:
    """Each visible chart's state once all have drawn (or after 90 s: the caller says which
    one did not)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(SETTLED, timeout=90_000)
    return page.evaluate(CHART_STATES)


def render_dashboard(page, url: str, slug: str, shots: Path) -> dict[str, dict]:
    """Open the dashboard and every tab of it; each chart's state, a screenshot per tab
    (`<slug>.png`, or `<slug>-<n>.png` for a dashboard with tabs) in `shots`."""
    page.goto(f"{url}/superset/dashboard/{slug}/")
    page.wait_for_selector('[data-test="chart-grid-component"]', timeout=60_000)
    tabs = page.locator('[data-test="dashboard-component-tabs"] [role="tab"]')
    states = {}
    for i in range(max(tabs.count(), 1)):
        if tabs.count():
            tabs.nth(i).click()
            page.wait_for_timeout(500)  # the previous tab's charts leave the view
        shown = settle(page)
        if not shown:  # the grid never showed a chart (seen once: a blank page kept as a shot)
            blank = {"error": False, "empty": True, "content": False}
            shown = [{"name": f"{slug}, tab {i + 1}: no chart shown", **blank}]
        states |= {c["name"]: c for c in shown}
        name = f"{slug}-{i + 1}.png" if tabs.count() > 1 else f"{slug}.png"
        page.wait_for_timeout(1500)  # ECharts' drawing animation
        page.screenshot(path=str(shots / name), full_page=True)
    return states


def native_filters_param(selections: list[tuple[str, str, str]]) -> str:
    """The `native_filters` URL parameter (rison) that opens a dashboard with its native
    select filters set: (filter id, column, value) each, as a link to a filtered view."""
    from urllib.parse import quote

    def text(value: str) -> str:
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"

    parts = [
        f"{fid}:(extraFormData:(filters:!((col:{column},op:IN,val:!({text(value)})))),"
        f"filterState:(label:{text(value)},value:!({text(value)})),id:{fid},ownState:())"
        for fid, column, value in selections
    ]
    return "native_filters=" + quote("(" + ",".join(parts) + ")")


def not_drawn(states: dict[str, dict]) -> dict[str, dict]:
    """The charts that show an error, nothing, or no content."""
    return {n: s for n, s in states.items() if s["error"] or s["empty"] or not s["content"]}
