"""Scan-to-verdict latency in the Verify dock, from a synthetic burst's terminator key to the
verdict painted, on the full FDA NDC Directory. Target: p95 ≤ 30 ms.

Each fill (a random real package of 30 tablets or capsules, so the whole package fills it and
no prompt opens) is opened in the dock; then a DataMatrix of a random other package is typed as
a scanner types it (a stop, mostly wrong drug), and one of its own package (accepted: judge,
accept_bottle and its commit). The clock starts as the terminator key is sent through the real
WedgeScannerFilter and stops when the banner has painted the verdict. Both ways of calling the
service can be measured: on the TaskRunner's worker thread (as the dock does) and, with
--inline, on the GUI thread. Reuses bench/out/verify.sqlite3 (bench/scan_to_verdict.py imports
the catalogue there on first use).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.scan_to_verdict_ui [--fills 150] [--inline]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QMainWindow
from sqlalchemy import select

from app.adapters.sound import SilentSounds
from app.bootstrap import build_services
from app.config import Settings
from app.db.models import DrugPackage, DrugProduct
from app.domain.barcodes import GS, gs1_element_string, gtin14_for
from app.domain.ndc import parse_ndc
from bench.scan_to_verdict import DEFAULT_DB, DEFAULT_DIRECTORY, _people, _percentiles, _seed_fills
from ui.docks.verify import VerifyDock
from ui.scanner import install_scanner
from ui.tasks import TaskRunner

WHOLE_PACKAGE = Decimal(30)  # _seed_fills' fill quantity


class InlineTasks:
    """The TaskRunner's interface, run at once on the GUI thread: the other way measured."""

    def run(
        self,
        work: Callable[[], Any],
        *,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        try:
            result = work()
        except Exception as exc:
            on_failure(exc)
        else:
            on_success(result)


class PaintWatch(QObject):
    """Notes when the banner finishes a paint after the verdict was shown."""

    def __init__(self, dock: VerifyDock) -> None:
        super().__init__()
        self.verdict_at: float | None = None
        self.painted_at: float | None = None
        dock.banner.installEventFilter(self)
        dock.verdict_shown.connect(self._verdict)

    def _verdict(self, _tone: str) -> None:
        self.verdict_at = time.perf_counter()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.verdict_at is not None:
            self.painted_at = time.perf_counter()
        return False

    def reset(self) -> None:
        self.verdict_at = self.painted_at = None


def _datamatrix(ndc: str, serial: str) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)),
        expiry=date.today() + timedelta(days=400),
        lot=f"L{serial[-5:]}",
        serial=serial,
        gs=GS,
    )


def _type_burst(app: QApplication, text: str) -> float:
    """Type `text` as a scanner does, to the focused widget; returns when Enter was sent."""
    for char in text:
        target = QApplication.focusWidget()
        if char == GS:
            QTest.keyClick(target, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)
        else:
            QTest.keyClick(target, char)
    started = time.perf_counter()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    return started


def _wait(app: QApplication, done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the dock did not answer within 10 s")
        app.processEvents()


def measure(
    app: QApplication,
    services: Any,
    technician: Any,
    fills: list[tuple[int, str]],
    other_ndcs: list[str],
    *,
    inline: bool,
    rng: random.Random,
) -> tuple[list[float], list[float], dict[str, int]]:
    window = QMainWindow()
    elsewhere = QLineEdit()
    window.setCentralWidget(elsewhere)
    runner = TaskRunner(window)
    dock = VerifyDock(
        verification=services.verification,
        tasks=InlineTasks() if inline else runner,  # type: ignore[arg-type]
        actor=lambda: technician,
        sounds=SilentSounds(),
        cosign=lambda purpose: None,
    )
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.resize(1400, 900)
    window.show()
    store = QSettings(str(DEFAULT_DB.parent / "config" / "scanner.ini"), QSettings.Format.IniFormat)
    scanner, router = install_scanner(app, store)
    dock.attach_scanner(router)
    watch = PaintWatch(dock)
    stops, accepted = [], []
    tones: dict[str, int] = {}
    rows = services.fills.queue(technician)
    by_id = {row.fill_id: row for row in rows}
    for index, (fill_id, ndc) in enumerate(fills):
        dock.open_fill(by_id[fill_id])
        _wait(app, lambda: dock.view is not None)
        for text, samples in (
            (_datamatrix(rng.choice(other_ndcs), f"O{fill_id}X{index:05d}"), stops),
            (_datamatrix(ndc, f"A{fill_id}X{index:05d}"), accepted),
        ):
            elsewhere.setFocus()
            app.processEvents()
            watch.reset()
            started = _type_burst(app, text)
            _wait(app, lambda: watch.painted_at is not None)
            assert watch.painted_at is not None
            samples.append(watch.painted_at - started)
            tones[dock.banner.tone.value] = tones.get(dock.banner.tone.value, 0) + 1
        dock.show_fill(None)
    app.removeEventFilter(scanner)
    runner.shutdown()
    window.close()
    window.deleteLater()
    return stops, accepted, tones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help=f"database URL (default: {DEFAULT_DB})")
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--fills", type=int, default=150, help="fills (2 scans each)")
    parser.add_argument(
        "--inline", action="store_true", help="call the service on the GUI thread instead"
    )
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database_url=args.database or f"sqlite:///{DEFAULT_DB}",
        workstation="bench-ui",
        config_dir=DEFAULT_DB.parent / "config",
        data_dir=DEFAULT_DB.parent / "data",
        password_hash_profile="fast-insecure-for-tests",
    )
    services = build_services(settings)
    admin, technician = _people(services)
    if services.catalogue.snapshot() is None:
        print("Importing the catalogue first…")
        services.catalogue.import_directory(admin, args.directory)
    rng = random.Random(20261125)
    with services.database.reading() as session:
        whole = session.execute(
            select(DrugPackage.id, DrugPackage.ndc)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(
                DrugPackage.billing_unit == "EA",
                DrugPackage.billing_quantity == WHOLE_PACKAGE,
                DrugPackage.sample_package.is_(False),
                DrugProduct.dosage_form.in_(("TABLET", "CAPSULE", "TABLET, FILM COATED")),
                DrugProduct.discontinued.is_(False),
                DrugProduct.dea_schedule.is_(None),
            )
            .order_by(DrugPackage.id)
        ).all()
        other_ndcs = sorted(set(session.scalars(select(DrugPackage.ndc)).all()))
    chosen = rng.sample(whole, args.fills)
    fill_ids = _seed_fills(services, admin, [package_id for package_id, _ in chosen])
    fills = [(fill_id, ndc) for fill_id, (_, ndc) in zip(fill_ids, chosen, strict=True)]
    print(f"{services.database.description}: {len(other_ndcs):,} package NDCs")
    stops, accepted, tones = measure(
        app, services, technician, fills, other_ndcs, inline=args.inline, rng=rng
    )
    way = "inline on the GUI thread" if args.inline else "worker thread (TaskRunner)"
    print(f" {way}: {len(stops) + len(accepted)} scans, banner tones {tones}")
    print(f"  stop (another package)          {_percentiles(stops)}")
    print(f"  accepted (judge+accept+commit)  {_percentiles(accepted)}")
    print(f"  all                             {_percentiles(stops + accepted)}")
    services.close()


if __name__ == "__main__":
    main()
