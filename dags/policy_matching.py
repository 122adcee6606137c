"""免申即享: when new themes are published, evaluate every active policy for the run's date; a
policy officer approves (or rejects, with a reason) the run's new ledger rows in Airflow's
Required Actions page before any push list is written; a run that left no row pending asks
no one and ends as "nothing to approve". The reminders due on the date are recorded and listed
beside the approval."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, Param, task

from pipeline.alerts import on_task_failure
from pipeline.assets import MATCH_LEDGER_ASSET, START_DATE, THEMES_ASSET, WAREHOUSE_WRITER_POOL

EVALUATED = "ti.xcom_pull(task_ids='evaluate_policies')"

with DAG(
    dag_id="policy_matching",
    description="Evaluate the 免申即享 policies, record the match ledger, approve, push lists",
    schedule=[THEMES_ASSET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(days=7),  # the officer may take days to decide
    tags=["matching", "免申即享"],
) as policy_matching:

    @task(
        task_id="evaluate_policies",
        pool=WAREHOUSE_WRITER_POOL,
        outlets=[MATCH_LEDGER_ASSET],
        on_failure_callback=on_task_failure,
        retries=1,
        retry_delay=dt.timedelta(minutes=2),
    )
    def evaluate_policies(**context):
        from pipeline import dates, tasks

        return tasks.evaluate_policies(dates.evaluation_date(context))

    @task.branch(task_id="ask_officer")
    def ask_officer(**context):
        from pipeline import tasks

        return tasks.ask_officer(context["ti"].xcom_pull("evaluate_policies"))

    @task(task_id="nothing_to_approve", on_failure_callback=on_task_failure)
    def nothing_to_approve(**context):
        from pipeline import tasks

        return tasks.nothing_to_approve(context["ti"].xcom_pull("evaluate_policies"))

    # A HITLOperator rather than ApprovalOperator: the latter skips everything downstream on
    # "Reject", and a rejection must still be written to the ledger with its reason.
    approve_run = HITLOperator(
        task_id="approve_run",
        subject="免申即享 审批：{{ " + EVALUATED + "['run_id'] }}",
        body="{{ " + EVALUATED + "['approval_body'] }}",
        options=["Approve", "Reject"],
        # nullable: Airflow's form marks a non-null field required and greys out the buttons
        # until it is filled, and both may be left empty (all policies; no reason on approval)
        params={
            "reason": Param(None, type=["null", "string"], description="驳回原因（驳回时必填）"),
            "policies": Param(
                None,
                type=["null", "string"],
                description="只审批这些政策（如 GLJT,CJLB；留空为全部）",
            ),
        },
        on_failure_callback=on_task_failure,
    )

    @task(task_id="record_decision", on_failure_callback=on_task_failure)
    def record_decision(response, **context):
        from pipeline import tasks

        return tasks.record_decision(context["ti"].xcom_pull("evaluate_policies"), response)

    @task(task_id="write_push_lists", on_failure_callback=on_task_failure)
    def write_push_lists(**context):
        from pipeline import tasks

        return tasks.write_push_lists(context["ti"].xcom_pull("evaluate_policies"))

    # reminders announce no benefit: they need no approval and run beside it
    @task(task_id="send_reminders", pool=WAREHOUSE_WRITER_POOL, on_failure_callback=on_task_failure)
    def send_reminders(**context):
        from pipeline import dates, tasks

        return tasks.send_reminders(dates.evaluation_date(context))

    # the officer's views (tags, K23 payout) read the warehouse and the ledger as they are
    @task(
        task_id="tags_and_payout", pool=WAREHOUSE_WRITER_POOL, on_failure_callback=on_task_failure
    )
    def tags_and_payout(**context):
        from pipeline import dates, tasks

        return tasks.tags_and_payout(dates.evaluation_date(context))

    evaluated = evaluate_policies()
    evaluated >> ask_officer() >> [approve_run, nothing_to_approve()]
    evaluated >> send_reminders()
    evaluated >> tags_and_payout()
    record_decision(approve_run.output) >> write_push_lists()
