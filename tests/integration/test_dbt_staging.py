"""dbt on the demo city: seeds, staging models, their data tests and unit tests build, and the
staging flags agree with what the simulator's manifest predicts (D4, D5, D6, D13)."""

from __future__ import annotations

import pytest

from tests.helpers.warehouse import query
from tests.integration import scan
from tests.integration.dbt_city import dbt, warehouse_copy

pytestmark = pytest.mark.integration
CASES = "main_staging.stg_case_platform__cases"


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    city, source = ingested
    warehouse = warehouse_copy(source, tmp_path_factory.mktemp("dbt"))
    done = dbt(warehouse, "build", "--select", "staging", "+staging")
    return city, warehouse, done


def test_dbt_build_of_seeds_and_staging_passes(built):
    _, _, done = built
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout.replace(" ", "")


def test_invalid_identity_numbers_match_the_manifest(built):
    city, warehouse, _ = built
    predicted = {
        k
        for (k,) in scan.manifest(
            city,
            "SELECT key FROM defects WHERE table_name = 'bj_jbxx' AND defect IN ('D4', 'D5') "
            "AND expected = 'invalid'",
        )
    }
    deleted = scan.defect_keys(city, "D3", "bj_jbxx") | scan.defect_keys(city, "D7", "bj_jbxx")
    flagged = {
        k
        for (k,) in query(
            warehouse,
            "SELECT case_id FROM main_staging.stg_case_platform__cases "
            "WHERE is_applicant_id_valid = false",
        )
    }
    assert flagged == predicted - deleted
    assert flagged


def test_normalised_numbers_match_the_manifest(built):
    city, warehouse, _ = built
    expected = {
        k: v
        for k, v in scan.manifest(
            city,
            "SELECT key, expected FROM defects WHERE table_name = 'bj_jbxx' "
            "AND defect IN ('D4', 'D5') AND expected <> 'invalid'",
        )
    }
    landed = dict(
        query(
            warehouse,
            "SELECT case_id, applicant_id_normalised FROM main_staging.stg_case_platform__cases",
        )
    )
    checked = [k for k in expected if k in landed]
    assert checked and all(landed[k] == expected[k] for k in checked)


def test_timestamp_order_flags_match_the_manifest(built):
    city, warehouse, _ = built
    predicted = {
        (k, c)
        for k, c in scan.manifest(
            city,
            "SELECT key, column_name FROM defects WHERE table_name = 'bj_jbxx' AND defect = 'D6'",
        )
    }
    gone = scan.defect_keys(city, "D3", "bj_jbxx") | scan.defect_keys(city, "D7", "bj_jbxx")
    flagged = {
        (k, "SLSJ")
        for (k,) in query(
            warehouse,
            f"SELECT case_id FROM {CASES} WHERE is_accepted_before_applied",
        )
    }
    flagged |= {
        (k, "BJSJ")
        for (k,) in query(
            warehouse,
            f"SELECT case_id FROM {CASES} WHERE is_completed_before_accepted",
        )
    }
    assert flagged == {p for p in predicted if p[0] not in gone}
    assert flagged
