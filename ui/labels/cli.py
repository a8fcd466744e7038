"""`rxbench-admin label`: a fill's label, or every printable fill's, exported to PDF files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from app.bootstrap import Services
from app.cli import UsageError
from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.domain.labels import LabelLanguage, LabelStock
from app.errors import PrintJobFailed, ValidationFailed
from app.services.unit_of_work import Actor


def register(commands: argparse._SubParsersAction[Any]) -> None:
    command = commands.add_parser(
        "label",
        help="export a prescription label (or every printable one) to PDF",
        description=(
            "Export the label of Rx RX (its latest fill, or fill N) to the PDF file FILE, or with "
            "--all the current label of every fill whose label may be printed into the folder "
            "DIR, one file per fill named <rx>-<fill>.pdf. The PDF is the label exactly as the "
            "printer gets it, one page per label (per sheet on a sheet stock). An export is a "
            "preview for delivery routes and support, not a print: it is audited as an export, "
            "does not count as the original print and is never marked REPRINT, and a fill not "
            "yet past the pharmacist's data review exports too (the command says so)."
        ),
        epilog=(
            "Exit codes: 0 exported; 1 no such Rx or fill, or invalid input; 2 the PDF could not "
            "be written or the database is unreachable."
        ),
    )
    command.add_argument("rx", nargs="?", metavar="RX", help="the Rx number")
    command.add_argument("--fill", type=int, metavar="N", help="the fill number (0 = original)")
    command.add_argument("--all", action="store_true", help="every fill whose label may be printed")
    command.add_argument(
        "--pdf", required=True, metavar="FILE|DIR", help="the PDF file (with --all: the folder)"
    )
    command.add_argument(
        "--stock",
        metavar="NAME",
        help="the label stock, by (part of) its name, e.g. thermal or letter; "
        "default: the first stock",
    )
    command.add_argument(
        "--language",
        choices=[language.value for language in LabelLanguage],
        help="the directions' language; default: the patient's",
    )
    command.set_defaults(handler=export_labels)


def export_labels(args: argparse.Namespace, settings: Settings) -> int:
    if args.all == bool(args.rx):
        raise UsageError("Name one Rx number, or give --all (not both).")
    if args.all and args.fill is not None:
        raise UsageError("--fill goes with an Rx number, not with --all.")
    # Qt loads only for this command, so every other command starts as quickly as before.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    # Fonts and paint devices need an application object (PySide keeps it alive); a test
    # already has one.
    if QGuiApplication.instance() is None:
        QGuiApplication(["rxbench-admin"])
    language = LabelLanguage(args.language) if args.language else None
    with opened_services(settings) as services:
        actor = command_line_actor(settings)
        stock = _stock(services, args.stock)
        target = Path(args.pdf)
        if not args.all:
            fill_id = services.labels.find_fill(actor, args.rx, args.fill)
            _export(services, actor, fill_id, stock, target, language, notes=True)
            return 0
        fills = services.labels.labelled_fills(actor)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PrintJobFailed(
                f"Could not create the folder {target}: {exc.strerror}. Choose a folder you may "
                "write to.",
                path=str(target),
            ) from exc
        for fill in fills:
            path = target / f"{fill.rx_number}-{fill.fill_number}.pdf"
            _export(services, actor, fill.fill_id, stock, path, language, notes=False)
        print(f"Exported {_counted(len(fills), 'label PDF')} to {target}.")
    return 0


def _stock(services: Services, wanted: str | None) -> LabelStock:
    stocks = services.labels.stocks()
    if wanted is None:
        return stocks[0]
    key = wanted.strip().casefold()
    exact = [stock for stock in stocks if stock.name.casefold() == key]
    found = exact or [stock for stock in stocks if key and key in stock.name.casefold()]
    if len(found) == 1:
        return found[0]
    names = "; ".join(stock.name for stock in stocks)
    which = "matches several stocks" if found else "is not a label stock"
    raise ValidationFailed(f"“{wanted}” {which}. The stocks: {names}.", stock=wanted)


def _export(
    services: Services,
    actor: Actor,
    fill_id: int,
    stock: LabelStock,
    path: Path,
    language: LabelLanguage | None,
    *,
    notes: bool,
) -> None:
    from ui.labels.output import render_pdf

    contents = services.labels.contents(actor, fill_id, language=language)
    outcome = render_pdf(contents, stock, path)
    services.labels.record_export(actor, fill_id, str(path))
    first = contents[0]
    amount = f"{_counted(outcome.labels, 'label')}, {_counted(outcome.pages, 'page')}"
    print(f"Rx {first.rx_number}-{first.fill_number}: {amount} → {path}")
    if outcome.missing_characters:
        print(f"  Warning: no installed font draws {outcome.missing_characters!r}.")
    if notes:
        for notice in first.notices:
            print(f"  Note: {notice}")


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
