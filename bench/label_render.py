"""Label rendering time: one label to its own PDF, and a 200-label batch to one PDF.

In-process, as the Label dock and `rxbench-admin label` call `ui.labels.output.render_pdf`:
realistic labels (names from 8 to 40 characters, Vietnamese and Spanish among them, directions
from one line to several, schedule II fills of three containers with the transfer caution,
reprints, large print) laid out and painted at 600 dpi on the 4 × 2.25 in thermal stock and on
the letter sheet of ten. Layout alone is timed too, and the CPU time of each single-label PDF
beside its wall time, for a machine shared with other work. Targets: ≤ 25 ms per label, ≤ 5 s
per batch. Line breaks are cached across labels, as in a running workstation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtGui import QGuiApplication

from app.domain.labels import (
    LETTER_SHEET_4X3_33,
    THERMAL_VIAL_4X2_25,
    LabelContent,
    LabelLanguage,
    PharmacyHeading,
)
from ui.labels.output import PDF_DPI, render_pdf
from ui.labels.render import layout_label

PHARMACY = PharmacyHeading(
    name="Bench Community Pharmacy",
    address="1 Bench Road, Suite 200, Springfield, IL 62701",
    phone="(217) 555-0199",
)
PATIENTS = (
    "Ann Lee",
    "Alexandria Montgomery-Vanderbilt",
    "Nguyễn Thị Minh Khai",
    "María José Fernández-Castañeda",
    "Bartholomew Christopherson-Abernathy",
    "Wendell Benchpatient",
)
DRUGS = (
    ("Atorvastatin Calcium 10 mg tablet", "generic for Lipitor", "Greenstone LLC", ""),
    ("Lisinopril 10 mg tablet", "", "Lupin Pharmaceuticals, Inc.", ""),
    ("Amoxicillin 500 mg capsule", "", "Aurobindo Pharma Limited", ""),
    (
        "Oxycodone Hydrochloride 5 mg tablet",
        "generic for Roxicodone",
        "Rhodes Pharmaceuticals",
        "CII",
    ),
    ("Alprazolam 0.25 mg tablet", "generic for Xanax", "Sandoz Inc", "CIV"),
    ("Insulin Glargine 100 units/mL pen", "generic for Lantus", "Sanofi-Aventis U.S. LLC", ""),
)
DIRECTIONS = (
    "Take 1 tablet by mouth once daily.",
    "Take 1 tablet by mouth every 6 hours if needed for pain.",
    "Inject 20 units under the skin once daily at bedtime. Rotate injection sites.",
    "Take 1 capsule by mouth three times daily until all are gone, even if you feel better.",
    "Take 1 tablet by mouth every morning with a full glass of water at least 30 minutes "
    "before the first food, beverage or other medicine of the day. Stay upright for 30 "
    "minutes after taking it and do not lie down until after the first food of the day.",
)
WARNINGS = (
    "May cause drowsiness. Alcohol may intensify this effect.",
    "Take with food.",
    "Avoid grapefruit juice.",
    "Do not drive or operate machinery until you know how this medicine affects you.",
)
CAUTION = (
    "Caution: Federal law prohibits the transfer of this drug to any person other than the "
    "patient for whom it was prescribed."
)


def realistic_labels(count: int, rng: random.Random) -> list[LabelContent]:
    labels: list[LabelContent] = []
    while len(labels) < count:
        drug, generic_for, manufacturer, schedule = rng.choice(DRUGS)
        rx_number = str(1_000_000 + len(labels))
        spanish = rng.random() < 0.15
        containers = 3 if schedule == "CII" else 1
        for index in range(1, containers + 1):
            labels.append(
                LabelContent(
                    pharmacy=PHARMACY,
                    rx_number=rx_number,
                    fill_number=rng.randint(0, 5),
                    fill_date=date(2026, 11, 25),
                    patient_name=rng.choice(PATIENTS),
                    drug_line=drug,
                    generic_for=generic_for,
                    directions=(
                        "Tome 1 tableta por vía oral una vez al día."
                        if spanish
                        else rng.choice(DIRECTIONS)
                    ),
                    indication=rng.choice(("", "for high blood pressure", "for pain")),
                    quantity=f"{rng.choice((30, 60, 90))} tablets",
                    refills="No refills" if schedule else "2 refills before 11/20/2027",
                    prescriber="Dr. Ana Ruiz",
                    discard_after=date(2026, 11, 25) + timedelta(days=365),
                    manufacturer=manufacturer,
                    ndc="59762-0155-01",
                    physical_description=rng.choice(("", "white, oval tablet imprinted PD 155")),
                    auxiliary_warnings=tuple(rng.sample(WARNINGS, rng.randint(0, 2))),
                    transfer_caution=CAUTION if schedule else "",
                    barcode_payload=f"RX{rx_number}-0",
                    container_index=index,
                    container_count=containers,
                    language=LabelLanguage.SPANISH if spanish else LabelLanguage.ENGLISH,
                    english_directions="Take 1 tablet by mouth once daily." if spanish else "",
                    large_print=rng.random() < 0.1,
                    reprint=rng.random() < 0.1,
                    dea_schedule=schedule,
                )
            )
    return labels[:count]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms  "
        f"max {ordered[-1] * 1000:7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, default=200, help="labels per batch")
    parser.add_argument("--runs", type=int, default=3, help="batches per stock")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication([])
    labels = realistic_labels(args.labels, random.Random(20261125))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        render_pdf(labels[:5], THERMAL_VIAL_4X2_25, out / "warm.pdf")  # fonts, caches
        print(f"{len(labels)} labels at {PDF_DPI} dpi, load average {os.getloadavg()[0]:.1f}")
        for stock in (THERMAL_VIAL_4X2_25, LETTER_SHEET_4X3_33):
            layouts, singles, single_cpu = [], [], []
            for content in labels:
                started = time.perf_counter()
                layout_label(content, stock, PDF_DPI)
                layouts.append(time.perf_counter() - started)
                started, cpu_started = time.perf_counter(), time.process_time()
                render_pdf([content], stock, out / "one.pdf")
                singles.append(time.perf_counter() - started)
                single_cpu.append(time.process_time() - cpu_started)
            batches, outcome = [], None
            for _ in range(args.runs):
                started = time.perf_counter()
                outcome = render_pdf(labels, stock, out / "batch.pdf")
                batches.append(time.perf_counter() - started)
            assert outcome is not None
            print(f"{stock.name}:")
            print(f"  layout only          {_percentiles(layouts)}")
            print(f"  one label, one PDF   {_percentiles(singles)}   target ≤ 25 ms")
            print(f"    its CPU time       {_percentiles(single_cpu)}")
            print(
                f"  batch of {outcome.labels} ({outcome.faces} labels with continuations, "
                f"{outcome.pages} pages, {(out / 'batch.pdf').stat().st_size // 1024} KiB): "
                f"median {statistics.median(batches):.2f} s, worst {max(batches):.2f} s   "
                f"target ≤ 5 s"
            )
    del app


if __name__ == "__main__":
    main()
