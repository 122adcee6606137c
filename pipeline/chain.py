"""Run the whole chain through Airflow for one logical date: every ingestion DAG, then the
warehouse DAG, then policy matching and data sharing, each as an Airflow DAG run (`dag.test`,
in this process, against the metadata database of the current AIRFLOW_HOME).

The matching DAG waits for an officer's approval (a human-in-the-loop step); here an approver
thread approves from the command line as `approve_as` and answers the step (pipeline/approval.py).

The scheduler would start the warehouse and matching DAGs from the assets the ingestion DAGs
update; here they run in that order for the same logical date, which is what `make demo`, the
end-to-end tests and a re-run of a past date need.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.assets import SYSTEMS

DOWNSTREAM = ("warehouse", "policy_matching", "data_sharing")


@dataclass
class ChainResult:
    logical_date: dt.datetime
    states: dict[str, str] = field(default_factory=dict)
    failed_tasks: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(state == "success" for state in self.states.values())


def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.airflow_setup import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag


def run_dag(dag, logical_date: dt.datetime, result: ChainResult) -> str:
    run = dag.test(logical_date=logical_date)
    state = str(run.state.value if hasattr(run.state, "value") else run.state)
    result.states[dag.dag_id] = state
    instances = run.get_task_instances()
    result.failed_tasks[dag.dag_id] = [ti.task_id for ti in instances if ti.state == "failed"]
    for ti in instances:
        if ti.state == "success":
            value = ti.xcom_pull(task_ids=ti.task_id, dag_id=dag.dag_id, run_id=run.run_id)
            if isinstance(value, dict):
                result.outputs[f"{dag.dag_id}.{ti.task_id}"] = value
    return state


def run_matching(dag, logical_date: dt.datetime, result: ChainResult, approve_as: str) -> str:
    """The matching DAG with an officer approving its run from the command line meanwhile;
    a run with nothing to approve asks no one, and the officer is sent home."""
    from pipeline.approval import command_line_approver

    approver = command_line_approver(approve_as).start()
    try:
        state = run_dag(dag, logical_date, result)
    finally:
        asked = "policy_matching.nothing_to_approve" not in result.outputs
        code, out, err = approver.finish() if asked else approver.stop()
    result.outputs["policy_matching.approval"] = {
        "officer": approve_as,
        "command_line": out,
        "errors": err if code else "",
    }
    return state


def run_chain(
    logical_date: dt.datetime,
    systems: tuple[str, ...] = SYSTEMS,
    announce: Callable[[str], None] = print,
    approve_as: str = "演示审核员",
) -> ChainResult:
    """Ingestion DAGs of `systems`, then the warehouse and matching DAGs if any load succeeded."""
    bag = dag_bag()
    result = ChainResult(logical_date)
    for system in systems:
        announce(f"ingest_{system}")
        run_dag(bag.dags[f"ingest_{system}"], logical_date, result)
    if not any(result.states[f"ingest_{s}"] == "success" for s in systems):
        return result
    for dag_id in DOWNSTREAM:
        announce(dag_id)
        dag = bag.dags[dag_id]
        if dag_id == "policy_matching":
            state = run_matching(dag, logical_date, result, approve_as)
        else:
            state = run_dag(dag, logical_date, result)
        if state != "success":
            break
    return result
