"""Roles, row-level security and demo accounts (not part of Superset bundles).

Created through Superset's security manager in the same run as the import, idempotently:
each role is rebuilt from Gamma's permissions plus what it may read, each RLS rule is
found by name and updated.

- `leader`: every dashboard and dataset, no SQL Lab.
- `data_officer`: every dataset, and SQL Lab on both databases.
- `district_<code>` (one per district and county of contract.regions.current_city_districts):
  the datasets of the leaders' and supervision dashboards, only the rows of its region.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REGION_COLUMN = "region_code"
# City-wide marts without a region column: a district role sees none of their rows.
CITY_WIDE_ONLY = {"one_thing_bundles_monthly"}
# Datasets every role may see whole (no personal or regional figures).
UNRESTRICTED = {"snapshot_info"}


@dataclass(frozen=True)
class District:
    code: str
    name: str

    @property
    def role(self) -> str:
        return f"district_{self.code}"

    @property
    def username(self) -> str:
        return f"district_{self.code}"


CITY_DISTRICTS_SQL = """
    select cast(code as varchar), name from main_reference.gb2260_codes
    where code // 100 = 3607 and code not in (360700, 360701) and last_year is null
    order by code
"""


def districts(published: Path) -> list[District]:
    """The districts and counties of the city in force, from the snapshot's GB/T 2260 table.

    The same rule as contract.regions.current_city_districts (which needs python-stdnum, not
    installed in Superset's environment); a test checks that both give the same list.
    """
    import duckdb

    with duckdb.connect(str(published), read_only=True) as conn:
        return [District(code, name) for code, name in conn.execute(CITY_DISTRICTS_SQL).fetchall()]


def gamma_permissions(sm) -> list:
    return list(sm.find_role("Gamma").permissions)


def sql_lab_permissions(sm) -> list:
    return list(sm.find_role("sql_lab").permissions)


def permission(sm, name: str, view: str):
    found = sm.add_permission_view_menu(name, view)
    if found is None:
        raise LookupError(f"no permission {name} on {view}")
    return found


def set_role(sm, name: str, permissions: list):
    """Create the role or replace its permissions (so that importing again is a no-op)."""
    from superset import db

    role = sm.find_role(name) or sm.add_role(name)
    wanted = {p.id: p for p in permissions}
    if {p.id for p in role.permissions} != wanted.keys():
        role.permissions = list(wanted.values())
        db.session.flush()
    return role


def datasets_by_name() -> dict:
    from superset.connectors.sqla.models import SqlaTable

    from superset import db

    return {t.table_name: t for t in db.session.query(SqlaTable).all()}


def set_rls(name: str, role, tables: list, clause: str, description: str) -> None:
    from superset.connectors.sqla.models import RowLevelSecurityFilter

    from superset import db

    rule = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
    if rule is None:
        rule = RowLevelSecurityFilter(name=name)
        db.session.add(rule)
    rule.filter_type = "Regular"
    rule.description = description
    rule.clause = clause
    rule.group_key = None
    if {r.id for r in rule.roles} != {role.id}:
        rule.roles = [role]
    if {t.id for t in rule.tables} != {t.id for t in tables}:
        rule.tables = tables
    db.session.flush()


def regional_datasets(tables: dict) -> list:
    return [t for t in tables.values() if REGION_COLUMN in {c.column_name for c in t.columns}]


def district_datasets(tables: dict) -> list:
    names = {t.table_name for t in regional_datasets(tables)} | CITY_WIDE_ONLY | UNRESTRICTED
    return [tables[n] for n in sorted(names) if n in tables]


def create_roles(sm, published: Path) -> dict[str, object]:
    gamma = gamma_permissions(sm)
    everything = permission(sm, "all_datasource_access", "all_datasource_access")
    # SQL Lab queries a database, not a dataset: the data officer may query both.
    databases = permission(sm, "all_database_access", "all_database_access")
    sql_lab = [*sql_lab_permissions(sm), databases]
    roles = {
        "leader": set_role(sm, "leader", [*gamma, everything]),
        "data_officer": set_role(sm, "data_officer", [*gamma, *sql_lab, everything]),
    }
    tables = datasets_by_name()
    readable = [permission(sm, "datasource_access", t.perm) for t in district_datasets(tables)]
    for district in districts(published):
        role = set_role(sm, district.role, [*gamma, *readable])
        roles[district.role] = role
        set_district_rls(district, role, tables)
    return roles


def set_district_rls(district: District, role, tables: dict) -> None:
    set_rls(
        f"{district.role}_rows",
        role,
        regional_datasets(tables),
        f"{REGION_COLUMN} = '{district.code}'",
        f"{district.name}: only its own region's rows",
    )
    city_wide = [tables[n] for n in sorted(CITY_WIDE_ONLY) if n in tables]
    set_rls(
        f"{district.role}_no_city_wide",
        role,
        city_wide,
        "1 = 0",
        f"{district.name}: marts without a region column are city-wide, not shown",
    )


def ensure_user(sm, username: str, role, password: str) -> None:
    from superset import db

    user = sm.find_user(username=username)
    if user is None:
        sm.add_user(username, username, "demo", f"{username}@example.invalid", role, password)
        return
    if [r.id for r in user.roles] != [role.id]:
        user.roles = [role]
        db.session.flush()


def create_demo_users(sm, roles: dict, password: str) -> list[str]:
    """One account per role (`leader`, `data_officer`, `district_<code>`), same password."""
    for name, role in roles.items():
        ensure_user(sm, name, role, password)
    return list(roles)


def apply_access(published: Path, demo_password: str | None) -> list[str]:
    """Roles, RLS rules and (when a demo password is set) demo users; the role names."""
    from superset import db, security_manager

    roles = create_roles(security_manager, published)
    if demo_password:
        create_demo_users(security_manager, roles, demo_password)
    db.session.commit()
    return sorted(roles)
