"""The Fellegi–Sunter model (Splink, DuckDB backend): its comparisons, its blocking rules,
training and scoring. The trained parameters are data: `linkage/model/person.json`."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator

MODEL_PATH = Path(__file__).with_name("model") / "person.json"

NULL = {"is_null_level": True, "label_for_charts": "missing"}
# Symmetric conditions: which side is the record and which the person is Splink's choice.
NAME_LEVELS = [
    {
        **NULL,
        "sql_condition": "name_l is null and surname_l is null or "
        "name_r is null and surname_r is null",
    },
    {
        "sql_condition": "name_l = name_r",
        "label_for_charts": "same characters",
        # a rare name says more than a common one (term-frequency adjustment)
        "tf_adjustment_column": "name",
        "tf_adjustment_weight": 1.0,
    },
    {"sql_condition": "name_pinyin_l = name_pinyin_r", "label_for_charts": "same pinyin"},
    {
        # by characters: DuckDB's levenshtein counts bytes (three per Chinese character)
        "sql_condition": "surname_l = surname_r and length(name_l) = length(name_r) and "
        "len(list_filter(range(length(name_l)), "
        "lambda i: substr(name_l, i + 1, 1) <> substr(name_r, i + 1, 1))) = 1",
        "label_for_charts": "one character different",
    },
    {
        "sql_condition": "(name_l is null or name_r is null) and surname_l = surname_r "
        "and sex_l = sex_r",
        "label_for_charts": "surname and honorific's sex",
    },
    {"sql_condition": "else", "label_for_charts": "different"},
]
# A person's phone counts while it was theirs: up to the day a later snapshot changed it.
PHONE_HELD = (
    "(coalesce(valid_to_l, valid_to_r) is null "
    "or coalesce(called_on_l, called_on_r) < coalesce(valid_to_l, valid_to_r))"
)
PHONE_LEVELS = [
    {**NULL, "sql_condition": "phone_l is null or phone_r is null"},
    {"sql_condition": f"phone_l = phone_r and {PHONE_HELD}", "label_for_charts": "same"},
    {
        "sql_condition": f"phone8_l = phone8_r and {PHONE_HELD}",
        "label_for_charts": "last 8",
        # Set by hand, not trained: the simulated city writes every phone in one form, so
        # no pair lands here (a +86 or 0797- form would); about the weight of a surname.
        "m_probability": 0.01,
        "u_probability": 0.0002,
    },
    {"sql_condition": "else", "label_for_charts": "different"},
]
# The birth date inside a dirty number: a mistyped month or day still keeps the year.
BIRTH_LEVELS = [
    {**NULL, "sql_condition": "birth_l is null or birth_r is null"},
    {"sql_condition": "birth_l = birth_r", "label_for_charts": "same date"},
    {
        "sql_condition": "substr(birth_l, 1, 4) = substr(birth_r, 1, 4)",
        "label_for_charts": "same year",
    },
    {"sql_condition": "else", "label_for_charts": "different"},
]
# Candidate pairs: the same phone (or its last 8 digits), the same name in the same
# district, the birth date a dirty number still carries with the surname. Each is narrow
# (a phone is held by a household, a name by a few in a district): within tier L.
BLOCKING = [
    "l.phone = r.phone",
    "l.phone8 = r.phone8",
    "l.name = r.name and l.region = r.region",
    "l.name_pinyin = r.name_pinyin and l.region = r.region",
    "l.birth = r.birth and l.surname = r.surname",
]


def settings(prior: float = 1e-4) -> SettingsCreator:
    """`prior`: the chance that a record and a resident drawn at random are one person."""
    return SettingsCreator(
        link_type="link_only",
        probability_two_random_records_match=prior,
        comparisons=[
            cl.CustomComparison(NAME_LEVELS, output_column_name="name"),
            cl.CustomComparison(PHONE_LEVELS, output_column_name="phone"),
            cl.CustomComparison(BIRTH_LEVELS, output_column_name="birth"),
            cl.ExactMatch("region"),
        ],
        blocking_rules_to_generate_predictions=BLOCKING,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["person_id", "id_normalised", "id_valid"],
    )


# Splink's working tables go here and the schema is dropped after each use, so the
# warehouse keeps none of them and a second run in one connection starts clean.
WORK_SCHEMA = "linkage_splink"


def _linker(conn: duckdb.DuckDBPyConnection, model) -> Linker:
    _clean(conn)
    conn.execute(f"create schema {WORK_SCHEMA}")
    api = DuckDBAPI(conn, output_schema=WORK_SCHEMA)
    records = api.register(conn.table("linkage.records"), dataset_display_name="records")
    persons = api.register(conn.table("linkage.persons"), dataset_display_name="persons")
    return Linker([records, persons], model, log_level=30)


def _clean(conn: duckdb.DuckDBPyConnection) -> None:
    """Splink's working schema dropped, the two inputs it registered by name released."""
    conn.execute(f"drop schema if exists {WORK_SCHEMA} cascade")
    for name in ("records", "persons"):
        with contextlib.suppress(duckdb.Error):  # not registered: the first run here
            conn.unregister(name)


def _residents(conn: duckdb.DuckDBPyConnection) -> int:
    count = conn.execute("select count(distinct person_id) from linkage.persons").fetchall()
    return max(count[0][0], 1)


def train(conn: duckdb.DuckDBPyConnection, out: Path = MODEL_PATH) -> dict:
    """Estimate the model unsupervised on the warehouse's records (u by random sampling,
    m by expectation maximisation on two blocks that each leave the other comparisons
    free) and
    write it as JSON."""
    # Every record belongs to at most one of the residents: one in as many as there are.
    linker = _linker(conn, settings(prior=1 / _residents(conn)))
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=34)
    linker.training.estimate_parameters_using_expectation_maximisation("l.phone = r.phone")
    linker.training.estimate_parameters_using_expectation_maximisation(
        "l.name = r.name and l.region = r.region"
    )
    model = linker.misc.save_model_to_json()
    _clean(conn)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return model


def predict(conn: duckdb.DuckDBPyConnection, floor: float, model_path: Path = MODEL_PATH):
    """Every candidate pair scoring at least `floor`, as (record, person, probability)."""
    model = json.loads(model_path.read_text(encoding="utf-8"))
    # The prior belongs to the population linked against, not the one trained on.
    model["probability_two_random_records_match"] = 1 / _residents(conn)
    linker = _linker(conn, model)
    scored = linker.inference.predict(threshold_match_probability=floor)
    pairs = conn.execute(
        f"select case when source_dataset_l = 'records' then unique_id_l else unique_id_r end,"
        f" coalesce(person_id_l, person_id_r), match_probability from {scored.physical_name}"
    ).fetchall()
    _clean(conn)
    return pairs


def weights_table(model_path: Path = MODEL_PATH) -> str:
    """The trained model as a Markdown table: each comparison level's m and u probability
    and its match weight log2(m/u) (what Splink's match-weights chart draws)."""
    model = json.loads(model_path.read_text(encoding="utf-8"))
    prior = model["probability_two_random_records_match"]
    lines = [
        f"prior: one record–resident pair in {round(1 / prior):,} is a match "
        f"(weight {math.log2(prior / (1 - prior)):+.1f})",
        "",
        "| comparison | level | m | u | match weight |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = f"{math.log2(m / u):+.1f}" if m and u else "untrained"
            lines.append(
                f"| {comparison['output_column_name']} | {level.get('label_for_charts')} | "
                f"{_fmt(m)} | {_fmt(u)} | {weight} |"
            )
    return "\n".join(lines)


def _fmt(p: float | None) -> str:
    return "—" if p is None else f"{p:.3g}"
