"""Policy files: the closed grammar, validated at load into typed objects.

A file is refused as a whole (PolicyError naming the file, the policy and the fault) when any
part is invalid; the loader reports it and goes on with the other files. The grammar is in
docs/matching.md; this module is its only definition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from matching import catalogue as cat

COMPARISON_OPS = {"=", "!=", "<", "<=", ">", ">="}
SET_OPS = {"in", "not_in"}
PREFIX_OPS = {"starts_with", "not_starts_with"}
ORDERED_TYPES = {cat.INT, cat.DEC, cat.DATE}
RELATIVE_DATE = re.compile(r"^E(?:(?P<sign>[+-])(?P<n>\d+)(?P<unit>[ymd]))?$")


class PolicyError(ValueError):
    """An invalid policy file; the message names the file, the policy and the fault."""


class Fault(ValueError):
    """One fault inside a file, with the path of the offending node (before file/policy)."""


# ---------------------------------------------------------------- typed policy objects


@dataclass(frozen=True)
class FieldRef:
    """A value of the subject: a file column, age on E, or a value of the dated detail."""

    name: str  # as written in the file
    type: str
    zh: str
    kind: Literal["column", "age", "group", "annual"]
    column: str | None = None
    group: str | None = None
    year_offset: int | None = None
    code_list: str | None = None


@dataclass(frozen=True)
class RelativeDate:
    """E shifted by n years, months or days (e.g. 'E-3y')."""

    text: str
    years: int = 0
    months: int = 0
    days: int = 0


@dataclass(frozen=True)
class Compare:
    field: FieldRef
    op: str
    value: Any  # literal, list of literals, or RelativeDate
    label: str


@dataclass(frozen=True)
class Present:
    field: FieldRef
    label: str


@dataclass(frozen=True)
class Ratio:
    """numerator / (sum of denominator) op value, compared exactly by cross-multiplication."""

    numerator: FieldRef
    denominator: tuple[FieldRef, ...]
    op: str
    value: Decimal
    label: str


@dataclass(frozen=True)
class HasGroup:
    group: str
    label: str


@dataclass(frozen=True)
class HasCertificate:
    certificate_type: str
    issued_year_offset: int | None
    label: str


@dataclass(frozen=True)
class HasAnnualFacts:
    year_offset: int
    label: str


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Leaf = Compare | Present | Ratio | HasGroup | HasCertificate | HasAnnualFacts
Condition = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Fixed:
    amount: Decimal


@dataclass(frozen=True)
class Band:
    low: Decimal
    high: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Tiers:
    by: FieldRef
    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Part:
    amount: Decimal
    when: Condition | None


@dataclass(frozen=True)
class SumOf:
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class PerUnit:
    field: FieldRef
    amount: Decimal


Amount = Fixed | Tiers | SumOf | PerUnit


@dataclass(frozen=True)
class Policy:
    code: str
    name: str
    subject: Literal["person", "enterprise"]
    effective_from: dt.date
    effective_to: dt.date | None
    legal_reference: str
    period: Literal["month", "year"]
    conditions: Condition
    amount: Amount
    path: Path
    version: str  # sha256 of the file's bytes
    source: str = field(repr=False, default="")

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def period_of(self, on: dt.date) -> str:
        return on.strftime("%Y-%m") if self.period == "month" else on.strftime("%Y")


# ---------------------------------------------------------------- the file's top level


class PolicyFile(BaseModel):
    """The top level of a policy file; conditions and amount are checked by the parsers below."""

    model_config = ConfigDict(extra="forbid", strict=False)

    code: str
    name: str
    subject: Literal["person", "enterprise"]
    effective_from: dt.date
    effective_to: dt.date | None = None
    legal_reference: str
    period: Literal["month", "year"]
    conditions: dict[str, Any]
    amount: dict[str, Any]

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,15}", value):
            raise ValueError("a policy code is 2-16 capital letters or digits, e.g. GLJT")
        return value


def _pydantic_fault(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "file"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if first["type"] == "missing":
        return f"missing field '{where}'"
    return f"{where}: {first['msg']}"


# ---------------------------------------------------------------- fields and literals


def resolve_field(name: Any, subject: str, where: str) -> FieldRef:
    if not isinstance(name, str):
        raise Fault(f"{where}: a field is a name, got {name!r}")
    columns = cat.SUBJECTS[subject]["columns"]
    table = cat.SUBJECTS[subject]["table"]
    if name in columns:
        col = columns[name]
        return FieldRef(name, col.type, col.zh, "column", column=name, code_list=col.code_list)
    if name == cat.AGE_ON_E and subject == "person":
        return FieldRef(name, cat.INT, "评估日年龄", "age")
    group = cat.GROUP_FIELD.match(name)
    if group and subject == "person":
        code = _known_code(group.group("group"), "group_type", where)
        return FieldRef(name, cat.INT, f"持续中的{code}最重残疾等级", "group", group=code)
    annual = cat.ANNUAL_FIELD.match(name)
    if annual and subject == "enterprise":
        return _annual_field(name, annual, where)
    hint = cat.STALE_HINTS.get(name)
    if hint:
        raise Fault(f"{where}: field '{name}' {hint}")
    raise Fault(f"{where}: field '{name}' does not exist in {table} (nor as a value relative to E)")


def field_label(name: str, subject: str) -> str:
    """The Chinese label of a field a policy of `subject` reads (e.g. 登记状态 for
    registration_status, 评估年度-1年参保人数净减少数（CYRS_BD） for annual_facts.Y-1.…)."""
    return resolve_field(name, subject, name).zh


def _annual_field(name: str, match: re.Match, where: str) -> FieldRef:
    column = match.group("column")
    if column not in cat.ANNUAL_COLUMNS:
        raise Fault(f"{where}: column '{column}' does not exist in enterprise_annual_facts")
    offset = int(match.group("offset") or 0)
    col = cat.ANNUAL_COLUMNS[column]
    zh = f"{_year_zh(offset)}{col.zh}"
    return FieldRef(name, col.type, zh, "annual", column=column, year_offset=offset)


def _year_zh(offset: int) -> str:
    return "评估年度" if offset == 0 else f"评估年度{offset:+d}年"


def _known_code(value: Any, code_list: str, where: str) -> str:
    if value not in cat.codes(code_list):
        known = ", ".join(cat.codes(code_list))
        raise Fault(f"{where}: '{value}' is not a code of {code_list} ({known})")
    return value


def _literal(value: Any, ref: FieldRef, where: str) -> Any:
    """A literal checked against the field's type (and code list)."""
    kind = ref.type
    if kind == cat.BOOL and isinstance(value, bool):
        return value
    if kind == cat.INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == cat.DEC and isinstance(value, int | float | str) and not isinstance(value, bool):
        return _decimal(value, where)
    if kind == cat.STR and isinstance(value, str):
        return _known_code(value, ref.code_list, where) if ref.code_list else value
    if kind == cat.DATE:
        return _date_value(value, where)
    raise Fault(f"{where}: {value!r} is not a {kind} value for field '{ref.name}'")


def _date_value(value: Any, where: str) -> dt.date | RelativeDate:
    if isinstance(value, dt.date):
        return value
    match = RELATIVE_DATE.match(str(value))
    if not match:
        raise Fault(f"{where}: {value!r} is not a date nor E±n[y|m|d] (e.g. E-3y)")
    n = int(match.group("n") or 0) * (-1 if match.group("sign") == "-" else 1)
    unit = match.group("unit") or "d"
    return RelativeDate(
        str(value),
        years=n if unit == "y" else 0,
        months=n if unit == "m" else 0,
        days=n if unit == "d" else 0,
    )


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Fault(f"{where}: {value!r} is not a number") from None
    if not number.is_finite():
        raise Fault(f"{where}: {value!r} is not a finite number")
    return number


def _amount_value(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Fault(f"{where}: amount {value!r} is not a number of 元")
    number = _decimal(value, where)
    if number < 0 or number != number.quantize(Decimal("0.01")):
        raise Fault(f"{where}: amount {value!r} must be ≥ 0 with at most 2 decimals (元)")
    return number


# ---------------------------------------------------------------- conditions


def parse_condition(node: Any, subject: str, where: str) -> Condition:
    if not isinstance(node, dict) or not node:
        raise Fault(f"{where}: a condition is a mapping, got {node!r}")
    keys = set(node)
    for kind, parser in _CONDITION_PARSERS.items():
        if kind in keys:
            return parser(node, subject, where)
    raise Fault(f"{where}: unknown condition {sorted(keys)} (expected one of {_CONDITION_KINDS})")


def _only(node: dict, allowed: set[str], where: str) -> None:
    extra = set(node) - allowed
    if extra:
        raise Fault(f"{where}: unknown field(s) {sorted(extra)} (allowed: {sorted(allowed)})")


def _label(node: dict, default: str, where: str) -> str:
    label = node.get("label", default)
    if not isinstance(label, str) or not label:
        raise Fault(f"{where}: label must be a non-empty text")
    return label


def _parse_group(node: dict, subject: str, where: str) -> Condition:
    kind = "all" if "all" in node else "any"
    _only(node, {kind}, where)
    items = node[kind]
    if not isinstance(items, list) or not items:
        raise Fault(f"{where}: '{kind}' needs a non-empty list of conditions")
    parsed = tuple(
        parse_condition(item, subject, f"{where}.{kind}[{i}]") for i, item in enumerate(items)
    )
    return AllOf(parsed) if kind == "all" else AnyOf(parsed)


def _parse_not(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"not"}, where)
    return Not(parse_condition(node["not"], subject, f"{where}.not"))


def _parse_compare(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"field", "op", "value", "label"}, where)
    if "op" not in node or "value" not in node:
        raise Fault(f"{where}: a comparison needs field, op and value")
    ref = resolve_field(node["field"], subject, where)
    op = node["op"]
    value = _compare_value(ref, op, node["value"], where)
    return Compare(ref, op, value, _label(node, ref.zh, where))


def _compare_value(ref: FieldRef, op: Any, value: Any, where: str) -> Any:
    if op in SET_OPS:
        if not isinstance(value, list) or not value:
            raise Fault(f"{where}: '{op}' needs a non-empty list of values")
        return tuple(_literal(v, ref, where) for v in value)
    if op in PREFIX_OPS:
        if ref.type != cat.STR or not isinstance(value, str) or not value:
            raise Fault(f"{where}: '{op}' compares a text field with a non-empty text")
        return value
    if op in COMPARISON_OPS:
        if op not in {"=", "!="} and ref.type not in ORDERED_TYPES:
            raise Fault(f"{where}: '{op}' needs a number or date field, '{ref.name}' is {ref.type}")
        return _literal(value, ref, where)
    ops = sorted(COMPARISON_OPS | SET_OPS | PREFIX_OPS)
    raise Fault(f"{where}: unknown operator {op!r} (expected one of {ops})")


def _parse_present(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"present", "label"}, where)
    ref = resolve_field(node["present"], subject, where)
    return Present(ref, _label(node, f"{ref.zh}已填报", where))


def _parse_ratio(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"ratio", "label"}, where)
    spec = node["ratio"]
    if not isinstance(spec, dict):
        raise Fault(f"{where}: ratio needs numerator, denominator, op and value")
    _only(spec, {"numerator", "denominator", "op", "value"}, f"{where}.ratio")
    if set(spec) != {"numerator", "denominator", "op", "value"}:
        raise Fault(f"{where}.ratio: needs numerator, denominator, op and value")
    numerator = _numeric_field(spec["numerator"], subject, f"{where}.ratio.numerator")
    terms = spec["denominator"] if isinstance(spec["denominator"], list) else [spec["denominator"]]
    denominator = tuple(_numeric_field(t, subject, f"{where}.ratio.denominator") for t in terms)
    if spec["op"] not in COMPARISON_OPS:
        raise Fault(f"{where}.ratio: unknown operator {spec['op']!r}")
    value = _decimal(spec["value"], f"{where}.ratio.value")
    return Ratio(numerator, denominator, spec["op"], value, _label(node, "比率", where))


def _numeric_field(name: Any, subject: str, where: str) -> FieldRef:
    ref = resolve_field(name, subject, where)
    if ref.type not in {cat.INT, cat.DEC}:
        raise Fault(f"{where}: '{ref.name}' is {ref.type}, a ratio needs numbers")
    return ref


def _parse_has_group(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"has_ongoing_group", "label"}, where)
    if subject != "person":
        raise Fault(f"{where}: has_ongoing_group applies to persons only")
    group = _known_code(node["has_ongoing_group"], "group_type", where)
    zh = cat.codes("group_type")[group]
    return HasGroup(group, _label(node, f"评估日持续中的{zh}（{group}）认定", where))


def _parse_has_certificate(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"has_valid_certificate", "label"}, where)
    spec = node["has_valid_certificate"]
    spec = {"type": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict) or "type" not in spec:
        raise Fault(f"{where}: has_valid_certificate needs a certificate type")
    _only(spec, {"type", "issued_in"}, f"{where}.has_valid_certificate")
    ctype = _known_code(spec["type"], "certificate_type", where)
    offset = None
    if "issued_in" in spec:
        offset = cat.year_offset(spec["issued_in"])
        if offset is None:
            raise Fault(f"{where}: issued_in {spec['issued_in']!r} is not Y or Y±n")
    zh = cat.codes("certificate_type")[ctype]
    issued = "" if offset is None else f"、{_year_zh(offset)}发证"
    return HasCertificate(
        ctype, offset, _label(node, f"评估日有效的{zh}（{ctype}）{issued}", where)
    )


def _parse_has_annual(node: dict, subject: str, where: str) -> Condition:
    _only(node, {"has_annual_facts", "label"}, where)
    if subject != "enterprise":
        raise Fault(f"{where}: has_annual_facts applies to enterprises only")
    offset = cat.year_offset(node["has_annual_facts"])
    if offset is None:
        raise Fault(f"{where}: has_annual_facts {node['has_annual_facts']!r} is not Y or Y±n")
    return HasAnnualFacts(offset, _label(node, f"有{_year_zh(offset)}年度经营信息", where))


_CONDITION_PARSERS = {
    "all": _parse_group,
    "any": _parse_group,
    "not": _parse_not,
    "field": _parse_compare,
    "present": _parse_present,
    "ratio": _parse_ratio,
    "has_ongoing_group": _parse_has_group,
    "has_valid_certificate": _parse_has_certificate,
    "has_annual_facts": _parse_has_annual,
}
_CONDITION_KINDS = sorted(_CONDITION_PARSERS)


# ---------------------------------------------------------------- amounts


def parse_amount(node: Any, subject: str) -> Amount:
    where = "amount"
    if not isinstance(node, dict) or len(node) != 1:
        raise Fault(f"{where}: exactly one of fixed, tiers, sum, per_unit")
    ((kind, spec),) = node.items()
    if kind == "fixed":
        return Fixed(_amount_value(spec, f"{where}.fixed"))
    if kind == "tiers":
        return _parse_tiers(spec, subject, f"{where}.tiers")
    if kind == "sum":
        return _parse_sum(spec, subject, f"{where}.sum")
    if kind == "per_unit":
        return _parse_per_unit(spec, subject, f"{where}.per_unit")
    raise Fault(f"{where}: unknown amount rule '{kind}' (fixed, tiers, sum, per_unit)")


def _parse_tiers(spec: Any, subject: str, where: str) -> Tiers:
    if not isinstance(spec, dict) or set(spec) != {"by", "bands"}:
        raise Fault(f"{where}: tiers needs 'by' (a field) and 'bands'")
    ref = _numeric_field(spec["by"], subject, f"{where}.by")
    if not isinstance(spec["bands"], list) or not spec["bands"]:
        raise Fault(f"{where}.bands: a non-empty list of {{from, to, amount}}")
    bands = tuple(_band(b, f"{where}.bands[{i}]") for i, b in enumerate(spec["bands"]))
    for before, after in itertools.pairwise(bands):
        if before.high is None or after.low <= before.high:
            raise Fault(f"{where}.bands: bands overlap or are out of order")
    return Tiers(ref, bands)


def _band(node: Any, where: str) -> Band:
    if not isinstance(node, dict) or "from" not in node or "amount" not in node:
        raise Fault(f"{where}: a band is {{from, to (optional), amount}}")
    _only(node, {"from", "to", "amount"}, where)
    low = _decimal(node["from"], f"{where}.from")
    high = _decimal(node["to"], f"{where}.to") if node.get("to") is not None else None
    if high is not None and high < low:
        raise Fault(f"{where}: 'to' is below 'from'")
    return Band(low, high, _amount_value(node["amount"], f"{where}.amount"))


def _parse_sum(spec: Any, subject: str, where: str) -> SumOf:
    if not isinstance(spec, list) or not spec:
        raise Fault(f"{where}: a non-empty list of {{amount, when}}")
    parts = []
    for i, node in enumerate(spec):
        here = f"{where}[{i}]"
        if not isinstance(node, dict) or "amount" not in node:
            raise Fault(f"{here}: a part is {{amount, when (optional)}}")
        _only(node, {"amount", "when"}, here)
        when = parse_condition(node["when"], subject, f"{here}.when") if "when" in node else None
        parts.append(Part(_amount_value(node["amount"], f"{here}.amount"), when))
    return SumOf(tuple(parts))


def _parse_per_unit(spec: Any, subject: str, where: str) -> PerUnit:
    if not isinstance(spec, dict) or set(spec) != {"field", "amount"}:
        raise Fault(f"{where}: per_unit needs 'field' and 'amount'")
    ref = _numeric_field(spec["field"], subject, f"{where}.field")
    return PerUnit(ref, _amount_value(spec["amount"], f"{where}.amount"))


# ---------------------------------------------------------------- files


def load_policy(path: Path) -> Policy:
    """One policy file, validated; PolicyError names the file, the policy and the fault."""
    raw = path.read_bytes()
    # the code as written, for the message, even when the YAML does not parse
    found = re.search(rb"^code:\s*['\"]?([A-Za-z0-9_]+)", raw, re.MULTILINE)
    code = found.group(1).decode() if found else "?"
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
        if not isinstance(document, dict):
            raise Fault("the file is not a mapping of fields")
        code = str(document.get("code", code))
        top = PolicyFile.model_validate(document)
        if top.effective_to is not None and top.effective_to < top.effective_from:
            raise Fault("effective_to is before effective_from")
        conditions = parse_condition(top.conditions, top.subject, "conditions")
        amount = parse_amount(top.amount, top.subject)
    except ValidationError as error:
        raise PolicyError(f"{path.name}: policy {code}: {_pydantic_fault(error)}") from None
    except yaml.YAMLError as error:
        flat = " ".join(str(error).split())
        raise PolicyError(f"{path.name}: policy {code}: not valid YAML: {flat}") from None
    except (ValueError, UnicodeDecodeError) as error:  # Fault, or a bad date in the YAML
        raise PolicyError(f"{path.name}: policy {code}: {error}") from None
    return Policy(
        code=top.code,
        name=top.name,
        subject=top.subject,
        effective_from=top.effective_from,
        effective_to=top.effective_to,
        legal_reference=top.legal_reference,
        period=top.period,
        conditions=conditions,
        amount=amount,
        path=path,
        version=hashlib.sha256(raw).hexdigest(),
        source=raw.decode("utf-8"),
    )


@dataclass
class Loaded:
    policies: list[Policy]
    errors: list[str]


def load_policies(directory: Path, only: list[str] | None = None) -> Loaded:
    """Every *.yaml of the directory; invalid files are reported, the others kept."""
    loaded = Loaded([], [])
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            policy = load_policy(path)
        except PolicyError as error:
            loaded.errors.append(str(error))
            continue
        if policy.code in seen:
            first = seen[policy.code].name
            loaded.errors.append(
                f"{path.name}: policy {policy.code}: code already defined by {first}"
            )
            continue
        seen[policy.code] = path
        if only is None or policy.code in only:
            loaded.policies.append(policy)
    return loaded
