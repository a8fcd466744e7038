"""The inventory PDF: read back with pypdf, it states everything 21 CFR 1304.11 asks for, on
Letter pages numbered "n of N", with the heading and column titles repeated on every page."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest

from app.errors import PrintJobFailed
from app.services.controlled import InventoryReport, Registrant, ReportLine, ScheduleTotal
from ui.reports.controlled_inventory import render_inventory_pdf

LETTER = (612.0, 792.0)  # points


def line(schedule: str, ndc: str, drug: str, total: int, *, exact: bool, ledger: int) -> ReportLine:
    return ReportLine(
        schedule=schedule,
        ndc=ndc,
        drug=drug,
        package_units=Decimal(100),
        sealed_containers=total // 100,
        opened_quantity=Decimal(total % 100),
        total=Decimal(total),
        exact=exact,
        ledger_balance=Decimal(ledger),
        note="",
    )


def report(*, extra_lines: int = 0, timing: str = "close") -> InventoryReport:
    schedule_ii = (
        line("CII", "65162-047-10", "Oxycodone 5 mg tablet", 248, exact=True, ledger=250),
    )
    others = tuple(
        line(
            "CIV",
            f"00000-{index:03d}-01",
            f"Alprazolam {index} mg tablet",
            75,
            exact=False,
            ledger=75,
        )
        for index in range(extra_lines)
    ) or (line("CIV", "00093-5300-01", "Alprazolam 0.5 mg tablet", 75, exact=False, ledger=75),)
    return InventoryReport(
        inventory_id=7,
        kind="biennial",
        timing=timing,
        taken_on=date(2026, 11, 2),
        registrant=Registrant(
            name="Main Street Pharmacy",
            address="12 Main Street, Springfield, IL 62701",
            dea_number="BT1234563",
        ),
        taken_by="Tess Tech (tess)",
        witness="Phil Pharm (phil)",
        recorded_at=datetime(2026, 11, 2, 22, 5, tzinfo=UTC),
        note="",
        schedule_ii=schedule_ii,
        schedules_iii_v=others,
        totals=(
            ScheduleTotal("CII", 1, Decimal(248)),
            ScheduleTotal("CIV", len(others), Decimal(75) * len(others)),
        ),
    )


def pages_text(path: Path) -> list[str]:
    """Each page's words, one space apart (pypdf gives the gaps between words as tabs)."""
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages]


def test_one_page_inventory_states_every_required_element(qapp, tmp_path: Path) -> None:
    path = tmp_path / "inventory.pdf"

    assert render_inventory_pdf(report(), path) == 1

    reader = pypdf.PdfReader(path)
    [page] = reader.pages
    assert (float(page.mediabox.width), float(page.mediabox.height)) == LETTER
    [text] = pages_text(path)
    for expected in (
        "Biennial inventory",
        "Main Street Pharmacy",
        "12 Main Street, Springfield, IL 62701",
        "BT1234563",
        "Taken at the close of business on 2026-11-02",
        "SCHEDULE II",
        "SCHEDULES III, IV AND V",
        "65162-047-10",
        "00093-5300-01",
        "exact",
        "estimated",
        "Schedule II: 1 package NDC, 248 units",
        "Lines that differ from the ledger: 1",
        "Taken by: Tess Tech (tess)",
        "Witness: Phil Pharm (phil)",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    # Schedule II comes before III–V, and its difference from the ledger is shown.
    assert text.index("65162-047-10") < text.index("SCHEDULES III") < text.index("00093-5300-01")
    assert "-2" in text


def test_a_long_drug_name_is_printed_whole_over_several_lines(qapp, tmp_path: Path) -> None:
    long_name = "Oxycodone hydrochloride and acetaminophen 10 mg/325 mg extended-release tablet"
    long = report()
    path = tmp_path / "long-name.pdf"
    render_inventory_pdf(
        replace(long, schedule_ii=(replace(long.schedule_ii[0], drug=long_name),)), path
    )
    text = pages_text(path)[0]
    assert long_name in text
    assert text.index(long_name) < text.index("SCHEDULES III")


def test_opening_of_business_is_stated(qapp, tmp_path: Path) -> None:
    path = tmp_path / "opening.pdf"
    render_inventory_pdf(report(timing="opening"), path)
    assert "Taken at the opening of business on 2026-11-02" in pages_text(path)[0]


def test_long_inventory_repeats_headings_on_every_numbered_page(qapp, tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"

    pages = render_inventory_pdf(report(extra_lines=90), path)

    texts = pages_text(path)
    assert pages == len(texts) >= 2
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {pages}" in text
        assert "Main Street Pharmacy" in text and "BT1234563" in text
        assert "Taken at the close of business on 2026-11-02" in text
    assert "(continued)" in texts[1] and "Units/pkg" in texts[1] and "Difference" in texts[1]
    every = "".join(texts)
    assert all(f"00000-{index:03d}-01" in every for index in range(90))


def test_unwritable_path_is_an_environment_fault(qapp, tmp_path: Path) -> None:
    with pytest.raises(PrintJobFailed, match="Could not write the inventory PDF"):
        render_inventory_pdf(report(), tmp_path / "missing" / "inventory.pdf")
