"""Import the bundle into Superset and export it back (runs in Superset's environment).

Uses Superset's own commands in an application context: `ImportAssetsCommand` (databases,
datasets, charts and dashboards, each overwritten by UUID, so importing again changes
nothing) and `ExportAssetsCommand`, whose output `dashboards.bundle` normalises.
"""

from __future__ import annotations

from contextlib import contextmanager

from dashboards import bundle


@contextmanager
def superset_context():
    """An application context of the Superset configured by superset/superset_config.py."""
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        yield app


@contextmanager
def as_user(username: str):
    from superset.utils.core import override_user

    from superset import security_manager

    user = security_manager.find_user(username=username)
    if user is None:
        raise LookupError(f"no Superset user {username!r}: run `superset fab create-admin`")
    with override_user(user):
        yield user


def import_bundle(files: dict[str, str], paths: dict[str, str], admin: str) -> None:
    """Import (overwrite by UUID) the bundle with the published files' paths filled in."""
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    with as_user(admin):
        ImportAssetsCommand(bundle.render(files, paths)).run()


def export_assets(admin: str) -> dict[str, str]:
    """Every database, dataset, chart and dashboard, as {path: YAML} (metadata.yaml too)."""
    from superset.commands.export.assets import ExportAssetsCommand

    with as_user(admin):
        return {name: content() for name, content in ExportAssetsCommand().run()}
