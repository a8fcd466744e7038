from __future__ import annotations

from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from app.bootstrap import Services
from app.services.prescribers import PrescriberDraft
from app.services.unit_of_work import Actor
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import focused, press, show_active, type_into
from ui.dialogs.prescriber import PrescriberDialog, PrescriberSearchDialog

NEXT_YEAR = (date.today() + timedelta(days=365)).strftime("%m/%d/%Y")


@pytest.fixture
def dialog(qtbot, services: Services, technician: Actor) -> PrescriberDialog:
    return show_active(qtbot, PrescriberDialog(services, technician))


def type_prescriber(qtbot, dialog, **changes: str) -> None:
    entries = {
        "Last name": "Hale",
        "First name": "Dana",
        "NPI": "1245319599",
        "DEA number": "AH1234563",
        **{name.replace("_", " "): value for name, value in changes.items()},
    }
    for name, text in entries.items():
        edit = control(dialog, name)
        assert isinstance(edit, QLineEdit)
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_a_prescriber_is_entered_by_keyboard_alone(
    qtbot, services: Services, technician: Actor, dialog: PrescriberDialog
) -> None:
    for name, text in (
        ("Last name", "Hale"),
        ("First name", "Dana"),
        ("Credentials", "MD"),
        ("NPI", "1245319599"),
        ("DEA number", "AH1234563"),
    ):
        type_into(qtbot, dialog, name, text)
    for code in ("2", "2N", "3", "3N", "4", "5"):
        assert focused(dialog).accessibleName() == f"Schedule {code}"
        if code != "2N":
            press(qtbot, dialog, Qt.Key.Key_Space)
        press(qtbot, dialog, Qt.Key.Key_Tab)
    for name, text in (
        ("DEA expires on", NEXT_YEAR),
        ("State license", "036.112233"),
        ("Address", "800 Clinic Drive"),
        ("Suite", "Suite 4"),
        ("City", "Springfield"),
        ("State", "IL"),
        ("ZIP code", "62702"),
        ("Phone", "217 555 0188"),
    ):
        type_into(qtbot, dialog, name, text)
    assert focused(dialog).accessibleName() == "Fax"
    qtbot.keyClicks(focused(dialog), "2175550189")
    assert dialog.warnings_shown == ""
    with qtbot.waitSignal(dialog.prescriber_saved) as saved:
        press(qtbot, dialog, Qt.Key.Key_Return)
    assert saved.args[0].warnings == ()
    [found] = services.prescribers.search(technician, "1245319599")
    assert found.display_name == "Dana Hale, MD"
    assert found.dea_number == "AH1234563"
    assert found.dea_schedules == frozenset({"2", "3", "3N", "4", "5"})
    assert found.fax == "(217) 555-0189"
    assert found.state == "IL"


def test_a_bad_npi_check_digit_is_refused_under_the_field(
    qtbot, services: Services, technician: Actor, dialog: PrescriberDialog
) -> None:
    type_prescriber(qtbot, dialog, NPI="1245319598")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert "check digit" in control(dialog, "NPI problem").text()
    assert focused(dialog) is control(dialog, "NPI")
    assert services.prescribers.search(technician, "Hale") == []


def test_a_bad_dea_number_is_refused_with_the_reason(
    qtbot, services: Services, technician: Actor, dialog: PrescriberDialog
) -> None:
    type_prescriber(qtbot, dialog, DEA_number="AH1234560")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert "check digit" in control(dialog, "DEA number problem").text()
    assert focused(dialog) is control(dialog, "DEA number")
    assert services.prescribers.search(technician, "Hale") == []


def test_a_dea_initial_mismatch_is_shown_but_allowed(
    qtbot, services: Services, technician: Actor, dialog: PrescriberDialog
) -> None:
    type_prescriber(qtbot, dialog, DEA_number="BT1234563")
    qtbot.keyClicks(control(dialog, "DEA expires on"), NEXT_YEAR)
    control(dialog, "Schedule 4").setChecked(True)
    assert "second letter T is not the initial" in dialog.warnings_shown
    with qtbot.waitSignal(dialog.prescriber_saved) as saved:
        press(qtbot, dialog, Qt.Key.Key_Return)
    assert any("second letter T" in warning for warning in saved.args[0].warnings)
    assert services.prescribers.search(technician, "BT1234563")[0].last_name == "Hale"


def test_a_duplicate_npi_names_the_prescriber_who_has_it(
    qtbot, services: Services, technician: Actor, dialog: PrescriberDialog
) -> None:
    services.prescribers.create_prescriber(
        technician, draft=PrescriberDraft(last_name="Moss", first_name="Ira", npi="1245319599")
    )
    type_prescriber(qtbot, dialog, DEA_number="")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert "already belongs to Ira Moss" in control(dialog, "NPI problem").text()


def test_a_stale_edit_is_explained(qtbot, services: Services, technician: Actor) -> None:
    saved = services.prescribers.create_prescriber(
        technician, draft=PrescriberDraft(last_name="Moss", first_name="Ira", npi="1245319599")
    )
    dialog = show_active(qtbot, PrescriberDialog(services, technician, prescriber=saved.prescriber))
    services.prescribers.update_prescriber(
        technician,
        saved.prescriber.id,
        expected_version=saved.prescriber.version,
        draft=PrescriberDraft(
            last_name="Moss", first_name="Ira", npi="1245319599", phone="2175550100"
        ),
    )
    qtbot.keyClicks(control(dialog, "City"), "Peoria")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert "changed by another workstation" in control(dialog, "Message").text()
    assert control(dialog, "City").text() == "Peoria"


def test_search_and_pick_by_keyboard(qtbot, services: Services, technician: Actor) -> None:
    for last, npi in (("Moss", "1245319599"), ("Mossberg", "1234567893")):
        services.prescribers.create_prescriber(
            technician, draft=PrescriberDraft(last_name=last, first_name="Ira", npi=npi)
        )
    search = show_active(qtbot, PrescriberSearchDialog(services, technician))
    with qtbot.waitSignal(search.searched):
        qtbot.keyClicks(focused(search), "moss")
        press(qtbot, search, Qt.Key.Key_Return)
    assert [row.last_name for row in search.model.rows] == ["Moss", "Mossberg"]
    press(qtbot, search, Qt.Key.Key_Down)
    with qtbot.waitSignal(search.prescriber_chosen) as chosen:
        press(qtbot, search, Qt.Key.Key_Return)
    assert chosen.args[0].npi == "1234567893"
