"""Typed view of ``spec/sources.yaml``: systems, tables, columns, types and code lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).resolve().parent / "spec"
SOURCES_FILE = SPEC_DIR / "sources.yaml"

_TYPE_PATTERN = re.compile(
    r"^(?:(?P<str>str)\((?P<length>\d+)\)|(?P<dec>dec)\((?P<p>\d+),(?P<s>\d+)\)"
    r"|(?P<code>code)\((?P<codes>\w+)\)|(?P<plain>int|date|ts))$"
)


_DEC_IN_FLOW = re.compile(r"type:\s*dec\((\d+),\s*(\d+)\)")


class ContractError(ValueError):
    """The contract file does not say what the code expects it to say."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # str | int | dec | date | ts | code
    required: bool
    zh: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    code_list: str | None = None
    references: str | None = None

    @property
    def type_text(self) -> str:
        if self.kind == "str":
            return f"str({self.length})"
        if self.kind == "dec":
            return f"dec({self.precision},{self.scale})"
        if self.kind == "code":
            return f"code({self.code_list})"
        return self.kind


@dataclass(frozen=True)
class Table:
    name: str
    system: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.system}.{self.name} has no column {name}")

    @property
    def change_column(self) -> str | None:
        """The column that moves on every insert or update (GXSJ / updated_at), if any."""
        for name in ("GXSJ", "updated_at"):
            if name in self.column_names:
                return name
        return None


@dataclass(frozen=True)
class System:
    name: str
    name_zh: str
    owner: str
    delivery: str
    change: str
    tables: dict[str, Table]
    api: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    headers_zh: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Contract:
    systems: dict[str, System]
    codes: dict[str, dict[str, str]]

    def table(self, name: str) -> Table:
        """A table by its name (table names are unique across systems)."""
        for system in self.systems.values():
            if name in system.tables:
                return system.tables[name]
        raise KeyError(f"no table {name} in the contract")

    def tables(self) -> list[Table]:
        return [t for s in self.systems.values() for t in s.tables.values()]

    def code_values(self, code_list: str) -> set[str]:
        return set(self.codes[code_list])


def parse_type(text: str, where: str) -> dict[str, Any]:
    match = _TYPE_PATTERN.match(text.replace(" ", ""))
    if not match:
        raise ContractError(f"{where}: unknown type {text!r}")
    if match["str"]:
        return {"kind": "str", "length": int(match["length"])}
    if match["dec"]:
        return {"kind": "dec", "precision": int(match["p"]), "scale": int(match["s"])}
    if match["code"]:
        return {"kind": "code", "code_list": match["codes"]}
    return {"kind": match["plain"]}


def _table(system: str, name: str, raw: dict[str, Any], codes: dict) -> Table:
    columns = []
    for col_name, spec in raw["columns"].items():
        where = f"{system}.{name}.{col_name}"
        parsed = parse_type(spec["type"], where)
        if parsed.get("code_list") and parsed["code_list"] not in codes:
            raise ContractError(f"{where}: code list {parsed['code_list']} is not defined")
        columns.append(
            Column(
                name=col_name,
                required=bool(spec.get("required", False)),
                zh=spec.get("zh", ""),
                references=spec.get("references"),
                **parsed,
            )
        )
    key = tuple(raw["key"])
    missing = [k for k in key if k not in raw["columns"]]
    if missing:
        raise ContractError(f"{system}.{name}: key columns {missing} are not columns")
    return Table(name=name, system=system, key=key, columns=tuple(columns))


@cache
def load_contract(path: Path = SOURCES_FILE) -> Contract:
    """Load and check the source contract (cached: it is read-only)."""
    text = Path(path).read_text(encoding="utf-8")
    # The spec writes `{type: dec(14,2), ...}` in YAML flow mappings, where the comma would
    # split the value: quote those types before parsing, keeping the file verbatim.
    raw = yaml.safe_load(_DEC_IN_FLOW.sub(r"type: 'dec(\1,\2)'", text))
    codes = {name: {str(k): v for k, v in values.items()} for name, values in raw["codes"].items()}
    systems = {}
    for sys_name, sys_raw in raw["systems"].items():
        tables = {
            t_name: _table(sys_name, t_name, t_raw, codes)
            for t_name, t_raw in sys_raw["tables"].items()
        }
        systems[sys_name] = System(
            name=sys_name,
            name_zh=sys_raw["name_zh"],
            owner=sys_raw["owner"],
            delivery=sys_raw["delivery"],
            change=sys_raw.get("change", ""),
            tables=tables,
            api=sys_raw.get("api", {}),
            files=sys_raw.get("files", {}),
            headers_zh=sys_raw.get("headers_zh", {}),
        )
    return Contract(systems=systems, codes=codes)
