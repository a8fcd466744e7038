"""`rxbench-admin catalogue import|search`: load the FDA NDC Directory, look a drug up."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TextIO

from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.errors import ValidationFailed

_BAR_WIDTH = 30


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("catalogue", help="import the FDA NDC Directory or search it")
    actions = group.add_subparsers(dest="catalogue_command", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import",
        help="import or refresh the drug catalogue from the FDA NDC Directory download",
        description=(
            "Import the FDA NDC Directory (the ndctext.zip download, or a folder holding its "
            "product.txt and package.txt). All or nothing; products the FDA no longer lists are "
            "kept and marked discontinued, never deleted."
        ),
    )
    load.add_argument("file", type=Path, metavar="FILE", help="ndctext.zip or its folder")
    load.add_argument(
        "--snapshot-date",
        type=_date_argument,
        metavar="YYYY-MM-DD",
        help="the date the FDA published the file (default: the date stamped in the zip)",
    )
    load.set_defaults(handler=import_catalogue)
    search = actions.add_parser("search", help="search the catalogue by name, ingredient or NDC")
    search.add_argument("text", metavar="TEXT", help="a name, ingredient, strength or NDC")
    search.add_argument("--limit", type=int, default=20, help="at most this many hits (20)")
    search.set_defaults(handler=search_catalogue)


def _date_argument(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}” is not a date as YYYY-MM-DD") from None


def progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    """A one-line bar redrawn in place, only when the percentage changes."""
    shown = -1

    def draw(done: int, total: int) -> None:
        nonlocal shown
        percent = 100 * done // max(total, 1)
        if percent == shown:
            return
        shown = percent
        filled = _BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        stream.write(f"\rImporting [{bar}] {percent:3d}%")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return draw


def import_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.exists():
        raise ValidationFailed(f"There is no file or folder {args.file}.", file=str(args.file))
    with opened_services(settings) as services:
        report = services.catalogue.import_directory(
            command_line_actor(settings),
            args.file,
            snapshot_date=args.snapshot_date,
            progress=progress_bar(sys.stderr),
        )
    print(f"Imported the FDA NDC Directory of {report.snapshot_date} from {report.source_name}:")
    print(
        f"  products: {report.products:,} ({report.products_added:,} new, "
        f"{report.products_updated:,} updated, {report.products_discontinued:,} newly "
        "discontinued)"
    )
    print(
        f"  packages: {report.packages:,} ({report.packages_added:,} new, "
        f"{report.packages_updated:,} updated, {report.packages_discontinued:,} newly "
        "discontinued)"
    )
    print(
        f"  products without packages (kept, not dispensable): {report.products_without_packages:,}"
    )
    print(f"  repeated package rows merged: {report.package_rows_merged:,}")
    print(f"  texts longer than their field, shortened: {report.values_shortened:,}")
    print(
        f"  packages whose billing quantity a pharmacist must enter: "
        f"{report.packages_billing_unknown:,}"
    )
    return 0


def search_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        snapshot = services.catalogue.snapshot()
        hits = services.catalogue.search(command_line_actor(settings), args.text, limit=args.limit)
    if snapshot is None:
        print("The drug catalogue is empty: run “rxbench-admin catalogue import FILE”.")
        return 1
    for hit in hits:
        flags = [
            label
            for label, on in (
                (hit.dea_schedule or "", bool(hit.dea_schedule)),
                ("discontinued", hit.discontinued),
                ("excluded", hit.excluded),
                ("sample", hit.sample),
            )
            if on
        ]
        marks = f"  [{', '.join(flags)}]" if flags else ""
        print(
            f"{hit.ndc:<13} {hit.display_name} {hit.strength} {hit.dosage_form} — {hit.labeler}"
            f"{marks}\n{'':<14}{hit.package_description}"
        )
    print(f"{len(hits)} found; drug data from the FDA directory of {snapshot.snapshot_date}.")
    return 0
