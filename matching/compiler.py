"""Compile a policy into one set-based DuckDB query over the warehouse, as of a date E.

The query reads the whole population at once and returns one row per subject whose
conditions are not false: status 'match' (all true, amount known) or 'near_miss' (some
condition unknown because a value it reads is null). SQL's three-valued AND/OR/NOT is exactly
the rule "missing data → near miss, unless another condition already fails", so the
combinators map one to one. Each leaf condition also yields its value, threshold and outcome
for the explanation, built in SQL as JSON and as a Chinese sentence.

Two queries: the evaluation over the whole population (subject_key, status, amount,
missing_fields), and the explanations (explanation_json, explanation_zh, display_name,
display_id) for the run's new matches only, since building text for every eligible subject on
every run would cost more than the evaluation itself.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from groundfloor.masking import mask_uscc_sql
from matching import catalogue as cat
from matching import policy as p

OP_SQL = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
OP_ZH = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
OUTCOME_JSON = "case when {o} then 'pass' when not {o} then 'fail' else 'missing' end"
OUTCOME_ZH = "case when {o} then '符合' when not {o} then '不符合' else '数据缺失' end"


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def shift(on: dt.date, rel: p.RelativeDate) -> dt.date:
    """E shifted by years/months (clamped to the month's last day) and days."""
    months = on.year * 12 + on.month - 1 + rel.years * 12 + rel.months
    year, month = divmod(months, 12)
    day = min(on.day, calendar.monthrange(year, month + 1)[1])
    return dt.date(year, month + 1, day) + dt.timedelta(days=rel.days)


def age_sql(birth: str, on: dt.date) -> str:
    """Whole years on E; a 29 February birthday turns on 1 March in common years, because
    (month, day) of E = (2, 28) sorts before (2, 29)."""
    return (
        f"({on.year} - year({birth}) - case when {on.month * 100 + on.day} < "
        f"month({birth}) * 100 + day({birth}) then 1 else 0 end)"
    )


@dataclass(frozen=True)
class Compiled:
    evaluation: str  # over the whole population: subject_key, status, amount, missing_fields
    explanations: str  # for the subjects of temp table `fresh`: explanation and masked identity


@dataclass
class LeafSql:
    outcome: str  # boolean SQL (may be null)
    json: str  # json_object(...)
    zh: str  # varchar SQL
    null_fields: str  # VARCHAR[] SQL of the fields read that are null


@dataclass
class Compiler:
    policy: p.Policy
    on: dt.date
    warehouse: str = "wh.main_marts"
    joins: dict[str, str] = field(default_factory=dict)
    leaves: list[LeafSql] = field(default_factory=list)

    # ------------------------------------------------------------ values of the subject

    @property
    def key(self) -> str:
        return "person_key" if self.policy.subject == "person" else "enterprise_key"

    def field_sql(self, ref: p.FieldRef) -> str:
        if ref.kind == "column":
            return f's."{ref.column}"'
        if ref.kind == "age":
            return age_sql("s.birth_date", self.on)
        if ref.kind == "group":
            return f"{self.group_join(ref.group)}.disability_level"
        return f'{self.annual_join(ref.year_offset)}."{ref.column}"'

    def ongoing(self) -> str:
        e = self.date_sql(self.on)
        return f"started_on <= {e} and (ended_on is null or ended_on >= {e})"

    def group_join(self, group: str) -> str:
        alias = f"g_{group}"
        # the most severe level is the smallest CJDJ among the rows ongoing on E
        self.joins[alias] = (
            f"select person_key as k, min(disability_level) as disability_level "
            f"from {self.warehouse}.person_special_groups "
            f"where group_type = {sql_text(group)} and {self.ongoing()} and person_key is not null "
            f"group by person_key"
        )
        return alias

    def annual_join(self, offset: int) -> str:
        alias = f"f_{'m' if offset < 0 else 'p'}{abs(offset)}"
        self.joins[alias] = (
            f"select enterprise_key as k, * exclude (enterprise_key) "
            f"from {self.warehouse}.enterprise_annual_facts "
            f"where year = {self.on.year + offset} and enterprise_key is not null "
            f"qualify row_number() over (partition by enterprise_key order by uscc) = 1"
        )
        return alias

    def certificate_join(self, ctype: str, offset: int | None) -> str:
        alias = f"c_{ctype}" + (
            "" if offset is None else f"_{'m' if offset < 0 else 'p'}{abs(offset)}"
        )
        e = self.date_sql(self.on)
        issued = "" if offset is None else f" and year(issued_on) = {self.on.year + offset}"
        self.joins[alias] = (
            f"select distinct {self.key} as k from {self.warehouse}.certificate_validity "
            f"where certificate_type = {sql_text(ctype)} and recorded_status = '1' "
            f"and valid_from <= {e} and (valid_to is null or valid_to >= {e}){issued} "
            f"and {self.key} is not null"
        )
        return alias

    # ------------------------------------------------------------ literals

    @staticmethod
    def date_sql(value: dt.date) -> str:
        return f"DATE '{value.isoformat()}'"

    def literal_sql(self, value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, p.RelativeDate):
            return self.date_sql(shift(self.on, value))
        if isinstance(value, dt.date):
            return self.date_sql(value)
        if isinstance(value, int | Decimal):
            return str(value)
        return sql_text(str(value))

    def literal_text(self, value, ref: p.FieldRef | None = None) -> str:
        if ref is not None and ref.code_list and isinstance(value, str):
            return f"{value}（{cat.codes(ref.code_list).get(value, '?')}）"
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, p.RelativeDate):
            return f"{value.text}（{shift(self.on, value).isoformat()}）"
        if isinstance(value, tuple):
            return "{" + "、".join(self.literal_text(v, ref) for v in value) + "}"
        return str(value)

    @staticmethod
    def value_text(sql: str, ref: p.FieldRef) -> str:
        if ref.type == "bool":
            return f"case when {sql} then '是' when not {sql} then '否' end"
        if ref.code_list:
            named = " ".join(
                f"when {sql_text(code)} then {sql_text(f'{code}（{zh}）')}"
                for code, zh in cat.codes(ref.code_list).items()
            )
            return f"case {sql} {named} else cast({sql} as varchar) end"
        return f"cast({sql} as varchar)"

    @staticmethod
    def nulls(pairs: list[tuple[str, str]]) -> str:
        parts = [
            f"case when {sql} is null then [{sql_text(name)}] else [] end" for name, sql in pairs
        ]
        return "list_concat(" + ", ".join([*parts, "[]::varchar[]"]) + ")"

    # ------------------------------------------------------------ conditions

    def condition(self, node: p.Condition) -> str:
        """Boolean SQL over the `leaves` CTE's outcome columns o0, o1, ..."""
        if isinstance(node, p.AllOf):
            return "(" + " and ".join(self.condition(i) for i in node.items) + ")"
        if isinstance(node, p.AnyOf):
            return "(" + " or ".join(self.condition(i) for i in node.items) + ")"
        if isinstance(node, p.Not):
            return f"(not {self.condition(node.item)})"
        self.leaves.append(self.leaf(node))
        return f"o{len(self.leaves) - 1}"

    def leaf(self, node: p.Leaf) -> LeafSql:
        if isinstance(node, p.Compare):
            return self.compare_leaf(node)
        if isinstance(node, p.Present):
            return self.present_leaf(node)
        if isinstance(node, p.Ratio):
            return self.ratio_leaf(node)
        return self.exists_leaf(node)

    def compare_sql(self, node: p.Compare) -> str:
        value = self.field_sql(node.field)
        if node.op in ("in", "not_in"):
            items = ", ".join(self.literal_sql(v) for v in node.value)
            return f"({value} {'not in' if node.op == 'not_in' else 'in'} ({items}))"
        if node.op in ("starts_with", "not_starts_with"):
            test = f"starts_with({value}, {sql_text(node.value)})"
            return f"(not {test})" if node.op == "not_starts_with" else f"({test})"
        return f"({value} {OP_SQL[node.op]} {self.literal_sql(node.value)})"

    def compare_leaf(self, node: p.Compare) -> LeafSql:
        value = self.field_sql(node.field)
        outcome = self.compare_sql(node)
        threshold = self.literal_text(node.value, node.field)
        if node.op in ("starts_with", "not_starts_with"):
            relation = f"{'不' if node.op.startswith('not') else ''}以“{node.value}”开头"
        elif node.op in ("in", "not_in"):
            relation = f"{'不' if node.op == 'not_in' else ''}属于{threshold}"
        else:
            relation = f"{OP_ZH[node.op]} {threshold}"
        return self.make_leaf(
            node.label,
            node.field.name,
            node.op,
            threshold,
            value,
            self.value_text(value, node.field),
            relation,
            outcome,
            [(node.field.name, value)],
        )

    def present_leaf(self, node: p.Present) -> LeafSql:
        value = self.field_sql(node.field)
        outcome = f"(case when {value} is null then null else true end)"
        return self.make_leaf(
            node.label,
            node.field.name,
            "present",
            "已填报",
            value,
            self.value_text(value, node.field),
            "已填报",
            outcome,
            [(node.field.name, value)],
        )

    def ratio_leaf(self, node: p.Ratio) -> LeafSql:
        numerator = self.field_sql(node.numerator)
        terms = [self.field_sql(t) for t in node.denominator]
        denominator = "(" + " + ".join(terms) + ")"
        # exact: num/den op a/b  ⇔  b·num op a·den (den > 0), no floating point involved
        exponent = node.value.as_tuple().exponent
        scale = 10 ** max(0, -exponent)
        units = int(node.value * scale)
        outcome = f"({scale} * {numerator} {OP_SQL[node.op]} {units} * {denominator})"
        shown = (
            f"cast({numerator} as varchar) || '/(' || concat_ws('+', "
            + ", ".join(f"cast({t} as varchar)" for t in terms)
            + f") || ') = ' || cast(round(cast({numerator} as decimal(18, 6))"
            + f" / nullif({denominator}, 0), 4) as varchar)"
        )
        fields = [(node.numerator.name, numerator)]
        fields += [(ref.name, sql) for ref, sql in zip(node.denominator, terms, strict=True)]
        names = f"{node.numerator.name}/({'+'.join(r.name for r in node.denominator)})"
        json_value = f"round({numerator} / nullif({denominator}, 0), 6)"
        return self.make_leaf(
            node.label,
            names,
            node.op,
            str(node.value),
            json_value,
            shown,
            f"{OP_ZH[node.op]} {node.value}",
            outcome,
            fields,
        )

    def exists_leaf(self, node: p.HasGroup | p.HasCertificate | p.HasAnnualFacts) -> LeafSql:
        if isinstance(node, p.HasGroup):
            alias, name = self.group_join(node.group), f"has_ongoing_group:{node.group}"
        elif isinstance(node, p.HasCertificate):
            alias = self.certificate_join(node.certificate_type, node.issued_year_offset)
            name = f"has_valid_certificate:{node.certificate_type}"
        else:
            alias = self.annual_join(node.year_offset)
            name = f"has_annual_facts:Y{node.year_offset:+d}"
        outcome = f"({alias}.k is not null)"
        shown = f"case when {outcome} then '有' else '无' end"
        return self.make_leaf(node.label, name, "exists", "有", outcome, shown, "", outcome, [])

    def make_leaf(self, label, name, op, threshold, value, shown, relation, outcome, fields):
        json = (
            f"json_object('condition', {sql_text(label)}, 'field', {sql_text(name)}, "
            f"'op', {sql_text(op)}, 'threshold', {sql_text(threshold)}, 'value', {value}, "
            f"'outcome', {OUTCOME_JSON.format(o=outcome)})"
        )
        relation_sql = f" || ' ' || {sql_text(relation)}" if relation else ""
        zh = (
            f"{sql_text(label + '：')} || coalesce({shown}, '缺失'){relation_sql} "
            f"|| '，' || {OUTCOME_ZH.format(o=outcome)}"
        )
        return LeafSql(outcome, json, zh, self.nulls(fields))

    # ------------------------------------------------------------ amount

    def amount(self) -> tuple[str, str, str]:
        """(amount SQL, its Chinese explanation SQL, SQL list of the null fields it reads)."""
        rule = self.policy.amount
        if isinstance(rule, p.Fixed):
            return str(rule.amount), sql_text(f"定额{rule.amount}元"), "[]::varchar[]"
        if isinstance(rule, p.Tiers):
            return self.tiers_amount(rule)
        if isinstance(rule, p.PerUnit):
            value = self.field_sql(rule.field)
            text = f"{sql_text(f'{rule.amount}元 × {rule.field.zh} ')} || cast({value} as varchar)"
            return f"({rule.amount} * {value})", text, self.nulls([(rule.field.name, value)])
        return self.sum_amount(rule)

    def tiers_amount(self, rule: p.Tiers) -> tuple[str, str, str]:
        value = self.field_sql(rule.by)
        amounts, texts = [], []
        for band in rule.bands:
            test = f"{value} >= {band.low}" + (
                "" if band.high is None else f" and {value} <= {band.high}"
            )
            span = f"{band.low}–{band.high}" if band.high is not None else f"{band.low}及以上"
            amounts.append(f"when {test} then {band.amount}")
            texts.append(f"when {test} then {sql_text(f'{span}档 {band.amount}元')}")
        amount = f"(case {' '.join(amounts)} end)"
        text = (
            f"{sql_text(rule.by.zh + ' ')} || cast({value} as varchar) || '，' "
            f"|| (case {' '.join(texts)} end)"
        )
        return amount, text, self.nulls([(rule.by.name, value)])

    def sum_amount(self, rule: p.SumOf) -> tuple[str, str, str]:
        amounts, texts = [], []
        for part in rule.parts:
            if part.when is None:
                amounts.append(str(part.amount))
                texts.append(sql_text(f"{part.amount}元"))
                continue
            test = self.expression(part.when)
            # a part whose condition is unknown is not paid (nor does it withhold the rest)
            amounts.append(f"(case when {test} then {part.amount} else 0 end)")
            label = getattr(part.when, "label", "条件")
            texts.append(f"case when {test} then {sql_text(f'{part.amount}元（{label}）')} end")
        text = f"coalesce(nullif(concat_ws(' + ', {', '.join(texts)}), ''), '0元')"
        return "(" + " + ".join(amounts) + ")", text, "[]::varchar[]"

    def expression(self, node: p.Condition) -> str:
        """A condition as plain SQL over the base row (for amount parts, not explained leaves)."""
        if isinstance(node, p.AllOf | p.AnyOf):
            glue = " and " if isinstance(node, p.AllOf) else " or "
            return "(" + glue.join(self.expression(i) for i in node.items) + ")"
        if isinstance(node, p.Not):
            return f"(not {self.expression(node.item)})"
        return self.leaf(node).outcome

    # ------------------------------------------------------------ the query

    def compile(self) -> Compiled:
        top = self.condition(self.policy.conditions)
        inline = self.expression(self.policy.conditions)
        amount, amount_zh, amount_nulls = self.amount()
        table = "person_file" if self.policy.subject == "person" else "enterprise_file"
        joins = "".join(
            f"\n    left join ({sql}) as {alias} on {alias}.k = s.{self.key}"
            for alias, sql in self.joins.items()
        )
        source = f"{self.warehouse}.{table} as s{joins}"
        return Compiled(
            self.evaluation_sql(source, top, inline, amount, amount_nulls),
            self.explanation_sql(source, amount, amount_zh),
        )

    def evaluation_sql(self, source, top, inline, amount, amount_nulls) -> str:
        """Status, amount and missing fields of every subject whose conditions are not false."""
        outcomes = ", ".join(
            f"{leaf.outcome} as o{i}, {leaf.null_fields} as n{i}"
            for i, leaf in enumerate(self.leaves)
        )
        missing = (
            "list_concat("
            + ", ".join(
                f"case when o{i} is null then n{i} else [] end" for i in range(len(self.leaves))
            )
            + ", []::varchar[])"
        )
        return f"""
with leaves as (
    select s.{self.key} as subject_key, {outcomes},
        {amount} as amount_raw, {amount_nulls} as amount_nulls
    from {source}
    -- the whole condition inline as a filter: only candidates go on
    where s.{self.key} is not null and ({inline}) is not false
),
evaluated as (select *, {top} as outcome from leaves)
select
    subject_key,
    case when outcome and amount_raw is not null then 'match' else 'near_miss' end as status,
    cast(amount_raw as decimal(14, 2)) as amount,
    list_distinct(case when outcome then amount_nulls else {missing} end) as missing_fields
from evaluated
"""

    def explanation_sql(self, source, amount, amount_zh) -> str:
        """Explanations and masked identity of the subjects listed in the temp table `fresh`
        (the run's new matches): built for them only, not for the whole population."""
        count = len(self.leaves)
        period = self.policy.period_of(self.on)
        head = sql_text(f"{self.policy.name}（{self.policy.code}，{period}）：")
        conditions = ", ".join(leaf.json for leaf in self.leaves)
        sentences = ", ".join(leaf.zh for leaf in self.leaves)
        yuan = f"cast({amount} as decimal(14, 2))"
        return (
            f"""
select
    s.{self.key} as subject_key, {self.subject_sql()},
    cast(json_object(
        'policy', {sql_text(self.policy.code)}, 'period', {sql_text(period)},
        'evaluation_date', {sql_text(self.on.isoformat())},
        'conditions', json_array({conditions}),
        'amount', json_object('yuan', {yuan}, 'rule', {amount_zh})
    ) as varchar) as explanation_json,
    {head} || concat_ws('；', {sentences}) || '。金额：' || coalesce({amount_zh}, '缺失')
        || '，合计' || coalesce(cast({yuan} as varchar), '缺失') || '元。' as explanation_zh
from {source}
where s.{self.key} in (select subject_key from fresh)
"""
            if count
            else ""
        )

    def subject_sql(self) -> str:
        if self.policy.subject == "person":
            return "s.name_masked as display_name, s.identity_number_masked as display_id"
        # a USCC is public registration data; masked anyway so a push file never carries an
        # identifier in clear
        return f"s.entity_name as display_name, {mask_uscc_sql('s.uscc')} as display_id"


def compile_policy(policy: p.Policy, on: dt.date, warehouse: str = "wh.main_marts") -> Compiled:
    return Compiler(policy, on, warehouse).compile()
