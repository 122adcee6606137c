"""Alerts: recorded in the operations store, then delivered by webhook and/or e-mail.

Recording comes first and never depends on delivery: a data officer finds every alert on the
quality dashboard even when the mail relay is down. Delivery failures are recorded too.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS task_alerts (
    alert_id VARCHAR PRIMARY KEY, raised_at TIMESTAMP, severity VARCHAR, dag_id VARCHAR,
    task_id VARCHAR, run_id VARCHAR, logical_date VARCHAR, try_number INTEGER,
    message VARCHAR, delivered_via VARCHAR, delivery_error VARCHAR
)"""


@dataclass
class Alert:
    severity: str
    dag_id: str
    task_id: str
    run_id: str
    logical_date: str
    try_number: int
    message: str
    alert_id: str = ""
    raised_at: str = ""

    def __post_init__(self):
        self.alert_id = self.alert_id or uuid.uuid4().hex
        self.raised_at = self.raised_at or dt.datetime.now().isoformat(timespec="seconds")

    def subject(self) -> str:
        return f"[政务数据平台 {self.severity}] {self.dag_id}.{self.task_id} failed"


def record(alert: Alert, store: Path, delivered_via: str, error: str | None) -> None:
    from groundfloor.warehouse import open_operations_store

    conn = open_operations_store(store)
    try:
        conn.execute(ALERTS_DDL)
        values = asdict(alert)
        conn.execute(
            "INSERT INTO task_alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                values["alert_id"],
                values["raised_at"],
                alert.severity,
                alert.dag_id,
                alert.task_id,
                alert.run_id,
                alert.logical_date,
                alert.try_number,
                alert.message,
                delivered_via,
                error,
            ],
        )
    finally:
        conn.close()


def ensure_table(store: Path) -> None:
    """The alert table exists even before the first alert (the quality dashboard lists it)."""
    from groundfloor.warehouse import open_operations_store

    conn = open_operations_store(store)
    try:
        conn.execute(ALERTS_DDL)
    finally:
        conn.close()


def post_webhook(alert: Alert, url: str) -> None:
    import httpx

    response = httpx.post(url, json={**asdict(alert), "subject": alert.subject()}, timeout=10)
    response.raise_for_status()


def send_mail(alert: Alert, host: str, port: int, sender: str, recipients: tuple[str, ...]) -> None:
    message = EmailMessage()
    message["Subject"] = alert.subject()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(json.dumps(asdict(alert), ensure_ascii=False, indent=2))
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)


def deliver(alert: Alert) -> tuple[str, str | None]:
    """Deliver through every configured channel: (channels used, errors or None)."""
    from groundfloor.settings import alert_settings

    settings = alert_settings()
    used, errors = [], []
    if settings.webhook_url:
        used.append("webhook")
        try:
            post_webhook(alert, settings.webhook_url)
        except Exception as error:  # delivery must not hide the alert itself
            errors.append(f"webhook: {error}")
    if settings.smtp_host and settings.email_to:
        used.append("smtp")
        try:
            send_mail(
                alert,
                settings.smtp_host,
                settings.smtp_port,
                settings.email_from,
                settings.email_to,
            )
        except Exception as error:
            errors.append(f"smtp: {error}")
    return ",".join(used) or "none", "; ".join(errors) or None


def raise_alert(alert: Alert) -> Alert:
    from groundfloor.settings import matching_paths

    store, _ = matching_paths()
    via, error = deliver(alert)
    record(alert, store, via, error)
    return alert


def on_task_failure(context) -> None:
    """Airflow on_failure_callback: one alert per failed task try that will not be retried."""
    ti = context["ti"]
    logical = context.get("logical_date")
    raise_alert(
        Alert(
            severity="critical",
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            logical_date=logical.isoformat() if logical else "",
            try_number=int(getattr(ti, "try_number", 0) or 0),
            message=str(context.get("exception") or "task failed"),
        )
    )
