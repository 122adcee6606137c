"""`python -m simulator.demo --out DIR`: one screen on what the demo city's systems hold.

It reads the generated city, starts the hotline API on 127.0.0.1 for a moment to show that
it answers, and stops it again.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import threading
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from contract import load_contract
from simulator.hotline_server import make_server
from simulator.hotline_store import store_path
from simulator.run import read_city


def _system_table(out: Path, counts: dict[str, int]) -> Table:
    table = Table(title="部门系统 departmental systems")
    for column in ("system", "系统", "table", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for system in load_contract().systems.values():
        for name in system.tables:
            rows = counts.get(name, counts.get("hcp_files") if name == "hcp_pj" else None)
            shown = (
                f"{rows:,}" + (" files" if name == "hcp_pj" else "") if rows is not None else "-"
            )
            table.add_row(system.name, system.name_zh.split(" (")[0], name, shown)
    return table


def _defect_table(out: Path) -> Table:
    conn = sqlite3.connect(out / "manifest" / "manifest.sqlite")
    rows = conn.execute(
        "SELECT defect, COUNT(*), COUNT(DISTINCT table_name) FROM defects GROUP BY defect "
        "ORDER BY CAST(SUBSTR(defect, 2) AS INTEGER)"
    ).fetchall()
    conn.close()
    table = Table(title="injected defects (ground truth in manifest/manifest.sqlite)")
    table.add_column("defect")
    table.add_column("occurrences", justify="right")
    table.add_column("tables", justify="right")
    for defect, count, tables in rows:
        table.add_row(defect, f"{count:,}", str(tables))
    return table


def _probe_hotline(out: Path) -> str:
    token = secrets.token_hex(8)
    server = make_server(store_path(out), port=0, token=token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        reply = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/work-orders",
            params={"page": 1, "page_size": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        first = reply["items"][0] if reply["items"] else {}
        return (
            f"hotline API answered on 127.0.0.1:{port}: {reply['total']:,} work orders, "
            f"first {first.get('gdbh')} updated {first.get('updated_at')}"
        )
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/city"))
    args = parser.parse_args(argv)
    summary = read_city(args.out)
    console = Console()
    config = summary["config"]
    console.print(
        f"[bold]赣州市 (360700) demo city[/bold]: {config['people']:,} people, "
        f"seed {config['seed']}, data from {config['start']} to {summary['clock']}"
    )
    console.print(_system_table(args.out, summary["counts"]))
    console.print(_defect_table(args.out))
    console.print(_probe_hotline(args.out))
    console.print(
        f"exchange databases: {args.out / 'exchange'}; 好差评 inbox: "
        f"{args.out / 'inbox' / 'evaluation_hcp'}; ground truth: "
        f"{args.out / 'manifest' / 'manifest.sqlite'}"
    )
    console.print("next: `python -m simulator advance --out DIR --days 1` moves the city on a day")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
