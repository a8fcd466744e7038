"""`rxbench-admin controlled-inventory`: list the DEA inventories taken, export one as PDF/CSV."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from app.cli import UsageError
from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.errors import PrintJobFailed
from app.services.controlled import INVENTORY_KINDS, INVENTORY_TIMINGS, inventory_csv


def register(commands: argparse._SubParsersAction[Any]) -> None:
    command = commands.add_parser(
        "controlled-inventory",
        help="list the controlled-substance inventories, or export one to PDF and/or CSV",
        description=(
            "With --list, every DEA controlled-substance inventory taken (biennial, initial, "
            "schedule change), newest first. With --id N, export inventory N: --pdf FILE writes "
            "the signed-report layout (Letter pages, schedule II apart), --csv FILE one line per "
            "package NDC with the columns the README documents. Each export is audited."
        ),
        epilog="Exit codes: 0 done; 1 no such inventory or invalid input; 2 a file could not "
        "be written or the database is unreachable.",
    )
    command.add_argument("--list", action="store_true", help="list the inventories taken")
    command.add_argument("--id", type=int, metavar="N", help="the inventory to export")
    command.add_argument("--pdf", metavar="FILE", help="write inventory N as a PDF file")
    command.add_argument("--csv", metavar="FILE", help="write inventory N as a CSV file")
    command.set_defaults(handler=controlled_inventory)


def controlled_inventory(args: argparse.Namespace, settings: Settings) -> int:
    if args.list == (args.id is not None):
        raise UsageError("Give --list, or --id N with --pdf FILE and/or --csv FILE.")
    if args.id is not None and not (args.pdf or args.csv):
        raise UsageError("Say where inventory N goes: --pdf FILE and/or --csv FILE.")
    if args.list and (args.pdf or args.csv):
        raise UsageError("--pdf and --csv go with --id N, not with --list.")
    with opened_services(settings) as services:
        actor = command_line_actor(settings)
        controlled = services.controlled
        if args.list:
            inventories = controlled.inventories(actor)
            for summary in inventories:
                print(
                    f"{summary.inventory_id:>5}  {summary.taken_on.isoformat()}  "
                    f"{INVENTORY_KINDS[summary.kind]}, {INVENTORY_TIMINGS[summary.timing]}; "
                    f"{summary.lines} lines; taken by {summary.taken_by}"
                )
            if not inventories:
                print("No controlled-substance inventory has been taken yet.")
            return 0
        report = controlled.report(actor, args.id)
        if args.csv:
            path = Path(args.csv)
            try:
                path.write_text(inventory_csv(report), encoding="utf-8", newline="")
            except OSError as exc:
                raise PrintJobFailed(
                    f"Could not write the inventory CSV {path}: {exc.strerror}. Choose a folder "
                    "you may write to.",
                    path=str(path),
                ) from exc
            controlled.record_export(
                actor, report.inventory_id, file_format="csv", destination=str(path)
            )
            print(f"Inventory {report.inventory_id} → {path}")
        if args.pdf:
            # Qt loads only for the PDF, so the rest starts as quickly as any other command.
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
            from PySide6.QtGui import QGuiApplication

            from ui.reports.controlled_inventory import render_inventory_pdf

            if QGuiApplication.instance() is None:
                QGuiApplication(["rxbench-admin"])
            pages = render_inventory_pdf(report, args.pdf)
            controlled.record_export(
                actor, report.inventory_id, file_format="pdf", destination=str(args.pdf)
            )
            plural = "" if pages == 1 else "s"
            print(f"Inventory {report.inventory_id}: {pages} page{plural} → {args.pdf}")
    return 0
