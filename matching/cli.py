"""`python -m matching COMMAND`: the policy officer's commands.

evaluate --date D [--policy CODE ...]      one matching run (new rows are pending)
pending                                    what awaits a decision
approve --run RUN|latest --by NAME [--policy CODE ...] [--subject KEY ...]
reject  --run RUN|latest --by NAME --reason TEXT [--policy ...] [--subject ...]
revoke  --policy CODE --subject KEY --period P --by NAME --reason TEXT
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from groundfloor.settings import Settings, matching_paths
from matching import approval, explain, payout, reminders, tags, whatif
from matching.engine import DEFAULT_POLICIES, RunResult, evaluate
from matching.policy import PolicyError


def parser() -> argparse.ArgumentParser:
    operations, push = matching_paths()
    root = argparse.ArgumentParser(
        prog="python -m matching", description="免申即享 policy matching"
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("evaluate", help="evaluate policies as of a date")
    run.add_argument("--date", required=True, type=dt.date.fromisoformat, help="evaluation date E")
    run.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="CODE",
        help="only this policy (repeatable); default: every policy file",
    )
    run.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    run.add_argument("--operations", type=Path, default=operations, help="operations store")
    run.add_argument("--push-dir", type=Path, default=push, help="push lists go to DIR/<run id>/")
    run.add_argument("--policies-dir", type=Path, default=DEFAULT_POLICIES)
    run.add_argument("--snapshot-id", help="warehouse snapshot id (default: SHA-256 of the file)")
    run.add_argument("--run-id", help="run id (default: timestamp and random suffix)")
    add_decision_commands(commands, operations, push)
    return root


def add_decision_commands(commands, operations: Path, push: Path) -> None:
    pending = commands.add_parser("pending", help="ledger rows awaiting a decision")
    pending.add_argument("--operations", type=Path, default=operations)
    for name, text in (
        ("approve", "approve a run's pending rows and write their push lists"),
        ("reject", "reject a run's pending rows with a reason (never pushed)"),
    ):
        decide = commands.add_parser(name, help=text)
        decide.add_argument("--run", required=True, help="matching run id, or 'latest'")
        decide.add_argument("--by", required=True, help="the officer's name")
        decide.add_argument("--policy", action="append", default=[], metavar="CODE")
        decide.add_argument("--subject", action="append", default=[], metavar="KEY")
        decide.add_argument("--reason", required=name == "reject")
        decide.add_argument("--operations", type=Path, default=operations)
        decide.add_argument("--push-dir", type=Path, default=push)
    revoke = commands.add_parser("revoke", help="revoke a ledger row with a reason")
    for option in ("--policy", "--subject", "--period", "--by", "--reason"):
        revoke.add_argument(option, required=True)
    revoke.add_argument("--operations", type=Path, default=operations)
    why = commands.add_parser("explain", help="each condition's outcome for a subject on E")
    why.add_argument("--policy", required=True, metavar="CODE")
    why.add_argument("--subject", required=True, metavar="KEY", help="person or enterprise key")
    why.add_argument("--date", required=True, type=dt.date.fromisoformat)
    why.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    why.add_argument("--policies-dir", type=Path, default=DEFAULT_POLICIES)
    why.add_argument("--json", action="store_true", help="print the explanation as JSON")
    draft = commands.add_parser("whatif", help="run a draft policy file on a date (no ledger)")
    draft.add_argument("--draft", required=True, type=Path, help="the draft policy file")
    draft.add_argument("--date", required=True, type=dt.date.fromisoformat)
    draft.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    draft.add_argument("--policies-dir", type=Path, default=DEFAULT_POLICIES,
                       help="where the version in force is looked up")  # fmt: skip
    draft.add_argument("--report", type=Path, help="also write a report (.md or .html)")
    paid = commands.add_parser("payout", help="K23 payout rate and median days to pay")
    paid.add_argument("--date", required=True, type=dt.date.fromisoformat, help="logical date")
    paid.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    paid.add_argument("--operations", type=Path, default=operations)
    tagging = commands.add_parser("tags", help="evaluate the tags as of E and count them")
    tagging.add_argument("--date", required=True, type=dt.date.fromisoformat)
    tagging.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    tagging.add_argument("--operations", type=Path, default=operations)
    tagging.add_argument("--tags-dir", type=Path, default=tags.DEFAULT_TAGS)
    reminding = commands.add_parser("remind", help="record and list the reminders due on E")
    reminding.add_argument("--date", required=True, type=dt.date.fromisoformat)
    reminding.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    reminding.add_argument("--operations", type=Path, default=operations)
    reminding.add_argument("--push-dir", type=Path, default=push / "reminders")
    reminding.add_argument("--reminders-dir", type=Path, default=reminders.DEFAULT_REMINDERS)


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"免申即享 run {result.run_id} · E = {result.evaluation_date}")
    for heading in (
        "policy",
        "period",
        "outcome",
        "matches",
        "new",
        "already granted",
        "near misses",
        "new amount (元)",
    ):
        table.add_column(heading, justify="right" if heading[0] in "mnar" else "left")
    for s in result.summaries:
        table.add_row(
            f"{s.code} {s.name}",
            s.period or "",
            s.outcome,
            str(s.matches),
            str(s.new),
            str(s.already_granted),
            str(s.near_misses),
            f"{s.new_amount:,.2f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # a log or a pipe gets the whole table, not one squeezed to 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=140)
    commands = {
        "evaluate": run_evaluate,
        "pending": show_pending,
        "approve": decide,
        "reject": decide,
        "revoke": revoke,
        "explain": show_explanation,
        "whatif": show_what_if,
        "payout": show_payout,
        "tags": show_tags,
        "remind": show_reminders,
    }
    try:
        return commands[args.command](args, console)
    except (approval.DecisionRefused, LookupError) as refused:
        console.print(f"[red]refused[/red] {refused}", highlight=False)
        return 2


def run_evaluate(args, console: Console) -> int:
    result = evaluate(
        args.date,
        args.warehouse,
        args.operations,
        args.push_dir,
        args.policies_dir,
        args.policies,
        args.run_id,
        args.snapshot_id,
    )
    for error in result.errors:
        console.print(f"[red]refused[/red] {error}", highlight=False)
    console.print(summary_table(result))
    for s in result.summaries:
        if s.outcome == "failed":
            console.print(f"[red]failed[/red] {s.message}", highlight=False)
    pending = sum(s.new for s in result.summaries)
    console.print(
        f"{pending} new ledger rows pending; push lists are written on approval: "
        f"python -m matching approve --run {result.run_id} --by NAME"
    )
    failed = result.errors or any(s.outcome == "failed" for s in result.summaries)
    return 1 if failed else 0


def show_pending(args, console: Console) -> int:
    table = Table(title="待审批 pending ledger rows")
    for heading in ("run", "policy", "period", "rows", "amount (元)"):
        table.add_column(heading)
    for run_id, code, period, rows, amount in approval.pending_by_policy(args.operations):
        table.add_row(run_id, code, period, str(rows), f"{amount:,.2f}")
    console.print(table)
    return 0


def decide(args, console: Console) -> int:
    run_id = approval.latest_run(args.operations) if args.run == "latest" else args.run
    if run_id is None:
        raise approval.DecisionRefused("no matching run in the operations store")
    selection = approval.Selection(run_id, tuple(args.policy), tuple(args.subject))
    officer = approval.Officer(args.by, "cli")
    if args.command == "approve":
        count = approval.approve(args.operations, selection, officer)
        files = approval.release(args.operations, args.push_dir, run_id)
        console.print(f"run {run_id}: {count} rows approved by {args.by}; push lists:")
        for path in files:
            console.print(f"  {path}", highlight=False)
    else:
        count = approval.reject(args.operations, selection, officer, args.reason)
        console.print(f"run {run_id}: {count} rows rejected by {args.by}: {args.reason}")
    return 0


def revoke(args, console: Console) -> int:
    officer = approval.Officer(args.by, "cli")
    approval.revoke(args.operations, args.policy, args.subject, args.period, officer, args.reason)
    console.print(f"revoked {args.policy} {args.subject} {args.period}: {args.reason}")
    return 0


def show_explanation(args, console: Console) -> int:
    policy = explain.find_policy(args.policies_dir, args.policy)
    found = explain.explain(args.warehouse, policy, args.subject, args.date)
    if args.json:
        print(json.dumps({"status": found.status, **found.explanation}, ensure_ascii=False))
        return 0
    title = f"{policy.code} {policy.name} · {found.subject_key} · E = {found.on} ({found.period})"
    table = Table(title=f"{title}: {explain.STATUS_ZH[found.status]}")
    for heading in ("condition", "field", "value", "threshold", "outcome"):
        table.add_column(heading)
    for c in found.explanation["conditions"]:
        colour = {"pass": "green", "fail": "red"}.get(c["outcome"], "yellow")
        table.add_row(c["condition"], c["field"], str(c["value"]), c["threshold"],
                      f"[{colour}]{c['outcome']}[/{colour}]")  # fmt: skip
    console.print(table)
    if not policy.in_force(args.date):
        console.print(f"注意：{policy.code} 在 {args.date} 不在有效期内，评估运行不会对其匹配。")
    console.print(found.explanation_zh, highlight=False)
    for c in found.failing if found.status in ("not_matched", "near_miss") else []:
        console.print(f"不满足/缺失：{c['condition']}（{c['outcome']}）", highlight=False)
    return 0


def show_what_if(args, console: Console) -> int:
    try:
        result = whatif.what_if(args.warehouse, args.draft, args.date, args.policies_dir)
    except PolicyError as refused:
        console.print(f"[red]refused[/red] {refused}", highlight=False)
        return 1
    for line in whatif.headline(result):
        console.print(line, highlight=False)
    for heading, columns, rows in whatif.report_sections(result, listed=20):
        if len(columns) == 1:  # the gains and losses: a line of keys
            console.print(f"{heading}：{'、'.join(str(r[0]) for r in rows)}", highlight=False)
            continue
        table = Table(title=heading)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
    if args.report:
        console.print(f"report: {whatif.write_report(result, args.report)}", highlight=False)
    return 0


def show_payout(args, console: Console) -> int:
    table = Table(title=f"K23 免申即享兑付率 · approvals ≥ 30 days before {args.date}")
    for heading in ("month", "policy", "region", "paid ≤ 30 d", "approved", "K23",
                    "paid ever", "median days"):  # fmt: skip
        table.add_column(heading)
    for row in payout.payout(args.warehouse, args.operations, args.date):
        rate = "–" if row.payout_rate is None else f"{row.payout_rate:.1%}"
        median = "–" if row.median_days_to_pay is None else f"{row.median_days_to_pay:g}"
        table.add_row(f"{row.month:%Y-%m}", row.policy_code, row.region_code or "全部",
                      str(row.paid_within_30_days), str(row.approved), rate,
                      str(row.paid_ever), median)  # fmt: skip
    console.print(table)
    return 0


def show_tags(args, console: Console) -> int:
    tags.evaluate_tags(args.warehouse, args.operations, args.date, args.tags_dir)
    table = Table(title=f"千人千面 tags · E = {args.date}")
    for heading in ("tag", "name", "region", "subjects"):
        table.add_column(heading)
    for code, name, region, count in tags.counts_by_district(args.operations, args.date):
        table.add_row(code, name, region or "（无）", f"{count:,}")
    console.print(table)
    return 0


def show_reminders(args, console: Console) -> int:
    run = reminders.remind(args.warehouse, args.operations, args.push_dir, args.date,
                           args.reminders_dir)  # fmt: skip
    for code, count in run.new.items():
        console.print(f"{code}: {count} new reminders", highlight=False)
    console.print(f"reminder lists: {args.push_dir / run.run_id}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
