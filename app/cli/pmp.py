"""`rxbench-admin pmp pending|export|sent`: the daily prescription-monitoring (ASAP 4.2) files
from the command line, for the script that uploads them to the state."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.errors import ValidationFailed
from app.services.pmp import PmpReportRow


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "pmp",
        help="prescription-monitoring files: days pending, export, record a file sent",
        description=(
            "Each day's schedule II–V dispensing as an ASAP 4.2 file for the state's PMP, a zero "
            "report for a day without any. Files are made in date order, for days that are over."
        ),
    )
    actions = group.add_subparsers(dest="pmp_command", metavar="ACTION", required=True)
    pending = actions.add_parser("pending", help="list the days still without a file")
    _state_option(pending)
    pending.set_defaults(handler=list_pending)

    export = actions.add_parser(
        "export",
        help="make the file of a day (or of every pending day) and save it into a folder",
        description=(
            "Save a day's file into DIR under its own name, making it first when the day has "
            "none; --pending makes and saves every pending day's. A day already made is saved "
            "as it was made unless --again makes it anew (replacing it)."
        ),
    )
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=_date_argument, metavar="YYYY-MM-DD", help="the day")
    which.add_argument("--pending", action="store_true", help="every day without a file")
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to save in")
    export.add_argument("--again", action="store_true", help="make the day's file anew")
    export.add_argument(
        "--reason", default="", help="why the file is made again (required once it was sent)"
    )
    _state_option(export)
    export.set_defaults(handler=export_files)

    sent = actions.add_parser("sent", help="record that a file reached the state's PMP")
    sent.add_argument("--id", type=int, required=True, metavar="N", help="the file's number")
    sent.add_argument("--to", required=True, metavar="DESTINATION", help="where it was sent")
    sent.set_defaults(handler=mark_sent)


def _state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", metavar="XX", help="the PMP's state (default: the pharmacy's)")


def _date_argument(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}” is not a date as YYYY-MM-DD") from None


def _described(row: PmpReportRow) -> str:
    what = "zero report" if row.zero_report else f"{row.record_count} record(s)"
    return f"#{row.report_id} {row.report_date.isoformat()} {row.state}: {what}"


def list_pending(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        days = services.pmp.pending_days(command_line_actor(settings), state=args.state)
    for day in days:
        print(day.isoformat())
    print(f"{len(days)} day(s) without a PMP file." if days else "Every day has its PMP file.")
    return 0


def export_files(args: argparse.Namespace, settings: Settings) -> int:
    if not args.out.is_dir():  # before any file is made, not after
        raise ValidationFailed(f"There is no folder {args.out}.", field="out")
    actor = command_line_actor(settings)
    with opened_services(settings) as services:
        pmp = services.pmp
        if args.pending:
            rows = pmp.generate_pending(actor, state=args.state)
        else:
            current = [
                row
                for row in pmp.reports(actor, state=args.state)
                if row.report_date == args.date and row.status != "replaced"
            ]
            if current and not args.again:
                rows = current
            else:
                rows = [pmp.generate(actor, args.date, state=args.state, reason=args.reason)]
        for row in rows:
            path = pmp.save_file(actor, row.report_id, args.out)
            print(f"{_described(row)} → {path}")
    if not rows:
        print("Every day has its PMP file: nothing to export.")
    return 0


def mark_sent(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        row = services.pmp.mark_sent(command_line_actor(settings), args.id, destination=args.to)
    print(f"{_described(row)}, {row.file_name}: sent to {row.destination}.")
    return 0
