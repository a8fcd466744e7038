"""`rxbench-admin identify TEXT`: what a scanned or typed code means, optionally judged."""

from __future__ import annotations

import argparse
import json
import re

from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.domain.barcodes import GS
from app.services.identify import OK, UNKNOWN, Identification

# Shells cannot easily pass ASCII 29, so its usual spellings stand for it.
_GS_SPELLINGS = re.compile(r"\\x1d|<GS>", re.IGNORECASE)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "identify",
        help="say what a scanned barcode or typed NDC means",
        description=(
            "Interpret a scan (UPC-A, EAN-13, GTIN-14, GS1 DataMatrix/GS1-128 element string, "
            "typed NDC or an RxBench Rx label) and find its package in the drug catalogue. The "
            "GS1 separator may be given as the character itself (ASCII 29), as the four "
            "characters \\x1d or as <GS>, e.g. '0100300937426561172512001012345<GS>21ABC'."
        ),
        epilog=(
            "Exit codes: 0 the package was identified (and, with --expect, is a match); 1 "
            "otherwise; 2 database or environment fault."
        ),
    )
    command.add_argument("text", metavar="TEXT", help="what the scanner sent, or an NDC")
    command.add_argument(
        "--json", action="store_true", help="print one JSON object (every key, nulls included)"
    )
    command.add_argument(
        "--expect",
        metavar="NDC",
        help="the NDC the prescription asks for (any form): also print the verdict",
    )
    command.add_argument(
        "--gs-substitute",
        metavar="C",
        help="the character the scanner is set to send for GS (e.g. ^)",
    )
    command.set_defaults(handler=identify)


def scanned_text(argument: str) -> str:
    """The argument with \\x1d and <GS> turned into the GS character a scanner sends."""
    return _GS_SPELLINGS.sub(GS, argument)


def identify(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        found = services.identify.identify(
            command_line_actor(settings),
            scanned_text(args.text),
            expect=args.expect,
            gs_substitute=args.gs_substitute,
        )
        empty = found.status == UNKNOWN and services.catalogue.snapshot() is None
    if args.json:
        print(json.dumps(found.as_json(), ensure_ascii=False))
    else:
        _print_lines(found)
        if empty:
            print("The drug catalogue is empty: run “rxbench-admin catalogue import FILE”.")
    judged_ok = found.judgement is None or found.judgement.verdict == "match"
    return 0 if found.status == OK and judged_ok else 1


def _print_lines(found: Identification) -> None:
    fields = found.as_json()
    lines = [
        ("Status", found.status),
        ("Kind", found.kind),
        ("NDC", f"{found.ndc} (NDC-11 {found.ndc11})" if found.ndc and found.ndc11 else found.ndc),
        ("Product", found.product),
        ("Package", found.package),
        ("Schedule", found.dea_schedule),
        ("GTIN", found.gtin),
        ("Lot", found.lot),
        ("Expiry", fields["expiry"]),
        ("Serial", found.serial),
        ("Rx", found.rx),
        ("Fill", None if found.fill is None else str(found.fill)),
        ("Could be", ", ".join(found.candidates) or None),
        ("Note", found.message),
    ]
    if found.judgement is not None:
        lines.append(("Verdict", found.judgement.verdict.value))
        lines.append(("Why", found.judgement.message))
        lines.extend(("Warning", warning) for warning in found.judgement.warnings)
        if found.judgement.requires is not None:
            lines.append(("Requires", found.judgement.requires.value))
    for label, value in lines:
        if value:
            print(f"{label + ':':<10}{value}")
