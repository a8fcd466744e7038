"""A pharmacist adds the product of a scanned bottle the catalogue lacks; the bottle is then
scanned again and judged by the ordinary verdict rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, DrugPackage, DrugProduct, Fill, FillBottle, StockMovement
from app.domain.barcodes import GS, gs1_element_string, gtin14_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.domain.verdicts import Requirement, Verdict
from app.errors import PermissionDenied
from app.services.local_products import (
    PACKAGE_ADDED,
    PRODUCT_ADDED,
    PharmacyProductDraft,
    ProductAlreadyInCatalogue,
    ProductRefused,
)
from app.services.unit_of_work import Actor
from app.services.verification import NextStep, StopReason
from tests.app.services.pharmacy_data import add_fill, add_patient, add_prescription
from tests.app.services.verification_data import LISINOPRIL, catalogue_fill

NORVASC = "0069-1530-68"  # a real package NDC the demo catalogue lacks
NORVASC_READINGS = ("0069-1530-68", "00691-530-68", "00691-5306-8")
EXPIRY = date.today() + timedelta(days=400)


def bottle(ndc: str, *, lot: str = "NV001", serial: str = "SN1") -> str:
    """The GS1 DataMatrix of a stock bottle: GTIN, expiry, lot, GS, serial."""
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=EXPIRY, lot=lot, serial=serial, gs=GS
    )


AMLODIPINE = PharmacyProductDraft(
    ndc=NORVASC,
    proprietary_name="Norvasc",
    nonproprietary_name="Amlodipine Besylate",
    strength="10",
    strength_unit="mg",
    dosage_form="tablet",
    route="oral",
    labeler="Pfizer Laboratories Div Pfizer Inc",
    package_description="90 TABLET in 1 BOTTLE (0069-1530-68)",
    billing_unit="EA",
    billing_quantity=Decimal(90),
)
# The same bottle entered as what the prescription asks for, by another labeler.
LISINOPRIL_ELSEWHERE = replace(
    AMLODIPINE,
    proprietary_name="Lisinopril",
    nonproprietary_name="Lisinopril",
    labeler="Pfizer Laboratories Div Pfizer Inc",
)


def open_lisinopril_fill(services: Services, admin: Actor, technician: Actor) -> int:
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=LISINOPRIL)
    services.verification.open_fill(technician, fill_id)
    return fill_id


def add(services: Services, actor: Actor, fill_id: int, draft: PharmacyProductDraft, **more: Any):
    return services.verification.add_product_from_scan(
        actor, fill_id, scanned_text=more.get("scanned_text", bottle(NORVASC)), product=draft
    )


def catalogue_rows(services: Services) -> dict[str, int]:
    with services.database.reading() as session:
        return {
            "products": session.scalar(select(func.count(DrugProduct.id))) or 0,
            "packages": session.scalar(select(func.count(DrugPackage.id))) or 0,
            "events": session.scalar(select(func.count(AuditEvent.id))) or 0,
        }


def fill_untouched(services: Services, fill_id: int) -> tuple[int, int, int]:
    """(bottles, movements, version) of the fill."""
    with services.database.reading() as session:
        return (
            session.scalar(select(func.count(FillBottle.id)).where(FillBottle.fill_id == fill_id))
            or 0,
            session.scalar(
                select(func.count(StockMovement.id)).where(StockMovement.fill_id == fill_id)
            )
            or 0,
            session.scalars(select(Fill.version).where(Fill.id == fill_id)).one(),
        )


def test_an_unknown_bottle_stops_and_offers_the_pharmacist_its_readings(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    judgement = services.verification.judge(technician, fill_id, text=bottle(NORVASC))
    assert judgement.verdict is Verdict.UNKNOWN
    assert judgement.stop and judgement.stop_reason is StopReason.NOT_IN_CATALOGUE
    assert NextStep.PHARMACIST_ADDS_PRODUCT in judgement.next_steps
    assert judgement.candidates == NORVASC_READINGS
    assert "a pharmacist may add the product" in judgement.message


def test_a_pharmacist_adds_the_product_audited_searchable_and_nothing_is_accepted(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    before = fill_untouched(services, fill_id)

    added = add(services, pharmacist, fill_id, AMLODIPINE)

    assert added.ndc == NORVASC
    assert added.label == (
        "Norvasc (AMLODIPINE BESYLATE) 10 mg TABLET by Pfizer Laboratories Div Pfizer Inc, "
        "NDC 0069-1530-68"
    )
    with services.database.reading() as session:
        product = session.get(DrugProduct, added.product_id)
        package = session.get(DrugPackage, added.package_id)
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_([PRODUCT_ADDED, PACKAGE_ADDED]))
        ).all()
        rx = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == PRODUCT_ADDED)
        ).one()["rx"]
    assert product is not None and package is not None
    assert (product.source, product.fda_product_id, product.product_ndc) == (
        "pharmacy",
        "PHARMACY-00069153068",
        "0069-1530",
    )
    assert (product.substance_name, product.strength, product.strength_unit) == (
        "AMLODIPINE BESYLATE",
        "10",
        "mg/1",
    )
    assert (product.dosage_form, product.route, product.dea_schedule) == ("TABLET", "ORAL", None)
    assert not product.discontinued
    assert (package.ndc, package.ndc11, package.billing_unit, package.billing_quantity) == (
        NORVASC,
        "00069153068",
        "EA",
        90,
    )
    assert package.billing_quantity_source == "edited"
    assert sorted((event.action, event.username) for event in events) == [
        (PACKAGE_ADDED, pharmacist.username),
        (PRODUCT_ADDED, pharmacist.username),
    ]
    assert all(event.summary["fill_id"] == fill_id for event in events)
    assert all(event.summary["ndc"] == NORVASC for event in events)
    assert rx.endswith("-0")
    # Found by catalogue search as an imported package is, by name and by NDC fragment.
    for query in ("norvasc", "norvasc 10 mg tablet", "1530", "00069153068"):
        hits = services.catalogue.search(technician, query)
        assert [hit.package_id for hit in hits] == [added.package_id], query
    assert added.package_id in {
        hit.package_id
        for hit in services.catalogue.search(technician, "amlodipine besylate pfizer")
    }
    # The bottle itself was not accepted: it is scanned again.
    assert fill_untouched(services, fill_id) == before


def test_a_technician_is_refused_and_the_refusal_is_audited(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    before = catalogue_rows(services)
    with pytest.raises(PermissionDenied, match="Only a pharmacist may add a product"):
        add(services, technician, fill_id, AMLODIPINE)
    after = catalogue_rows(services)
    assert (after["products"], after["packages"]) == (before["products"], before["packages"])
    with services.database.reading() as session:
        denied = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.denied")
        ).one()
    assert (denied.username, denied.entity_id) == (
        technician.username,
        "add a product to the drug catalogue",
    )


@pytest.mark.parametrize(
    ("draft", "verdict", "requires"),
    [
        (AMLODIPINE, Verdict.WRONG_DRUG, None),
        (LISINOPRIL_ELSEWHERE, Verdict.OTHER_MANUFACTURER, Requirement.PHARMACIST_OVERRIDE),
    ],
    ids=["another drug", "the same drug by another labeler"],
)
def test_the_rescanned_bottle_is_judged_by_the_ordinary_rules(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    draft: PharmacyProductDraft,
    verdict: Verdict,
    requires: Requirement | None,
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    add(services, pharmacist, fill_id, draft)

    judgement = services.verification.judge(technician, fill_id, text=bottle(NORVASC))

    assert judgement.verdict is verdict, judgement.message
    assert judgement.requires is requires
    assert judgement.ndc == NORVASC
    assert judgement.stop is (verdict is Verdict.WRONG_DRUG)
    assert fill_untouched(services, fill_id)[:2] == (0, 0)


def test_a_prescription_for_the_added_package_matches_and_is_dispensed(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    first = open_lisinopril_fill(services, admin, technician)
    added = add(services, pharmacist, first, AMLODIPINE)
    patient_id = add_patient(services, admin)
    prescription_id = add_prescription(
        services, admin, patient_id=patient_id, package_id=added.package_id
    )
    fill_id = add_fill(services, admin, prescription_id=prescription_id, state=FillState.FILL)
    services.inventory.receive(
        technician, added.package_id, lot_number="NV001", expiry=EXPIRY, quantity=30
    )
    view = services.verification.open_fill(technician, fill_id)

    judgement = services.verification.judge(technician, fill_id, text=bottle(NORVASC))
    assert judgement.verdict is Verdict.MATCH and not judgement.stop, judgement.message
    accepted = services.verification.accept_bottle(
        technician,
        fill_id,
        text=bottle(NORVASC),
        manual=False,
        quantity=Decimal(30),
        expected_version=view.version,
    )
    assert accepted.bottle.verdict is Verdict.MATCH and accepted.complete
    assert fill_untouched(services, fill_id)[:2] == (1, 1)


REFUSALS = [
    ("blank proprietary name", {"proprietary_name": " "}, "proprietary_name"),
    ("blank generic name", {"nonproprietary_name": ""}, "nonproprietary_name"),
    ("blank strength", {"strength": ""}, "strength"),
    ("strength not a number", {"strength": "ten"}, "strength"),
    ("unit dividing by zero", {"strength_unit": "mg/0mL"}, "strength_unit"),
    (
        "two ingredients, one strength",
        {"active_ingredients": "AMLODIPINE; ATORVASTATIN"},
        "strength",
    ),
    ("blank dosage form", {"dosage_form": ""}, "dosage_form"),
    ("blank labeler", {"labeler": ""}, "labeler"),
    ("schedule I", {"dea_schedule": "CI"}, "dea_schedule"),
    ("unknown billing unit", {"billing_unit": "BX"}, "billing_unit"),
    ("no billing quantity", {"billing_quantity": None}, "billing_quantity"),
    ("zero billing quantity", {"billing_quantity": Decimal(0)}, "billing_quantity"),
    ("negative billing quantity", {"billing_quantity": Decimal(-90)}, "billing_quantity"),
    ("four decimals", {"billing_quantity": Decimal("1.0005")}, "billing_quantity"),
    ("NDC without hyphens", {"ndc": "0069153068"}, "ndc"),
    ("not an NDC", {"ndc": "69-1530"}, "ndc"),
    ("an NDC the bottle does not carry", {"ndc": "1234-5678-90"}, "ndc"),
    ("name too long", {"proprietary_name": "N" * 256}, "proprietary_name"),
]


@pytest.mark.parametrize(
    ("changes", "field"),
    [(changes, field) for _, changes, field in REFUSALS],
    ids=[name for name, _, _ in REFUSALS],
)
def test_bad_input_is_refused_under_its_field_and_changes_nothing(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    changes: dict[str, Any],
    field: str,
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    before = catalogue_rows(services)
    with pytest.raises(ProductRefused) as refused:
        add(services, pharmacist, fill_id, replace(AMLODIPINE, **changes))
    assert refused.value.facts["field"] == field, refused.value.message
    assert catalogue_rows(services) == before
    assert services.catalogue.search(technician, "norvasc") == []


def test_an_ndc_that_is_not_on_the_bottle_names_the_readings(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    with pytest.raises(ProductRefused, match="not the code on this bottle") as refused:
        add(services, pharmacist, fill_id, replace(AMLODIPINE, ndc="1234-5678-90"))
    assert refused.value.facts["readings"] == list(NORVASC_READINGS)
    # Another reading of the same digits is the pharmacist's to choose from the package.
    added = add(services, pharmacist, fill_id, replace(AMLODIPINE, ndc="00691-530-68"))
    assert added.ndc == "00691-530-68"


def test_a_known_code_is_refused_as_a_rescan(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    add(services, pharmacist, fill_id, AMLODIPINE)
    before = catalogue_rows(services)
    with pytest.raises(ProductAlreadyInCatalogue, match="scan the bottle again"):
        add(services, pharmacist, fill_id, AMLODIPINE)
    with pytest.raises(ProductAlreadyInCatalogue, match="already in the drug catalogue"):
        add(
            services,
            pharmacist,
            fill_id,
            replace(AMLODIPINE, ndc="65862-039-30"),
            scanned_text=bottle("65862-039-30"),
        )
    assert catalogue_rows(services) == before


@pytest.mark.parametrize(
    ("scanned_text", "says"),
    [("hello world", "scan the bottle again"), ("RX1234567-0", "Rx label")],
    ids=["unreadable", "an Rx label"],
)
def test_a_scan_that_is_no_stock_package_adds_nothing(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    scanned_text: str,
    says: str,
) -> None:
    fill_id = open_lisinopril_fill(services, admin, technician)
    before = catalogue_rows(services)
    with pytest.raises(ProductRefused, match=says):
        add(services, pharmacist, fill_id, AMLODIPINE, scanned_text=scanned_text)
    assert catalogue_rows(services) == before
