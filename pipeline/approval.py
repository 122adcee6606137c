"""The matching DAG's approval step seen from outside a DAG run: answering it as Airflow's
Required Actions page does, and the command-line approver that `make demo` and the chain use.

Under `dag.test()` (the chain, the demo, the tests) a human-in-the-loop task parks in
AWAITING_INPUT and the run waits until an answer is recorded in the metadata database; no one
clicks in a UI there. The approver thread plays the officer: it approves the run from the
command line (`python -m matching approve`), then answers the Airflow step with the same
decision, so the DAG run finishes and writes the push lists.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def wait_and_answer(
    chosen: str,
    officer: str,
    params: dict[str, str] | None = None,
    on_command_line: bool = False,
    timeout_seconds: float = 1800,
) -> str:
    """Wait for the approval step to park, then answer it; with `on_command_line`, first
    approve the matching run with `python -m matching approve` as the officer would."""
    deadline = time.monotonic() + timeout_seconds
    while (found := awaiting_approval()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no approval step waited for an answer")
        time.sleep(1)
    dag_run_id, evaluated = found
    transcript = ""
    if on_command_line:
        transcript = approve_from_command_line(evaluated["run_id"], officer)
    answer(dag_run_id, chosen, officer, params)
    return transcript


@dataclass
class Approver:
    """The officer outside the DAG run: a process of its own (`python -m pipeline.approval`),
    because a thread importing Airflow's models while dag.test() does the same in the main
    thread can deadlock on SQLAlchemy's mapper configuration."""

    chosen: str
    officer: str
    params: dict[str, str] = field(default_factory=dict)
    on_command_line: bool = False
    process: subprocess.Popen | None = None

    def start(self) -> Approver:
        command = [sys.executable, "-m", "pipeline.approval", self.chosen, self.officer,
                   "--params", json.dumps(self.params, ensure_ascii=False)]  # fmt: skip
        if self.on_command_line:
            command.append("--on-command-line")
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def finish(self, grace_seconds: float = 60) -> tuple[int | None, str, str]:
        """(exit code, output, errors). The process has answered by the time the DAG run ends
        but may still be closing; one still waiting after the grace period (the DAG failed
        before the approval step) is ended."""
        assert self.process is not None
        try:
            out, err = self.process.communicate(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err

    def stop(self) -> tuple[int | None, str, str]:
        """End the approver of a run that asked no one (nothing to approve): it would wait
        for a step that never parks. (None, output, errors)."""
        assert self.process is not None
        self.process.terminate()
        out, err = self.process.communicate(timeout=60)
        return None, out, err


def command_line_approver(officer: str = DEMO_OFFICER) -> Approver:
    """Approve from the command line, then close the Airflow step with the same answer."""
    return Approver("Approve", officer, on_command_line=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.approval", description=__doc__)
    parser.add_argument("chosen", choices=["Approve", "Reject"])
    parser.add_argument("officer")
    parser.add_argument("--params", default="{}", help="JSON: reason, policies")
    parser.add_argument("--on-command-line", action="store_true")
    args = parser.parse_args(argv)
    print(wait_and_answer(args.chosen, args.officer, json.loads(args.params),
                          args.on_command_line))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
