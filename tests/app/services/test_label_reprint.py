"""A bottle whose lot expires before the discard-after date the fill's label already carries:
verification holds the fill back until a reprinted label promises no later than the lot."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DrugPackage, Fill, LabelPrint
from app.domain.barcodes import GS, gs1_element_string, gtin14_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.services.house_settings import InventoryPolicy
from app.services.unit_of_work import Actor
from app.services.verification import BottleAccepted, LabelReprintRequired
from tests.app.services.pharmacy_data import SEEDED, package_of
from tests.app.services.verification_data import LISINOPRIL, catalogue_fill

TODAY = date.today()
PROMISED = TODAY + timedelta(days=365)  # the discard-after date on the first label
SHORT = TODAY + timedelta(days=200)  # a lot that expires before it
LONG = TODAY + timedelta(days=500)


def bottle(services: Services, *, expiry: date, lot: str, serial: str) -> str:
    with services.database.reading() as session:
        ndc = session.scalars(
            select(DrugPackage.ndc).where(DrugPackage.id == package_of(services, LISINOPRIL))
        ).one()
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial=serial, gs=GS
    )


def print_label(
    services: Services, actor: Actor, fill_id: int, *, discard_after: date, reason: str = ""
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
            user_id=actor.user_id,
            workstation=actor.workstation,
        )
        uow.session.add(printed)
        uow.audit(SEEDED, printed)


def accept(
    services: Services, technician: Actor, fill_id: int, text: str, quantity: int
) -> BottleAccepted:
    version = services.verification.view(technician, fill_id).version
    return services.verification.accept_bottle(
        technician,
        fill_id,
        text=text,
        manual=False,
        quantity=Decimal(quantity),
        expected_version=version,
    )


def state(services: Services, fill_id: int) -> str:
    with services.database.reading() as session:
        return session.scalars(select(Fill.state).where(Fill.id == fill_id)).one()


@pytest.fixture(autouse=True)
def negative_on_hand_allowed(services: Services, admin: Actor) -> None:
    """The bottles scanned here are of lots never received in RxBench: labels, not stock, are
    tested, so the house lets those lots go negative."""
    services.house_settings.set_inventory_policy(
        admin, InventoryPolicy(allow_negative_on_hand=True)
    )


@pytest.fixture
def fill_with_label(services: Services, admin: Actor, technician: Actor) -> int:
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=LISINOPRIL)
    print_label(services, technician, fill_id, discard_after=PROMISED)
    services.verification.open_fill(technician, fill_id)
    return fill_id


def test_a_short_dated_lot_holds_the_fill_until_the_label_is_reprinted(
    services: Services, technician: Actor, fill_with_label: int
) -> None:
    fill_id = fill_with_label
    first = accept(
        services, technician, fill_id, bottle(services, expiry=LONG, lot="L1", serial="1"), 10
    )
    assert first.label_reprint_needed is None
    short = accept(
        services, technician, fill_id, bottle(services, expiry=SHORT, lot="S1", serial="2"), 20
    )
    with services.database.reading() as session:
        printed_at = session.scalars(select(LabelPrint.printed_at)).one()
    expected = (
        f"The label printed on {printed_at.date().isoformat()} says discard after "
        f"{PROMISED.isoformat()}; lot S1 expires {SHORT.isoformat()}: reprint the label (with a "
        "reason) before sending it to the pharmacist."
    )
    assert short.label_reprint_needed == expected
    assert services.verification.view(technician, fill_id).label_reprint_needed == expected

    with pytest.raises(LabelReprintRequired) as refused:
        services.verification.complete(technician, fill_id, expected_version=short.fill_version)
    assert refused.value.message == expected
    assert refused.value.facts["lot"] == "S1"
    assert state(services, fill_id) == FillState.FILL.value

    # A newer print that still promises too late does not do.
    print_label(
        services, technician, fill_id, discard_after=SHORT + timedelta(days=1), reason="smudged"
    )
    with pytest.raises(LabelReprintRequired):
        services.verification.complete(technician, fill_id, expected_version=short.fill_version)

    print_label(services, technician, fill_id, discard_after=SHORT, reason="lot S1 expires sooner")
    assert services.verification.view(technician, fill_id).label_reprint_needed is None
    row = services.verification.complete(technician, fill_id, expected_version=short.fill_version)
    assert row.state is FillState.FINAL_VERIFICATION


def test_voiding_the_short_dated_bottle_lifts_the_reprint(
    services: Services, technician: Actor, fill_with_label: int
) -> None:
    fill_id = fill_with_label
    short = accept(
        services, technician, fill_id, bottle(services, expiry=SHORT, lot="S1", serial="1"), 30
    )
    assert short.label_reprint_needed is not None
    voided = services.verification.void_bottle(
        technician,
        fill_id,
        short.bottle.bottle_id,
        reason="took a longer-dated bottle",
        expected_version=short.fill_version,
    )
    assert voided.label_reprint_needed is None
    again = accept(
        services, technician, fill_id, bottle(services, expiry=LONG, lot="L1", serial="2"), 30
    )
    assert again.label_reprint_needed is None
    row = services.verification.complete(technician, fill_id, expected_version=again.fill_version)
    assert row.state is FillState.FINAL_VERIFICATION


def test_no_printed_label_or_a_lot_lasting_past_it_needs_no_reprint(
    services: Services, admin: Actor, technician: Actor
) -> None:
    unprinted = catalogue_fill(services, admin, FillState.FILL, product_ndc=LISINOPRIL)
    services.verification.open_fill(technician, unprinted)
    accepted = accept(
        services, technician, unprinted, bottle(services, expiry=SHORT, lot="S1", serial="1"), 30
    )
    assert accepted.label_reprint_needed is None
    row = services.verification.complete(
        technician, unprinted, expected_version=accepted.fill_version
    )
    assert row.state is FillState.FINAL_VERIFICATION

    printed = catalogue_fill(services, admin, FillState.FILL, product_ndc=LISINOPRIL)
    print_label(services, technician, printed, discard_after=PROMISED)
    services.verification.open_fill(technician, printed)
    exact = accept(
        services, technician, printed, bottle(services, expiry=PROMISED, lot="P1", serial="2"), 30
    )
    assert exact.label_reprint_needed is None  # a lot expiring on the very date promised
    row = services.verification.complete(technician, printed, expected_version=exact.fill_version)
    assert row.state is FillState.FINAL_VERIFICATION
