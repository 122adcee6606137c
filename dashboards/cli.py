"""Command line of the dashboards (run with Superset's environment, .venv-superset):

python -m dashboards init      # metadata database, admin account, Superset's own roles
python -m dashboards import    # init, then the bundle, roles, RLS and demo accounts
python -m dashboards export [--to DIR]  # assets back into dashboards/bundle (normalised)
python -m dashboards serve [--host H] [--port N]  # gunicorn, 127.0.0.1:SUPERSET_HTTP_PORT
python -m dashboards accounts [--show-passwords]  # the demo accounts and their roles
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from dashboards import bundle

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT / "superset" / "superset_config.py"


def superset_environment() -> None:
    """Point Superset at the project's configuration (before it is imported)."""
    os.environ.setdefault("SUPERSET_CONFIG_PATH", str(CONFIG))
    os.environ.setdefault("FLASK_APP", "superset.app:create_app()")
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))


def superset_command(*args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("superset")
    done = subprocess.run([str(executable), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"superset {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done


def settings():
    from groundfloor.settings import ensure_superset_dotenv, superset_settings

    written = ensure_superset_dotenv()
    if written:
        print(f".env: generated {', '.join(written)}")
    return superset_settings()


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def init(config) -> None:
    path = sqlite_path(config.metadata_uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    superset_command("db", "upgrade")
    if not admin_exists(config.admin_username):
        superset_command(
            "fab", "create-admin", "--username", config.admin_username,
            "--firstname", "管理员", "--lastname", "admin",
            "--email", f"{config.admin_username}@example.invalid",
            "--password", config.admin_password,
        )  # fmt: skip
    superset_command("init")
    print(f"superset metadata ready: {config.metadata_uri}")


def admin_exists(username: str) -> bool:
    from dashboards.assets import superset_context

    with superset_context():
        from superset import security_manager

        return security_manager.find_user(username=username) is not None


def published_paths(config) -> dict[str, str]:
    """The published files the bundle's databases read; the snapshot must exist."""
    if not config.published.exists():
        sys.exit(f"no published snapshot at {config.published}: run `make build` first")
    if not config.published_operations.exists():
        print(
            f"warning: no published operations store at {config.published_operations} yet: "
            "the quality and 免申即享 dashboards stay empty until the quality step publishes it"
        )
    if not config.published_sharing_usage.exists():
        print(
            f"warning: no published sharing usage at {config.published_sharing_usage} yet: "
            "the 数据共享用量看板 stays empty until the 回流 step publishes it"
        )
    return bundle.placeholders(
        config.published, config.published_operations, config.published_sharing_usage
    )


def import_all(config) -> None:
    from dashboards.access import apply_access
    from dashboards.assets import import_bundle, superset_context

    paths = published_paths(config)
    with superset_context():
        import_bundle(bundle.read_bundle(), paths, config.admin_username)
        roles = apply_access(config.published, config.demo_password)
    print(f"imported {bundle.BUNDLE.relative_to(PROJECT)}; roles: {', '.join(roles)}")


def export_all(config, root: Path) -> None:
    from dashboards.assets import export_assets, superset_context

    with superset_context():
        exported = export_assets(config.admin_username)
    paths = bundle.placeholders(
        config.published, config.published_operations, config.published_sharing_usage
    )
    files = bundle.normalise_export(exported, paths, bundle.read_bundle())
    changed = bundle.write_bundle(files, root)
    print(f"exported to {root}: {len(changed)} file(s) changed")
    for name in changed:
        print(f"  {name}")


def serve(config, host: str | None, port: int | None) -> None:
    """Replace this process by gunicorn serving Superset: two single-threaded workers.

    One worker with four threads (what STACK.md measured) once hung every thread of the
    worker while a district's dashboard tab fired 13 chart queries at once (intermittent,
    cause not pinned down; DuckDB alone did not reproduce it); two workers of one thread each
    never share a process between concurrent DuckDB queries."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    bind = f"{host or config.host}:{port or config.port}"
    path = [str(PROJECT), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    print(f"superset on http://{bind}", flush=True)
    os.execv(gunicorn, [
        gunicorn, "-w", "2", "--threads", "1", "-k", "gthread", "--timeout", "120",
        "--bind", bind, "superset.app:create_app()",
    ])  # fmt: skip


def accounts(config, show_passwords: bool) -> None:
    """The accounts `import` creates: admin, leader, data_officer, one per district."""
    from dashboards.access import districts

    demo = config.demo_password if show_passwords else "SUPERSET_DEMO_PASSWORD in .env"
    admin = config.admin_password if show_passwords else "SUPERSET_ADMIN_PASSWORD in .env"
    print(f"{config.admin_username:<16} Admin（管理员）  password: {admin}")
    print(f"{'leader':<16} leader（领导，全部看板，无 SQL Lab）  password: {demo}")
    print(f"{'data_officer':<16} data_officer（数据官，含 SQL Lab）  password: {demo}")
    if config.published.exists():
        for district in districts(config.published):
            print(f"{district.username:<16} {district.name}（仅本区县数据）  password: {demo}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dashboards")
    parser.add_argument("command", choices=["init", "import", "export", "serve", "accounts"])
    parser.add_argument("--to", type=Path, default=bundle.BUNDLE, help="export: target folder")
    parser.add_argument("--host", default=None, help="serve: address (SUPERSET_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="serve: port (SUPERSET_HTTP_PORT)")
    parser.add_argument("--show-passwords", action="store_true", help="accounts: print them")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    superset_environment()
    config = settings()
    if args.command == "init":
        init(config)
    elif args.command == "import":
        init(config)
        import_all(config)
    elif args.command == "export":
        export_all(config, args.to)
    elif args.command == "accounts":
        accounts(config, args.show_passwords)
    else:
        serve(config, args.host, args.port)
