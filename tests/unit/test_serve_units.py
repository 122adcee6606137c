"""`make serve`'s pieces that need no running service: the UI time-zone plugin's page edit and
what serve says about the DAGs."""

from __future__ import annotations

import importlib.util
import json

from pipeline.airflow_setup import PLUGINS_FOLDER, pipeline_dag_ids
from pipeline.serve import dags_message


def plugin():
    spec = importlib.util.spec_from_file_location("ui_timezone", PLUGINS_FOLDER / "ui_timezone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_gets_the_default_zone_before_the_ui_runs():
    page = b'<html><head><script type="module" src="x.js"></script></head><body></body></html>'
    edited = plugin().with_default_timezone(page, "Asia/Shanghai").decode()
    script = edited[edited.index("<script>") : edited.index("</head>")]
    # stored JSON-encoded, as the UI's useLocalStorage hook reads it, and only when unset
    assert 'localStorage.setItem("timezone",' + json.dumps('"Asia/Shanghai"') + ")" in script
    assert "if(!localStorage.getItem(" in script
    assert edited.count("</head>") == 1 and edited.index('src="x.js"') < edited.index("<script>")


def test_a_page_without_head_is_left_alone():
    assert plugin().with_default_timezone(b'{"dags": []}', "Asia/Shanghai") == b'{"dags": []}'


def test_serve_names_the_dags_it_leaves_running_and_those_it_unpaused():
    assert pipeline_dag_ids()[-3:] == ["warehouse", "policy_matching", "data_sharing"]
    fresh = dags_message([])
    assert fresh == "DAGs running on their schedules: " + ", ".join(pipeline_dag_ids())
    after_demo = dags_message(["policy_matching", "warehouse"]).splitlines()
    assert after_demo[1].endswith(
        "unpaused (an earlier run had left them paused): policy_matching, warehouse"
    )
