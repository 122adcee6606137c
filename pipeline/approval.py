"""The matching DAG's approval step seen from outside a DAG run: answering it as Airflow's
Required Actions page does, and the command-line approver that `make demo` and the chain use.

Under `dag.test()` (the chain, the demo, the tests) a human-in-the-loop task parks in
AWAITING_INPUT and the run waits until an answer is recorded in the metadata database; no one
clicks in a UI there. The approver thread plays the officer: it approves the run from the
command line (`python -m matching approve`), then answers the Airflow step with the same
decision, so the DAG run finishes and writes the push lists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from groundfloor.settings import PROJECT, matching_paths

MATCHING_DAG = "policy_matching"
APPROVAL_TASK = "approve_run"
DEMO_OFFICER = "演示审核员"


def awaiting_approval(dag_id: str = MATCHING_DAG) -> tuple[str, dict] | None:
    """(Airflow run id, the evaluate step's output) of a run whose approval step waits."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        waiting = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.task_id == APPROVAL_TASK,
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
            )
        ).first()
        if waiting is None:
            return None
        evaluated = waiting.xcom_pull(
            task_ids="evaluate_policies", dag_id=dag_id, run_id=waiting.run_id
        )
        return waiting.run_id, evaluated


def answer(
    dag_run_id: str, chosen: str, officer: str, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """Record an officer's answer to the approval step through Airflow's own HITL endpoint
    handler (the one behind the Required Actions page), against the metadata database."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    payload = UpdateHITLDetailPayload(
        chosen_options=[chosen], params_input={"reason": "", "policies": "", **(params or {})}
    )
    with create_session() as session:
        response = update_hitl_detail(
            dag_id=MATCHING_DAG,
            dag_run_id=dag_run_id,
            task_id=APPROVAL_TASK,
            update_hitl_detail_payload=payload,
            user=SimpleAuthManagerUser(username=officer, role="admin"),
            session=session,
            map_index=-1,
        )
    return response.model_dump()


def approve_from_command_line(matching_run_id: str, officer: str) -> str:
    """`python -m matching approve --run RUN --by OFFICER`, as an officer types it."""
    operations, push = matching_paths()
    done = subprocess.run(
        [sys.executable, "-m", "matching", "approve", "--run", matching_run_id, "--by", officer,
         "--operations", str(operations), "--push-dir", str(push)],
        cwd=PROJECT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return done.stdout


@dataclass
class Approver:
    """A background thread that waits for the approval step and answers it with `decide`."""

    decide: Any  # (airflow run id, evaluated output) -> None
    poll_seconds: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)

    def start(self) -> Approver:
        threading.Thread(target=self._watch, daemon=True, name="approver").start()
        return self

    def _watch(self) -> None:
        while not self.stop.is_set():
            try:
                found = awaiting_approval()
                if found and found[0] not in self.answered:
                    self.decide(*found)
                    self.answered.append(found[0])
            except Exception as error:  # reported by the chain; the DAG run would wait forever
                self.errors.append(error)
                return
            time.sleep(self.poll_seconds)


def command_line_approver(officer: str = DEMO_OFFICER) -> Approver:
    """Approve from the command line, then close the Airflow step with the same answer."""
    approver = Approver(lambda *_: None)

    def decide(dag_run_id: str, evaluated: dict) -> None:
        approver.transcripts.append(approve_from_command_line(evaluated["run_id"], officer))
        answer(dag_run_id, "Approve", officer)

    approver.decide = decide
    return approver
