"""The label preview states the pharmacy and fill facts in plain text."""

from __future__ import annotations

from app.domain.fill_states import FillState
from app.services.pharmacy import PharmacyProfile
from tests.ui.models.test_fills import fill_row
from ui.docks.label import NO_FILL_TEXT, NO_PROFILE_TEXT, label_text

PROFILE = PharmacyProfile(
    name="Maple Street Pharmacy",
    address_line1="12 Maple Street",
    address_line2="Suite 4",
    city="Springfield",
    state="IL",
    postal_code="62701",
    phone="(217) 555-0100",
    npi="1234567893",
    ncpdp_id="1234567",
    dea_number="BT1234563",
)


def test_label_text_for_a_fill():
    text = label_text(PROFILE, fill_row(5, FillState.FILL)).splitlines()
    assert text[:4] == [
        "Maple Street Pharmacy",
        "12 Maple Street, Suite 4",
        "Springfield, IL 62701",
        "Phone (217) 555-0100",
    ]
    assert "Rx 600005    Fill 0" in text
    assert "Rivera, Ana" in text
    assert "Take 1 tablet by mouth once daily" in text
    assert "Qty 30    Days supply 30" in text
    assert not any("Federal law" in line for line in text)


def test_controlled_substance_carries_the_transfer_caution():
    text = label_text(PROFILE, fill_row(5, FillState.FILL, dea_schedule="CII"))
    assert "Federal law prohibits the transfer of this drug" in text


def test_label_text_without_profile_or_fill():
    assert label_text(None, None) == f"{NO_PROFILE_TEXT}\n\n{NO_FILL_TEXT}"
