"""The Verify dock driven by synthetic scanner bursts through the real WedgeScannerFilter.

Each scan is typed key by key on a fake clock at scanner speed (GS as Ctrl+]) into whatever
widget has the focus; the ScanRouter brings it to the dock, which asks the real
VerificationService on the test database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QMainWindow, QMessageBox, QWidget
from sqlalchemy import func, select

from app.adapters.sound import SilentSounds
from app.bootstrap import Services
from app.db.engine import create_database_engine, describe_database
from app.db.models import (
    AuditEvent,
    ControlledSubstanceEntry,
    DrugProduct,
    Fill,
    LabelPrint,
    StockLot,
    StockMovement,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.services.fills import FillRow
from app.services.house_settings import InventoryPolicy
from app.services.patients import PatientDraft
from app.services.unit_of_work import Actor, Database
from app.services.verification import VerificationService
from tests.conftest import TEST_PASSWORD
from tests.ui.scanner_keys import (
    PERSON_GAP_MS,
    FakeClock,
    focus,
    installed_scanner,
    press,
    scan,
    type_keys,
)
from tests.ui.verification_data import (
    AMOXICILLIN_50,
    EXPIRY,
    LISINOPRIL_30,
    LISINOPRIL_100,
    LISINOPRIL_ACTAVIS,
    OXYCODONE_100,
    datamatrix,
    fill_at_fill_step,
    fill_row,
    receive_lot,
    upc,
)
from tests.ui.workflow_data import ANSWER_ATTEMPTS, Intake, answer_reason, set_up_intake
from ui.dialogs.add_product import AddProductDialog
from ui.dialogs.bottle_prompts import COUNTS_DIFFER_TEXT, LotExpiryDialog, QuantityDialog
from ui.dialogs.pharmacist_review import PharmacistFinalVerificationDialog
from ui.docks.verify import (
    DATABASE_LOST_TITLE,
    RESCAN_AFTER_ADDING_TEXT,
    SCANNED_WITHOUT_FILL_TEXT,
    VerifyDock,
)
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.verdict_banner import Tone

TIMEOUT_MS = 5000


class Bench:
    """A window with the Verify dock and another field holding the focus, as at the bench."""

    def __init__(self, qtbot, services: Services, actor: Actor, cosigner: Actor | None) -> None:
        self.qtbot = qtbot
        self.services = services
        self.actor = actor
        self.cosigner = cosigner
        self.cosign_purposes: list[str] = []
        self.host = QMainWindow()
        self.elsewhere = QLineEdit()
        self.elsewhere.setAccessibleName("Some other field")
        self.host.setCentralWidget(self.elsewhere)
        self.tasks = TaskRunner(self.host)
        self.sounds = SilentSounds()
        self.dock = VerifyDock(
            verification=services.verification,
            tasks=self.tasks,
            actor=lambda: self.actor,
            sounds=self.sounds,
            cosign=self._cosign,
        )
        self.host.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.router = ScanRouter(self.host)
        self.dock.attach_scanner(self.router)
        qtbot.addWidget(self.host)
        self.host.resize(1000, 800)
        self.host.show()
        qtbot.waitExposed(self.host)

    def _cosign(self, purpose: str) -> Actor | None:
        self.cosign_purposes.append(purpose)
        return self.cosigner

    def open(self, fill: FillRow) -> None:
        self.dock.open_fill(fill)
        self.qtbot.waitUntil(lambda: self.dock.view is not None, timeout=TIMEOUT_MS)

    def scan(self, clock: FakeClock, text: str) -> None:
        """A burst into the other field; the dock paints its verdict."""
        focus(self.qtbot, self.elsewhere)
        with self.qtbot.waitSignal(self.dock.verdict_shown, timeout=TIMEOUT_MS):
            scan(self.qtbot, clock, text)

    @property
    def tone(self) -> Tone:
        return self.dock.banner.tone

    def scan_field_has_focus(self) -> bool:
        return QApplication.focusWidget() is self.dock.scan_field


@pytest.fixture
def intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    return set_up_intake(services, admin, technician)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_bench(
    qtbot, qapp, services: Services, technician: Actor, pharmacist: Actor, clock: FakeClock
) -> Iterator[Callable[..., Bench]]:
    made: list[Bench] = []
    with installed_scanner(qapp, clock) as scanner_filter:

        def make(actor: Actor = technician, cosigner: Actor | None = pharmacist) -> Bench:
            bench = Bench(qtbot, services, actor, cosigner)
            scanner_filter.scanned.connect(bench.router.route)
            made.append(bench)
            return bench

        yield make
        for bench in made:
            bench.tasks.shutdown()


def answer_modal(qtbot, kind: type[QWidget], act: Callable[[QWidget], None]) -> list[QWidget]:
    """Run `act` on the next modal dialog of `kind` once it shows; returns the dialogs seen."""
    seen: list[QWidget] = []

    def answer(attempt: int = 0) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, kind):
            if attempt < ANSWER_ATTEMPTS:
                QTimer.singleShot(20, lambda: answer(attempt + 1))
            return
        seen.append(dialog)
        try:
            act(dialog)
        finally:
            if dialog.isVisible():  # a failed check must not leave the test waiting forever
                dialog.reject()

    QTimer.singleShot(0, answer)
    return seen


def type_into(qtbot, clock: FakeClock, field: QLineEdit, text: str) -> None:
    """A person types: keys far apart on the clock, so the scanner filter lets them through."""
    field.setFocus()
    field.selectAll()
    type_keys(qtbot, clock, text, PERSON_GAP_MS, target=field)


def press_enter(qtbot, clock: FakeClock, widget: QWidget) -> None:
    press(qtbot, clock, Qt.Key.Key_Return, PERSON_GAP_MS, target=widget)


def movements(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        return session.scalar(
            select(func.count(StockMovement.id)).where(StockMovement.fill_id == fill_id)
        )


def audit_count(services: Services, action: str) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


# --- a bottle that matches, one that does not -------------------------------------------------


def test_a_matching_datamatrix_bottle_is_accepted_from_any_focus(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    dock = bench.dock
    assert dock.fields["Drug"].text() == "Lisinopril"
    assert dock.fields["Strength"].text() == "10 mg"
    assert dock.fields["Manufacturer"].text() == "Aurobindo Pharma Limited"
    assert dock.fields["NDC"].text() == LISINOPRIL_30
    assert dock.fields["Quantity"].text().startswith("30 ")
    assert not dock.complete_button.isEnabled()

    bench.scan(clock, datamatrix(LISINOPRIL_30))

    assert bench.tone is Tone.ACCEPTED
    assert "Accepted — 30" in dock.banner.text
    assert bench.sounds.played == ["accepted"]
    [bottle] = dock.bottles.rows
    assert (bottle.ndc, bottle.lot_number, bottle.quantity) == (LISINOPRIL_30, "LOT42", 30)
    assert not bottle.manual
    assert "complete" in dock.total.text()
    assert dock.complete_button.isEnabled()
    assert dock.scan_field.text() == ""
    assert bench.scan_field_has_focus()
    assert movements(services, fill.fill_id) == 1
    assert audit_count(services, "fill.bottle_accepted") == 1


def test_a_lot_never_received_is_a_stop_saying_so_and_records_nothing(
    make_bench, clock, intake, services, pharmacist
):
    """The house refuses negative on-hand unless it allows it: a bottle of a lot never received
    would take the lot below zero."""
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)

    bench.scan(clock, datamatrix(LISINOPRIL_30))

    dock = bench.dock
    assert bench.tone is Tone.STOP
    assert f"Lot LOT42 of NDC {LISINOPRIL_30} was never received in RxBench" in dock.banner.text
    assert "Receive the delivery first" in dock.banner.text
    assert bench.sounds.played == ["stop"]
    assert dock.bottles.rows == ()
    assert movements(services, fill.fill_id) == 0
    assert bench.scan_field_has_focus()


def test_a_house_allowing_negative_stock_accepts_the_bottle_with_a_warning(
    make_bench, clock, intake, services, pharmacist
):
    services.house_settings.set_inventory_policy(
        pharmacist, InventoryPolicy(allow_negative_on_hand=True)
    )
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)

    bench.scan(clock, datamatrix(LISINOPRIL_30))

    dock = bench.dock
    assert bench.tone is Tone.WARNING
    assert "is now negative (-30 on hand)" in dock.banner.text
    [bottle] = dock.bottles.rows
    assert any("now negative" in warning for warning in bottle.warnings)
    assert movements(services, fill.fill_id) == 1


def test_a_wrong_drug_is_a_loud_stop_naming_both_and_records_nothing(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)

    bench.scan(clock, datamatrix(AMOXICILLIN_50))

    dock = bench.dock
    assert bench.tone is Tone.STOP
    text = dock.banner.text
    assert text.startswith("Stop — wrong drug")
    assert "Lisinopril" in text and LISINOPRIL_30 in text  # what was expected
    assert "Amoxicillin" in text and AMOXICILLIN_50 in text  # what was scanned
    assert bench.sounds.played == ["stop"]
    assert dock.scan_field.text() == ""
    assert bench.scan_field_has_focus()
    assert not dock.override_button.isVisible()
    assert dock.bottles.rows == ()
    assert movements(services, fill.fill_id) == 0


# --- prompts: each gives the focus back to the scan field -------------------------------------


def test_a_upc_asks_lot_and_expiry_then_a_counted_quantity(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_100)
    receive_lot(services, pharmacist, LISINOPRIL_100, lot="AB123")
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot

    def lot_and_expiry(dialog: LotExpiryDialog) -> None:
        qtbot.keyClick(dialog.lot_edit, Qt.Key.Key_Return)  # blank: refused, said
        assert dialog.message.isVisible()
        type_into(qtbot, clock, dialog.lot_edit, "AB123")
        type_into(qtbot, clock, dialog.expiry_edit, "03/31/2030")
        press_enter(qtbot, clock, dialog.expiry_edit)

    def counted(dialog: QuantityDialog) -> None:
        assert dialog.quantity_edit.text() == "30"  # what the fill still needs
        assert dialog.recount_edit is None
        qtbot.keyClick(dialog.quantity_edit, Qt.Key.Key_Return)

    asked_lot = answer_modal(qtbot, LotExpiryDialog, lot_and_expiry)
    asked_quantity = answer_modal(qtbot, QuantityDialog, counted)
    focus(qtbot, bench.elsewhere)
    scan(qtbot, clock, upc(LISINOPRIL_100))
    qtbot.waitUntil(lambda: bench.dock.bottles.rows != (), timeout=TIMEOUT_MS)

    assert asked_lot and asked_quantity
    [bottle] = bench.dock.bottles.rows
    assert (bottle.lot_number, bottle.quantity) == ("AB123", Decimal(30))
    qtbot.waitUntil(bench.scan_field_has_focus)


def test_a_cancelled_prompt_records_nothing_and_gives_the_focus_back(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_100)
    bench = make_bench()
    bench.open(fill)
    answer_modal(bench.qtbot, LotExpiryDialog, lambda dialog: dialog.reject())
    focus(bench.qtbot, bench.elsewhere)
    scan(bench.qtbot, clock, upc(LISINOPRIL_100))
    bench.qtbot.waitUntil(lambda: "Not used" in bench.dock.banner.text, timeout=TIMEOUT_MS)
    bench.qtbot.waitUntil(bench.scan_field_has_focus)
    assert movements(services, fill.fill_id) == 0


def test_another_package_size_is_used_once_confirmed(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_100)
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot

    def confirm(box: QMessageBox) -> None:
        assert "another package" in box.text()
        qtbot.keyClick(box, Qt.Key.Key_Return)

    confirmed = answer_modal(qtbot, QMessageBox, confirm)
    answer_modal(
        qtbot, QuantityDialog, lambda d: qtbot.keyClick(d.quantity_edit, Qt.Key.Key_Return)
    )
    focus(qtbot, bench.elsewhere)
    scan(qtbot, clock, datamatrix(LISINOPRIL_100))
    qtbot.waitUntil(lambda: bench.dock.bottles.rows != (), timeout=TIMEOUT_MS)
    assert confirmed
    [bottle] = bench.dock.bottles.rows
    assert (
        bottle.confirmed
        and "package size confirmed" in bench.dock.bottles.index(0, bench.dock.bottles.MARKS).data()
    )
    qtbot.waitUntil(bench.scan_field_has_focus)


# --- the pharmacist's override ----------------------------------------------------------------


def test_other_manufacturer_is_accepted_on_a_pharmacists_override(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_ACTAVIS)
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot

    bench.scan(clock, datamatrix(LISINOPRIL_ACTAVIS))
    dock = bench.dock
    assert bench.tone is Tone.STOP
    assert "A pharmacist must approve it" in dock.banner.text
    assert dock.override_button.isVisible()
    assert bench.sounds.played == ["warning"]
    assert bench.scan_field_has_focus()

    answer_reason(qtbot, "Aurobindo out of stock; same drug")
    answer_modal(
        qtbot, QuantityDialog, lambda d: qtbot.keyClick(d.quantity_edit, Qt.Key.Key_Return)
    )
    dock.override_button.click()
    qtbot.waitUntil(lambda: dock.bottles.rows != (), timeout=TIMEOUT_MS)

    [bottle] = dock.bottles.rows
    assert bottle.overridden_by == "phil"
    assert bottle.override_reason == "Aurobindo out of stock; same drug"
    assert bench.cosign_purposes and "override" in bench.cosign_purposes[0]
    marks = dock.bottles.index(0, dock.bottles.MARKS).data()
    assert "OVERRIDE by phil: Aurobindo out of stock" in marks
    qtbot.waitUntil(bench.scan_field_has_focus)


def test_a_technician_cannot_override_even_as_co_signer(
    make_bench, clock, intake, services, pharmacist, admin
):
    services.users.add_user(
        admin,
        username="tara",
        full_name="Tara Technician",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN}),
    )
    other_technician = services.auth.login("tara", TEST_PASSWORD)
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_ACTAVIS)
    bench = make_bench(cosigner=other_technician)
    bench.open(fill)
    qtbot = bench.qtbot
    bench.scan(clock, datamatrix(LISINOPRIL_ACTAVIS))

    answer_reason(qtbot, "No Aurobindo on the shelf")
    answer_modal(
        qtbot, QuantityDialog, lambda d: qtbot.keyClick(d.quantity_edit, Qt.Key.Key_Return)
    )
    with qtbot.waitSignal(bench.dock.verdict_shown, timeout=TIMEOUT_MS):
        bench.dock.override_button.click()

    assert bench.tone is Tone.STOP
    assert "tara is not a pharmacist" in bench.dock.banner.text
    assert bench.dock.bottles.rows == ()
    assert movements(services, fill.fill_id) == 0
    assert bench.scan_field_has_focus()


def test_wrong_drug_expired_and_recalled_never_offer_an_override(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30, lot="RECALLED1")
    with services.database.unit_of_work(pharmacist) as uow:
        lot = uow.session.scalars(select(StockLot).where(StockLot.lot_number == "RECALLED1")).one()
        lot.status = "recalled"
    bench = make_bench()
    bench.open(fill)
    bench.scan(clock, datamatrix(LISINOPRIL_30, lot="RECALLED1"))
    assert bench.tone is Tone.STOP and "recalled" in bench.dock.banner.text
    assert not bench.dock.override_button.isVisible()


# --- C-II --------------------------------------------------------------------------------------


def test_a_c_ii_count_is_typed_twice_and_must_match(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, OXYCODONE_100)
    receive_lot(services, pharmacist, OXYCODONE_100)
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot
    assert bench.dock.schedule.isVisible()
    assert bench.dock.schedule.text() == "Controlled substance — Schedule II"
    said: list[str] = []

    def count_twice(dialog: QuantityDialog) -> None:
        assert dialog.recount_edit is not None
        assert dialog.quantity_edit.text() == ""  # counted, never suggested
        type_into(qtbot, clock, dialog.quantity_edit, "30")
        type_into(qtbot, clock, dialog.recount_edit, "29")
        press_enter(qtbot, clock, dialog.recount_edit)
        said.append(dialog.message.text())
        type_into(qtbot, clock, dialog.recount_edit, "30")
        press_enter(qtbot, clock, dialog.recount_edit)

    answer_modal(qtbot, QuantityDialog, count_twice)
    focus(qtbot, bench.elsewhere)
    scan(qtbot, clock, datamatrix(OXYCODONE_100))
    qtbot.waitUntil(lambda: bench.dock.bottles.rows != (), timeout=TIMEOUT_MS)

    assert said == [COUNTS_DIFFER_TEXT]
    [bottle] = bench.dock.bottles.rows
    assert bottle.quantity == 30
    assert bench.tone is Tone.WARNING  # the C-II warning, in amber beside the bottle
    assert "Schedule II" in bench.dock.banner.text
    with services.database.reading() as session:
        assert session.scalar(select(func.count(ControlledSubstanceEntry.id))) == 1
    qtbot.waitUntil(bench.scan_field_has_focus)


# --- completing, and the pharmacist's view ----------------------------------------------------


def test_complete_sends_the_fill_to_final_verification_which_lists_the_bottles(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot
    bench.scan(clock, datamatrix(LISINOPRIL_30))
    assert bench.dock.complete_button.isEnabled()

    with qtbot.waitSignal(bench.dock.fill_changed, timeout=TIMEOUT_MS) as changed:
        qtbot.keyClick(
            bench.dock.scan_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
    moved = changed.args[0]
    assert moved.state is FillState.FINAL_VERIFICATION
    with services.database.reading() as session:
        assert session.get(Fill, fill.fill_id).state == FillState.FINAL_VERIFICATION.value
    assert bench.dock.view is None
    assert "sent to the pharmacist" in bench.dock.banner.text

    dialog = PharmacistFinalVerificationDialog(
        moved,
        label_text="label",
        services=services,
        tasks=bench.tasks,
        actor=pharmacist,
        cosign=lambda purpose: None,
    )
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.bottles.rowCount() == 1, timeout=TIMEOUT_MS)
    assert dialog.bottles.index(0, dialog.bottles.NDC).data() == LISINOPRIL_30
    assert dialog.bottles.index(0, dialog.bottles.VERDICT).data() == "Match"
    assert "none overridden" in dialog.bottles_note.text()


def test_void_puts_the_bottle_back_with_a_reason(make_bench, clock, intake, services, pharmacist):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    qtbot = bench.qtbot
    bench.scan(clock, datamatrix(LISINOPRIL_30))
    answer_reason(qtbot, "Dropped on the floor")
    qtbot.keyClick(bench.dock.scan_field, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bench.dock.bottles.rows[0].voided, timeout=TIMEOUT_MS)
    assert "VOIDED: Dropped on the floor" in bench.dock.bottles.index(0, 5).data()
    assert not bench.dock.complete_button.isEnabled()
    assert bench.dock.total.text().startswith("Scanned 0 of 30 ")
    assert bench.dock.total.text().endswith(" to go")
    assert bench.scan_field_has_focus()


# --- failures ----------------------------------------------------------------------------------


def test_a_bottle_scanned_before_a_fill_is_open_is_explained(make_bench, clock):
    bench = make_bench()
    bench.scan(clock, datamatrix(LISINOPRIL_30))
    assert bench.tone is Tone.STOP
    assert SCANNED_WITHOUT_FILL_TEXT in bench.dock.banner.text
    assert bench.sounds.played == ["stop"]


def test_an_rx_label_scanned_before_a_fill_is_open_asks_to_open_it(make_bench, clock):
    bench = make_bench()
    focus(bench.qtbot, bench.elsewhere)
    with bench.qtbot.waitSignal(bench.dock.rx_label_scanned, timeout=TIMEOUT_MS) as label:
        scan(bench.qtbot, clock, "RX1234567-0")
    assert label.args == ["RX1234567-0"]


def test_another_patients_rx_label_mid_fill_says_so(
    make_bench, clock, intake, services, pharmacist, technician
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    other_patient = services.patients.create_patient(
        technician, draft=PatientDraft("Bramblewood", "Otto", date(1950, 2, 3), "M")
    ).patient
    other = replace(intake, patient_id=other_patient.id).enter(LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    bench.scan(clock, f"RX{other.rx_number}-0")
    assert bench.tone is Tone.STOP
    assert "for another patient" in bench.dock.banner.text
    assert bench.sounds.played == ["stop"]


def test_a_fill_another_workstation_holds_is_refused_with_who(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    services.verification.open_fill(pharmacist, fill.fill_id)
    bench = make_bench()
    with bench.qtbot.waitSignal(bench.dock.verdict_shown, timeout=TIMEOUT_MS):
        bench.dock.open_fill(fill)
    assert bench.dock.view is None
    assert "phil is working on this fill" in bench.dock.banner.text


def test_a_fill_changed_on_another_workstation_is_stale_and_reloaded(
    make_bench, clock, intake, services, pharmacist, technician
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    # The same user at a second workstation accepts a bottle: this dock's version is behind.
    version = bench.dock.view.version
    services.verification.accept_bottle(
        replace(technician, workstation="bench-2"),
        fill.fill_id,
        text=datamatrix(LISINOPRIL_30, serial="SN9"),
        manual=False,
        quantity=Decimal(10),
        expected_version=version,
    )
    stale = []
    bench.dock.fills_stale.connect(lambda: stale.append(True))
    qtbot = bench.qtbot
    answer_modal(qtbot, QuantityDialog, lambda d: press_enter(qtbot, clock, d.quantity_edit))
    bench.scan(clock, datamatrix(LISINOPRIL_30))
    assert bench.tone is Tone.STOP
    assert "changed since you opened it" in bench.dock.banner.text
    assert stale
    bench.qtbot.waitUntil(lambda: len(bench.dock.bottles.rows) == 1, timeout=TIMEOUT_MS)


def test_a_lost_database_keeps_the_scan_with_retry(make_bench, clock, intake, services, pharmacist):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    engine = create_database_engine("postgresql://postgres@127.0.0.1:1/rxbench")
    bench.dock._verification = VerificationService(Database(engine, describe_database(engine.url)))

    bench.scan(clock, datamatrix(LISINOPRIL_30))

    dock = bench.dock
    assert bench.tone is Tone.STOP
    assert DATABASE_LOST_TITLE in dock.banner.text
    assert dock.retry_button.isVisible()
    assert dock.scan_field.text() != ""  # the scan stays on screen
    assert movements(services, fill.fill_id) == 0

    dock._verification = services.verification  # the network is back
    with bench.qtbot.waitSignal(dock.verdict_shown, timeout=TIMEOUT_MS):
        dock.retry_button.click()
    assert bench.tone is Tone.ACCEPTED
    assert movements(services, fill.fill_id) == 1
    engine.dispose()


def test_a_typed_ndc_is_refused_when_scanning_is_required(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    field = bench.dock.scan_field
    field.setFocus()
    with bench.qtbot.waitSignal(bench.dock.verdict_shown, timeout=TIMEOUT_MS):
        field.setText(LISINOPRIL_30)
        bench.qtbot.keyClick(field, Qt.Key.Key_Return)
    assert bench.tone is Tone.STOP
    assert "requires the bottle to be scanned" in bench.dock.banner.text
    assert fill_row(services, pharmacist, fill.fill_id).state is FillState.FILL


# --- a bottle the catalogue lacks -------------------------------------------------------------

NORVASC = "0069-1530-68"  # a real package NDC the demo catalogue lacks


def add_norvasc(dialog: AddProductDialog) -> None:
    """The pharmacist reads the package and enters it (the NDC reading printed on it)."""
    dialog.ndc.setCurrentText(NORVASC)
    for edit, text in (
        (dialog.proprietary_name, "Norvasc"),
        (dialog.nonproprietary_name, "Amlodipine Besylate"),
        (dialog.strength, "10"),
        (dialog.strength_unit, "mg"),
        (dialog.dosage_form, "TABLET"),
        (dialog.labeler, "Pfizer Laboratories Div Pfizer Inc"),
        (dialog.billing_quantity, "90"),
    ):
        edit.setText(text)
    QTest.keyClick(dialog.billing_quantity, Qt.Key.Key_Return)


def pharmacy_products(services: Services) -> list[str]:
    with services.database.reading() as session:
        return list(
            session.scalars(select(DrugProduct.product_ndc).where(DrugProduct.source == "pharmacy"))
        )


def test_an_unknown_bottle_is_added_by_a_co_signing_pharmacist_then_rescanned(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench()
    bench.open(fill)
    dock, qtbot = bench.dock, bench.qtbot

    bench.scan(clock, datamatrix(NORVASC))

    assert bench.tone is Tone.STOP
    assert "not in the drug catalogue" in dock.banner.text
    assert dock.add_product_button.isVisible()
    assert "(pharmacist)" in dock.add_product_button.text()
    assert not dock.override_button.isVisible()  # never a blind override
    assert bench.sounds.played == ["stop"]
    assert bench.scan_field_has_focus()

    dialogs = answer_modal(qtbot, AddProductDialog, add_norvasc)
    with qtbot.waitSignal(dock.verdict_shown, timeout=TIMEOUT_MS):
        dock.add_product_button.click()

    assert dialogs
    assert bench.cosign_purposes == [
        f"adding NDC {NORVASC} / 00691-530-68 / 00691-5306-8 to the drug catalogue from a "
        f"bottle scanned for Rx {fill.rx_number}-{fill.fill_number}"
    ]
    assert pharmacy_products(services) == ["0069-1530"]
    assert bench.tone is Tone.INFO
    assert f"Added to the catalogue — NDC {NORVASC}" in dock.banner.text
    assert RESCAN_AFTER_ADDING_TEXT in dock.banner.text
    assert not dock.add_product_button.isVisible()
    assert dock.bottles.rows == () and movements(services, fill.fill_id) == 0
    qtbot.waitUntil(bench.scan_field_has_focus)

    bench.scan(clock, datamatrix(NORVASC))  # judged now like any other bottle

    assert bench.tone is Tone.STOP
    assert dock.banner.text.startswith("Stop — wrong drug")
    assert "Norvasc" in dock.banner.text and "Lisinopril" in dock.banner.text
    assert not dock.add_product_button.isVisible()
    assert movements(services, fill.fill_id) == 0


def test_a_pharmacist_at_the_bench_adds_without_a_co_signature(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench(actor=pharmacist, cosigner=None)
    bench.open(fill)
    bench.scan(clock, datamatrix(NORVASC))
    answer_modal(bench.qtbot, AddProductDialog, add_norvasc)
    with bench.qtbot.waitSignal(bench.dock.verdict_shown, timeout=TIMEOUT_MS):
        bench.dock.add_product_button.click()
    assert bench.cosign_purposes == []
    assert pharmacy_products(services) == ["0069-1530"]
    assert RESCAN_AFTER_ADDING_TEXT in bench.dock.banner.text


def test_a_technician_as_co_signer_cannot_add_the_product(
    make_bench, clock, intake, services, pharmacist, admin
):
    services.users.add_user(
        admin,
        username="tara",
        full_name="Tara Technician",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN}),
    )
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    bench = make_bench(cosigner=services.auth.login("tara", TEST_PASSWORD))
    bench.open(fill)
    bench.scan(clock, datamatrix(NORVASC))
    said: list[str] = []

    def refused(dialog: AddProductDialog) -> None:
        add_norvasc(dialog)
        said.append(dialog.message.text())

    answer_modal(bench.qtbot, AddProductDialog, refused)
    bench.dock.add_product_button.click()

    assert said and "Only a pharmacist may add a product" in said[0]
    assert pharmacy_products(services) == []
    assert bench.dock.add_product_button.isVisible()  # still on offer to a real pharmacist
    bench.qtbot.waitUntil(bench.scan_field_has_focus)


# --- a label printed before a shorter-dated lot was scanned -----------------------------------


def print_label(
    services: Services, actor: Actor, fill_id: int, discard_after: date, *, reason: str = ""
) -> None:
    """What the label service records once a label reached the printer."""
    with services.database.unit_of_work(actor) as uow:
        printed = LabelPrint(
            fill_id=fill_id,
            kind="reprint" if reason else "original",
            reason=reason,
            destination="test printer",
            stock_name="test stock",
            label_count=1,
            discard_after=discard_after,
            workstation=actor.workstation,
        )
        uow.session.add(printed)
        uow.audit("test.printed", printed)


def test_a_label_to_reprint_is_shown_and_complete_waits_for_it(
    make_bench, clock, intake, services, pharmacist
):
    fill = fill_at_fill_step(intake, pharmacist, LISINOPRIL_30)
    receive_lot(services, pharmacist, LISINOPRIL_30)
    print_label(services, pharmacist, fill.fill_id, EXPIRY + timedelta(days=90))
    bench = make_bench()
    bench.open(fill)
    dock, qtbot = bench.dock, bench.qtbot
    assert not dock.label_reprint.isVisible()

    bench.scan(clock, datamatrix(LISINOPRIL_30))

    assert dock.label_reprint.isVisible()
    assert f"lot LOT42 expires {EXPIRY.isoformat()}: reprint the label" in (
        dock.label_reprint.text()
    )
    with qtbot.waitSignal(dock.verdict_shown, timeout=TIMEOUT_MS):
        qtbot.keyClick(dock.scan_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert bench.tone is Tone.STOP
    assert "reprint the label (with a reason)" in dock.banner.text
    assert fill_row(services, pharmacist, fill.fill_id).state is FillState.FILL
    assert bench.scan_field_has_focus()

    print_label(services, pharmacist, fill.fill_id, EXPIRY, reason="lot LOT42 expires sooner")
    dock.reload()
    qtbot.waitUntil(lambda: not dock.label_reprint.isVisible(), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(dock.fill_changed, timeout=TIMEOUT_MS) as changed:
        qtbot.keyClick(dock.scan_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert changed.args[0].state is FillState.FINAL_VERIFICATION
