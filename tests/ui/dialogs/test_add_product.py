"""The pharmacist's dialog adding a scanned bottle's product: readings offered, keyboard entry,
refusals under their field, nothing added until the service accepts."""

from __future__ import annotations

from collections import Counter

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import DrugProduct
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from tests.app.services.verification_data import LISINOPRIL, catalogue_fill
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import press, show_active, type_into, visible_mnemonics
from tests.ui.verification_data import datamatrix
from ui.dialogs.add_product import CHOOSE_NDC_TEXT, QUANTITY_NOT_A_NUMBER, AddProductDialog

NORVASC = "0069-1530-68"  # not in the demo catalogue
READINGS = ("0069-1530-68", "00691-530-68", "00691-5306-8")


@pytest.fixture
def fill_id(services: Services, admin: Actor, technician: Actor) -> int:
    opened = catalogue_fill(services, admin, FillState.FILL, product_ndc=LISINOPRIL)
    services.verification.open_fill(technician, opened)
    return opened


def dialog_for(
    qtbot, services: Services, signer: Actor, fill_id: int, readings=READINGS
) -> AddProductDialog:
    dialog = AddProductDialog(
        services.verification,
        signer,
        fill_id=fill_id,
        scanned_text=datamatrix(NORVASC),
        readings=readings,
    )
    return show_active(qtbot, dialog)  # type: ignore[return-value]


def pharmacy_products(services: Services) -> int:
    with services.database.reading() as session:
        return session.scalar(
            select(func.count(DrugProduct.id)).where(DrugProduct.source == "pharmacy")
        )


def fill_in(qtbot, dialog: AddProductDialog, **changes: str) -> None:
    entries = {
        "Proprietary name": "Norvasc",
        "Generic (non-proprietary) name": "Amlodipine Besylate",
        "Strength": "10",
        "Strength unit": "mg",
        "Dosage form": "TABLET",
        "Labeler": "Pfizer Laboratories Div Pfizer Inc",
        "Billing quantity": "90",
        **changes,
    }
    for name, text in entries.items():
        edit = control(dialog, name)
        assert isinstance(edit, QLineEdit)
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_every_reading_is_offered_and_the_pharmacist_chooses(
    qtbot, services: Services, pharmacist: Actor, fill_id: int
) -> None:
    dialog = dialog_for(qtbot, services, pharmacist, fill_id)
    ndc = control(dialog, "NDC")
    assert isinstance(ndc, QComboBox)
    assert [ndc.itemText(index) for index in range(ndc.count())] == list(READINGS)
    assert ndc.currentText() == ""
    assert ndc.lineEdit().placeholderText() == CHOOSE_NDC_TEXT
    assert QApplication.focusWidget() in (ndc, ndc.lineEdit())
    assert pharmacist.username in control(dialog, "What this adds").text()

    single = dialog_for(qtbot, services, pharmacist, fill_id, readings=(NORVASC,))
    assert control(single, "NDC").currentText() == NORVASC  # type: ignore[attr-defined]
    assert QApplication.focusWidget() is control(single, "Proprietary name")


def test_entered_by_keyboard_alone_the_product_is_added(
    qtbot, services: Services, pharmacist: Actor, fill_id: int
) -> None:
    dialog = dialog_for(qtbot, services, pharmacist, fill_id)
    type_into(qtbot, dialog, "NDC", NORVASC)
    type_into(qtbot, dialog, "Proprietary name", "Norvasc")
    type_into(qtbot, dialog, "Generic (non-proprietary) name", "Amlodipine Besylate")
    type_into(qtbot, dialog, "Active ingredients")
    type_into(qtbot, dialog, "Strength", "10")
    type_into(qtbot, dialog, "Strength unit", "mg")
    type_into(qtbot, dialog, "Dosage form", "TABLET")
    type_into(qtbot, dialog, "Route", "ORAL")
    type_into(qtbot, dialog, "Labeler", "Pfizer Laboratories Div Pfizer Inc")
    type_into(qtbot, dialog, "DEA schedule")
    type_into(qtbot, dialog, "Package description", "90 TABLET in 1 BOTTLE")
    type_into(qtbot, dialog, "Billing unit")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClicks(QApplication.focusWidget(), "90")
        press(qtbot, dialog, Qt.Key.Key_Return)

    assert dialog.added is not None and dialog.added.ndc == NORVASC
    assert "Norvasc (AMLODIPINE BESYLATE) 10 mg TABLET" in dialog.added.label
    assert pharmacy_products(services) == 1


def test_a_refusal_is_said_under_its_field_and_adds_nothing(
    qtbot, services: Services, pharmacist: Actor, fill_id: int
) -> None:
    dialog = dialog_for(qtbot, services, pharmacist, fill_id, readings=(NORVASC,))
    fill_in(qtbot, dialog, Strength="")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert control(dialog, "Strength problem").text() == "Enter the strength."
    assert QApplication.focusWidget() is control(dialog, "Strength")

    fill_in(qtbot, dialog, **{"Billing quantity": "ninety"})
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert control(dialog, "Billing quantity problem").text() == QUANTITY_NOT_A_NUMBER
    assert not control(dialog, "Strength problem").isVisible()
    assert pharmacy_products(services) == 0


def test_a_technician_signing_is_refused_in_the_message_line(
    qtbot, services: Services, technician: Actor, fill_id: int
) -> None:
    dialog = dialog_for(qtbot, services, technician, fill_id, readings=(NORVASC,))
    fill_in(qtbot, dialog)
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.added is None
    assert "Only a pharmacist may add a product" in control(dialog, "Message").text()
    assert pharmacy_products(services) == 0


def test_every_field_has_its_own_mnemonic(
    qtbot, services: Services, pharmacist: Actor, fill_id: int
) -> None:
    dialog = dialog_for(qtbot, services, pharmacist, fill_id)
    letters = visible_mnemonics(dialog)
    assert len(letters) >= 14
    assert [letter for letter, count in Counter(letters).items() if count > 1] == []
