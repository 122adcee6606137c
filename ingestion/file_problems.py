"""Files of a drop that were not loaded, and why (issue 29: one bad file must not block all).

A file-drop connector sets a file aside instead of failing the system's load: a file it
cannot read as the convention says is *rejected* (kept in the inbox, its month waits for a
good delivery); an entry whose name is outside the naming convention is *ignored*. Each is
recorded in ``meta.file_problems`` with its name and reason, and alerted in ``meta.alerts``
(rejected: warning; ignored: info), inside the system's load transaction.

A problem is recorded and alerted once per content: the same bad file lying in the inbox run
after run is not alerted again; a new content under that name (a re-delivery that is still
bad) is. The content is told by SHA-256 when the file was read, else (an ignored entry, or a
file that could not be read) by its size and modification time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REJECTED = "rejected"
IGNORED = "ignored"
ALERTS = {REJECTED: ("warning", "file_rejected"), IGNORED: ("info", "file_ignored")}


@dataclass(frozen=True)
class FileProblem:
    file_name: str
    status: str  # rejected | ignored
    reason: str
    month: str | None = None
    size: int | None = None
    sha256: str | None = None
    arrival: str | None = None  # YYYY-MM-DD HH:MM:SS, Asia/Shanghai

    def fingerprint(self) -> tuple:
        content = self.sha256 if self.sha256 else (self.size, self.arrival)
        return (self.file_name, self.status, content)

    def message(self) -> str:
        if self.status == REJECTED:
            return f"{self.file_name} kept in the inbox, not loaded: {self.reason}"
        return f"{self.file_name} ignored: {self.reason}"


def recorded_fingerprints(conn, system: str) -> set[tuple]:
    rows = conn.execute(
        "SELECT file_name, status, reason, month, size, sha256, "
        "strftime(arrival, '%Y-%m-%d %H:%M:%S') FROM meta.file_problems WHERE system = ?",
        [system],
    ).fetchall()
    return {FileProblem(*row).fingerprint() for row in rows}


def record_file_problems(
    conn, system: str, table: str | None, problems: Iterable[FileProblem], load_id: str, now
) -> list[FileProblem]:
    """Record and alert the problems not recorded before (by content); returns those."""
    known = recorded_fingerprints(conn, system)
    new = []
    for problem in problems:
        if problem.fingerprint() in known:
            continue
        known.add(problem.fingerprint())
        new.append(problem)
        stamp = now()
        conn.execute(
            "INSERT INTO meta.file_problems VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [system, problem.file_name, problem.month, problem.status, problem.reason,
             problem.size, problem.sha256, problem.arrival, load_id, stamp],
        )  # fmt: skip
        severity, kind = ALERTS[problem.status]
        about = table if problem.status == REJECTED else None  # an ignored name is no table's
        conn.execute(
            "INSERT INTO meta.alerts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [stamp, system, about, severity, kind, problem.message(), load_id],
        )
    return new


def problems_note(problems: Iterable[FileProblem]) -> str | None:
    """The run's note for meta.loads: every file rejected in this run (new or not)."""
    rejected = [p for p in problems if p.status == REJECTED]
    if not rejected:
        return None
    return "; ".join(p.message() for p in rejected)
