from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QVBoxLayout

from app.bootstrap import Services
from app.domain.barcodes import gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import parse_ndc
from app.services.unit_of_work import Actor
from tests.ui.intake_data import import_demo_catalogue
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.catalogue_search import CatalogueSearchField, flags_text


@pytest.fixture
def tasks(qtbot):
    runner = TaskRunner()
    yield runner
    runner.shutdown()


@pytest.fixture
def router() -> ScanRouter:
    return ScanRouter()


@pytest.fixture
def field(qtbot, services: Services, admin: Actor, technician: Actor, tasks, router):
    import_demo_catalogue(services, admin)
    dialog = QDialog()
    qtbot.addWidget(dialog)
    search = CatalogueSearchField(services.catalogue, technician, tasks, scan_router=router)
    search.setAccessibleName("Drug")
    QVBoxLayout(dialog).addWidget(search)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    search.setFocus()
    qtbot.waitUntil(search.hasFocus)
    yield search  # the generator holds the dialog: qtbot keeps only a weak reference
    dialog.close()


def type_and_wait(qtbot, field: CatalogueSearchField, text: str) -> None:
    with qtbot.waitSignal(field.results_shown, timeout=5000):
        qtbot.keyClicks(field, text)


def test_typing_shows_ranked_hits_with_their_package_details(qtbot, field) -> None:
    type_and_wait(qtbot, field, "lisinopril 10")
    assert field.popup_visible
    rows = field.model.rows
    assert rows, "no hits"
    assert all(hit.display_name.lower() == "lisinopril" for hit in rows)
    assert all(hit.strength.startswith("10 ") for hit in rows)
    # Active packages rank before discontinued ones.
    active = [not (hit.discontinued or hit.excluded) for hit in rows]
    assert active == sorted(active, reverse=True)
    model = field.model
    first = [model.index(0, column).data() for column in range(model.columnCount())]
    assert first[model.NDC] == rows[0].ndc
    assert first[model.PACKAGE] == rows[0].package_description
    assert first[model.LABELER] == rows[0].labeler
    assert first[model.FORM] == "tablet"
    assert "packages match “lisinopril 10”" in field.status_text


def test_a_package_is_chosen_with_down_and_enter(qtbot, field) -> None:
    type_and_wait(qtbot, field, "amoxicillin")
    third = field.model.rows[2]
    qtbot.keyClick(field, Qt.Key.Key_Down)
    qtbot.keyClick(field, Qt.Key.Key_Down)
    qtbot.keyClick(field, Qt.Key.Key_Up)
    qtbot.keyClick(field, Qt.Key.Key_Down)
    with qtbot.waitSignal(field.package_chosen) as chosen:
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert chosen.args == [third]
    assert field.chosen == third
    assert not field.popup_visible
    assert third.ndc in field.text()
    # Editing the text afterwards un-chooses the package.
    with qtbot.waitSignal(field.package_cleared):
        qtbot.keyClick(field, Qt.Key.Key_Delete)
    assert field.chosen is None


def test_escape_closes_the_list_and_not_the_dialog(qtbot, field) -> None:
    dialog = field.window()
    type_and_wait(qtbot, field, "atorvastatin")
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert not field.popup_visible
    assert dialog.isVisible()
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_an_ndc_in_any_form_finds_its_package_first(qtbot, field) -> None:
    for typed in ("65162-047-10", "65162004710", "6516204710"):
        field.clear()
        type_and_wait(qtbot, field, typed)
        assert field.model.rows[0].ndc == "65162-047-10", typed


def test_flags_are_said_in_words(qtbot, field) -> None:
    type_and_wait(qtbot, field, "oxycodone 5")
    hit = field.model.rows[0]
    assert flags_text(hit).startswith("Controlled C-II")
    assert field.model.index(0, field.model.FLAGS).data().startswith("Controlled C-II")
    odd = replace(hit, dea_schedule=None, discontinued=True, excluded=True, sample=True)
    assert flags_text(odd) == "Discontinued, Not certified (FDA excluded), Sample"


def test_a_scan_while_it_has_the_focus_chooses_the_package(qtbot, field, router) -> None:
    upc = upc_a_for(parse_ndc("65162-047-10"))
    with qtbot.waitSignal(field.package_chosen, timeout=5000) as chosen:
        router.route(upc + "\r")
    assert chosen.args[0].ndc == "65162-047-10"
    assert "Oxycodone" in field.text()


def test_a_gs1_data_matrix_scan_is_looked_up_by_its_gtin(qtbot, field, router) -> None:
    gtin = gtin14_for(parse_ndc("0591-0407-01"))
    scan = gs1_element_string(gtin=gtin, expiry=None, lot="L123", serial="S9")
    with qtbot.waitSignal(field.package_chosen, timeout=5000) as chosen:
        router.route(scan)
    assert chosen.args[0].ndc == "0591-0407-01"


def test_an_unreadable_scan_is_explained(qtbot, field, router) -> None:
    router.route("12345\r")
    assert field.popup_visible
    assert field.status_text
    assert field.chosen is None


def test_without_the_focus_the_field_takes_no_scan(qtbot, field, router) -> None:
    unclaimed = []
    router.unclaimed_scan.connect(unclaimed.append)
    field.clearFocus()
    qtbot.waitUntil(lambda: not field.hasFocus())
    router.route("0591040701")
    assert unclaimed == ["0591040701"]


def test_a_late_answer_to_an_older_search_is_dropped(
    qtbot, services: Services, technician: Actor, tasks, field
) -> None:
    release = threading.Event()

    class SlowFirstSearch:
        """The real catalogue, holding back the answer to "amox" until told."""

        def search(self, actor, query, *, limit):
            if query == "amox":
                release.wait(5)
            return services.catalogue.search(actor, query, limit=limit)

    slow = CatalogueSearchField(SlowFirstSearch(), technician, tasks)  # type: ignore[arg-type]
    qtbot.addWidget(slow)
    slow.setText("amox")
    slow.search_now()
    slow.setText("atorvastatin")
    with qtbot.waitSignal(slow.results_shown, timeout=5000):
        slow.search_now()
    release.set()
    qtbot.waitUntil(lambda: not tasks.busy)
    assert slow.model.rows
    assert all("atorvastatin" in hit.display_name.lower() for hit in slow.model.rows)
