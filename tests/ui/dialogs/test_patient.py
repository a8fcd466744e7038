from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit

from app.bootstrap import Services
from app.services.patients import AllergyDraft, CoverageDraft, PatientDraft
from app.services.unit_of_work import Actor
from tests.ui.dialogs.helpers import audit_trail, control
from tests.ui.dialogs.keyboard import alt, focused, press, show_active, type_into
from tests.ui.pharmacy_data import SeededPharmacy
from ui.dialogs.patient import PatientDialog
from ui.dialogs.patient_search import PatientProfileDialog, PatientSearchDialog


@pytest.fixture
def new_patient(qtbot, services: Services, technician: Actor) -> PatientDialog:
    return show_active(qtbot, PatientDialog(services, technician))


def only_patient(services: Services, actor: Actor, name: str):
    [hit] = services.patients.search(actor, name)
    return services.patients.open_record(actor, hit.id, purpose="test")


def test_a_new_patient_is_entered_by_keyboard_alone(
    qtbot, services: Services, technician: Actor, new_patient: PatientDialog
) -> None:
    dialog = new_patient
    for name, text in (
        ("Last name", "Marsh"),
        ("First name", "Odette"),
        ("Middle name", ""),
        ("Date of birth", "04/17/1958"),
        ("Sex", "F"),
        ("Address", "14 Larkspur Lane"),
        ("Suite, unit", ""),
        ("City", "Springfield"),
        ("State", "IL"),
        ("ZIP code", "62704"),
        ("Phone", "217 555 0143"),
        ("Other phone", ""),
        ("Email", "odette.marsh@example.org"),
        ("Language", "S"),
    ):
        type_into(qtbot, dialog, name, text)
    alt(qtbot, dialog, "2")
    alt(qtbot, dialog, "i")
    for name, text in (("Ingredient", "Codeine"), ("Drug class", ""), ("Other (free text)", "")):
        type_into(qtbot, dialog, name, text)
    qtbot.keyClicks(focused(dialog), "hives")
    press(qtbot, dialog, Qt.Key.Key_Return)  # Enter in an allergy field adds the allergy
    assert dialog.isVisible()
    assert control(dialog, "Allergies").count() == 1
    assert control(dialog, "Allergy status").currentIndex() == 2
    type_into(qtbot, dialog, "Ingredient")
    type_into(qtbot, dialog, "Drug class", "Sulfonamides")
    press(qtbot, dialog, Qt.Key.Key_Return)
    alt(qtbot, dialog, "d")
    qtbot.keyClicks(focused(dialog), "Hypertension")
    press(qtbot, dialog, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert control(dialog, "Conditions").count() == 1

    alt(qtbot, dialog, "3")
    alt(qtbot, dialog, "n")
    for name, text in (
        ("Primary plan name", "Prairie Health PPO"),
        ("Primary bin", "610014"),
        ("Primary pcn", "PHP01"),
        ("Primary group", "GRP778"),
        ("Primary cardholder id", "PHX4471"),
        ("Primary person code", "01"),
    ):
        type_into(qtbot, dialog, name, text)
    alt(qtbot, dialog, "4")
    alt(qtbot, dialog, "l")  # a check box's mnemonic ticks it
    alt(qtbot, dialog, "p")
    qtbot.keyClicks(focused(dialog), date.today().strftime("%m/%d/%Y"))
    with qtbot.waitSignal(dialog.patient_saved) as saved:
        press(qtbot, dialog, Qt.Key.Key_Return)

    assert not dialog.isVisible()
    record = only_patient(services, technician, "Marsh, Odette")
    assert saved.args[0].id == record.id
    assert record.date_of_birth == date(1958, 4, 17)
    assert (record.sex, record.state, record.postal_code) == ("F", "IL", "62704")
    assert record.phone == "(217) 555-0143"
    assert record.preferred_language == "es"
    assert [(a.substance, a.drug_class, a.reaction) for a in record.allergies] == [
        ("Codeine", "", "hives"),
        ("", "Sulfonamides", ""),
    ]
    assert record.no_known_allergies is False
    assert [c.description for c in record.conditions] == ["Hypertension"]
    [coverage] = record.coverages
    assert (coverage.rank, coverage.bin, coverage.pcn, coverage.cardholder_id) == (
        1,
        "610014",
        "PHP01",
        "PHX4471",
    )
    assert record.preferences.large_print_labels
    assert not record.preferences.easy_open_caps
    assert record.privacy_notice_acknowledged_on == date.today()


def _type_person(qtbot, dialog, *, last: str, first: str, born: str, sex: str = "M") -> None:
    for name, text in (("Last name", last), ("First name", first), ("Date of birth", born)):
        edit = control(dialog, name)
        assert isinstance(edit, QLineEdit)
        edit.clear()
        qtbot.keyClicks(edit, text)
    qtbot.keyClicks(control(dialog, "Sex"), sex)


def test_no_known_allergies_is_an_answer_apart_from_not_asked(
    qtbot, services: Services, technician: Actor, new_patient: PatientDialog
) -> None:
    _type_person(qtbot, new_patient, last="Quill", first="Bram", born="11/02/1984")
    status = control(new_patient, "Allergy status")
    assert isinstance(status, QComboBox)
    assert status.currentText() == "Not asked yet"
    status.setCurrentIndex(1)
    with qtbot.waitSignal(new_patient.patient_saved):
        qtbot.keyClick(control(new_patient, "Date of birth"), Qt.Key.Key_Return)
    assert only_patient(services, technician, "Quill").no_known_allergies is True

    other = show_active(qtbot, PatientDialog(services, technician))
    _type_person(qtbot, other, last="Quill", first="Nell", born="01/30/1990", sex="F")
    with qtbot.waitSignal(other.patient_saved):
        qtbot.keyClick(control(other, "Date of birth"), Qt.Key.Key_Return)
    assert only_patient(services, technician, "Quill, Nell").no_known_allergies is None


def test_a_possible_duplicate_is_listed_and_confirmed_as_a_different_person(
    qtbot, services: Services, technician: Actor, new_patient: PatientDialog
) -> None:
    services.patients.create_patient(
        technician,
        draft=PatientDraft(
            last_name="Okonkwo", first_name="Ifeoma", date_of_birth=date(1972, 6, 9), sex="F"
        ),
    )
    _type_person(qtbot, new_patient, last="Okonkwo", first="Ada", born="06/09/1972", sex="F")
    qtbot.keyClick(control(new_patient, "Sex"), Qt.Key.Key_Return)
    assert new_patient.isVisible()
    assert new_patient.duplicates_shown == ["Okonkwo, Ifeoma, born 06/09/1972"]
    assert focused(new_patient).accessibleName() == "Patients already on file"
    assert len(services.patients.search(technician, "Okonkwo")) == 1

    with qtbot.waitSignal(new_patient.patient_saved):
        alt(qtbot, new_patient, "a")
    names = [hit.display_name for hit in services.patients.search(technician, "Okonkwo")]
    assert names == ["Okonkwo, Ada", "Okonkwo, Ifeoma"]
    created = [e for e in audit_trail(services) if e.action == "patient.created"]
    assert "confirmed_not_duplicate_of" in created[-1].summary


def test_the_existing_patient_can_be_opened_instead(
    qtbot, services: Services, technician: Actor, new_patient: PatientDialog
) -> None:
    existing = services.patients.create_patient(
        technician,
        draft=PatientDraft(
            last_name="Okonkwo", first_name="Ifeoma", date_of_birth=date(1972, 6, 9), sex="F"
        ),
    )
    _type_person(qtbot, new_patient, last="Okonkwo", first="Ifeoma", born="09/06/1972", sex="F")
    qtbot.keyClick(control(new_patient, "Sex"), Qt.Key.Key_Return)
    assert new_patient.duplicates_shown  # day and month transposed
    with qtbot.waitSignal(new_patient.existing_patient_chosen) as chosen:
        press(qtbot, new_patient, Qt.Key.Key_Return)
    assert chosen.args == [existing.patient.id]
    assert not new_patient.isVisible()
    assert len(services.patients.search(technician, "Okonkwo")) == 1


@pytest.mark.parametrize(
    ("name", "typed", "problem"),
    [
        ("ZIP code", "6270", "is not a ZIP code"),
        ("Date of birth", "13/45/1980", "is not a date"),
        ("Email", "not-an-address", "mail"),
    ],
)
def test_a_wrong_entry_is_explained_next_to_its_field(
    qtbot, services: Services, technician: Actor, new_patient, name, typed, problem
) -> None:
    _type_person(qtbot, new_patient, last="Vance", first="Pia", born="02/02/1966")
    edit = control(new_patient, name)
    edit.clear()
    qtbot.keyClicks(edit, typed)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert new_patient.isVisible()
    assert problem in control(new_patient, f"{name} problem").text()
    assert new_patient.focusWidget() is edit
    assert services.patients.search(technician, "Vance") == []


def test_a_bad_bin_sends_the_person_to_the_insurance_page(
    qtbot, services: Services, technician: Actor, new_patient
) -> None:
    _type_person(qtbot, new_patient, last="Vance", first="Pia", born="02/02/1966")
    qtbot.keyClicks(control(new_patient, "Primary bin"), "61001")
    qtbot.keyClicks(control(new_patient, "Primary cardholder id"), "X1")
    qtbot.keyClick(control(new_patient, "Last name"), Qt.Key.Key_Return)
    assert new_patient.tabs.currentIndex() == 2
    assert "exactly 6 digits" in control(new_patient, "Primary bin problem").text()
    assert services.patients.search(technician, "Vance") == []


def test_a_stale_edit_shows_the_sentence_and_keeps_what_was_typed(
    qtbot, services: Services, technician: Actor, pharmacist: Actor
) -> None:
    created = services.patients.create_patient(
        technician,
        draft=PatientDraft(
            last_name="Hollis", first_name="June", date_of_birth=date(1949, 12, 1), sex="F"
        ),
    )
    record = services.patients.open_record(technician, created.patient.id, purpose="edit")
    dialog = show_active(qtbot, PatientDialog(services, technician, record=record))
    assert control(dialog, "Date of birth").text() == "12/01/1949"
    services.patients.update_patient(
        pharmacist,
        record.id,
        expected_version=record.version,
        draft=PatientDraft(
            last_name="Hollis",
            first_name="June",
            date_of_birth=date(1949, 12, 1),
            sex="F",
            phone="217-555-0190",
        ),
    )
    city = control(dialog, "City")
    qtbot.keyClicks(city, "Decatur")
    qtbot.keyClick(city, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert "changed by another workstation" in control(dialog, "Message").text()
    assert city.text() == "Decatur"
    assert services.patients.open_record(technician, record.id, purpose="t").city == ""


def test_an_edit_adds_and_removes_allergies_and_changes_coverage(
    qtbot, services: Services, technician: Actor, monkeypatch
) -> None:
    created = services.patients.create_patient(
        technician,
        draft=PatientDraft(
            last_name="Ferro", first_name="Luz", date_of_birth=date(1980, 5, 5), sex="F"
        ),
    )
    patient_id = created.patient.id
    services.patients.add_allergy(
        technician, patient_id, allergy=AllergyDraft(substance="Amoxicillin", reaction="rash")
    )
    services.patients.add_coverage(
        technician,
        patient_id,
        coverage=CoverageDraft(rank=1, bin="003858", cardholder_id="OLD1", pcn="A4"),
    )
    record = services.patients.open_record(technician, patient_id, purpose="edit")
    dialog = show_active(qtbot, PatientDialog(services, technician, record=record))
    dialog.tabs.setCurrentIndex(1)
    allergies = control(dialog, "Allergies")
    allergies.setCurrentRow(0)
    monkeypatch.setattr(
        "ui.dialogs.patient.QInputDialog.getText", lambda *args: ("entered in error", True)
    )
    allergies.setFocus()
    alt(qtbot, dialog, "m")
    assert allergies.count() == 0
    assert control(dialog, "Allergy status").currentIndex() == 0
    alt(qtbot, dialog, "3")
    cardholder = control(dialog, "Primary cardholder id")
    cardholder.clear()
    qtbot.keyClicks(cardholder, "NEW2")
    qtbot.keyClick(cardholder, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted, control(dialog, "Message").text()
    saved = services.patients.open_record(technician, patient_id, purpose="check")
    assert saved.allergies == ()
    assert saved.no_known_allergies is None
    [coverage] = saved.coverages
    assert coverage.cardholder_id == "NEW2"
    removed = [e for e in audit_trail(services) if e.action == "patient.allergy_removed"]
    assert removed[0].summary["reason"] == "entered in error"


# --- search and profile -------------------------------------------------------------------------


def test_search_by_name_then_enter_opens_the_audited_profile_with_history(
    qtbot, services: Services, technician: Actor, seeded_pharmacy: SeededPharmacy
) -> None:
    search = show_active(qtbot, PatientSearchDialog(services, technician))
    with qtbot.waitSignal(search.searched):
        qtbot.keyClicks(focused(search), "rivera")
        press(qtbot, search, Qt.Key.Key_Return)
    assert focused(search).accessibleName() == "Patients found"
    assert [hit.display_name for hit in search.model.rows] == ["Rivera, Ana"]
    press(qtbot, search, Qt.Key.Key_Return)
    profile = search.findChild(PatientProfileDialog)
    assert profile is not None and profile.isVisible()
    assert control(profile, "Born").text() == "03/04/1961"
    assert control(profile, "Allergies").text() == "Not asked"
    rx_numbers = [row.rx_number for row in profile.history.rows]
    assert rx_numbers and all(number.startswith("70000") for number in rx_numbers)
    viewed = [e for e in audit_trail(services) if e.action == "patient.viewed"]
    assert viewed[-1].summary["purpose"] == "patient profile"


@pytest.mark.parametrize("typed", ["700001", "08/19/1979"])
def test_search_by_rx_number_or_birth_date(
    qtbot, services: Services, technician: Actor, seeded_pharmacy: SeededPharmacy, typed: str
) -> None:
    search = show_active(qtbot, PatientSearchDialog(services, technician, pick=True))
    with qtbot.waitSignal(search.searched):
        qtbot.keyClicks(focused(search), typed)
        press(qtbot, search, Qt.Key.Key_Return)
    with qtbot.waitSignal(search.patient_chosen) as chosen:
        press(qtbot, search, Qt.Key.Key_Return)
    assert chosen.args[0].display_name == "Okafor, Ben"
    assert search.chosen == chosen.args[0]


def test_nobody_found_is_said(qtbot, services: Services, technician: Actor) -> None:
    search = show_active(qtbot, PatientSearchDialog(services, technician))
    with qtbot.waitSignal(search.searched):
        qtbot.keyClicks(focused(search), "Nobodyhere")
        press(qtbot, search, Qt.Key.Key_Return)
    assert "Nobody on file matches" in control(search, "Search status").text()
