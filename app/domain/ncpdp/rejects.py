"""NCPDP reject codes (511-FB) in plain English, with what a technician usually does next.

The codes and their official titles are from the public NCPDP Reject Code list (as published in
AHRQ's USHIK and payer sheets); the "next step" sentences are RxBench's own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RejectMeaning:
    code: str
    title: str
    next_step: str


_TABLE: tuple[tuple[str, str, str], ...] = (
    ("01", "M/I BIN number", "Check the BIN on the patient's insurance card."),
    ("02", "M/I version/release number", "Call the switch help desk: the version was refused."),
    ("03", "M/I transaction code", "Call the switch help desk: the transaction type was refused."),
    ("04", "M/I processor control number", "Check the PCN on the patient's insurance card."),
    ("05", "M/I pharmacy number", "Check the pharmacy's NPI in the settings."),
    ("06", "M/I group ID", "Check the group number on the patient's insurance card."),
    ("07", "M/I cardholder ID", "Check the member ID on the patient's insurance card."),
    ("08", "M/I person code", "Check the person code on the insurance card."),
    ("09", "M/I date of birth", "Check the patient's date of birth with the patient."),
    ("10", "M/I patient gender code", "Check the patient's gender with the patient."),
    ("11", "M/I patient relationship code", "Check who the cardholder is to the patient."),
    ("15", "M/I date of service", "Check the date of service of the claim."),
    ("16", "M/I prescription/service reference number", "Check the Rx number."),
    ("17", "M/I fill number", "Check the fill number of the claim."),
    ("19", "M/I days supply", "Correct the days supply and bill again."),
    ("21", "M/I product/service ID", "Check the NDC billed."),
    ("22", "M/I dispense as written (DAW)/product selection code", "Check the DAW code."),
    ("25", "M/I prescriber ID", "Check the prescriber's NPI."),
    ("28", "M/I date prescription written", "Check the date written on the prescription."),
    ("40", "Pharmacy not contracted with plan on date of service", "Bill as cash or another plan."),
    (
        "41",
        "Submit bill to other processor/primary payer",
        "Bill the primary plan first, then this plan as secondary.",
    ),
    ("65", "Patient is not covered", "Ask the patient for current insurance, or bill as cash."),
    ("67", "Filled before coverage effective", "Check the coverage dates with the patient."),
    ("68", "Filled after coverage expired", "Ask the patient for current insurance."),
    ("69", "Filled after coverage terminated", "Ask the patient for current insurance."),
    (
        "70",
        "Product/service not covered",
        "The plan does not pay for this drug: ask the pharmacist about an alternative or bill "
        "as cash.",
    ),
    (
        "75",
        "Prior authorization required",
        "Ask the prescriber to request prior authorization; enter the number when approved.",
    ),
    (
        "76",
        "Plan limitations exceeded",
        "Reduce the quantity or days supply to the plan's limit, or ask for an override.",
    ),
    ("77", "Discontinued product/service ID number", "Bill the NDC of a current package."),
    ("78", "Cost exceeds maximum", "Check the quantity and price billed."),
    (
        "79",
        "Refill too soon",
        "The last fill has not run out yet: fill on or after the date the plan gives, or ask the "
        "pharmacist about an override.",
    ),
    ("80", "Drug-diagnosis mismatch", "Ask the pharmacist; a diagnosis code may be needed."),
    ("81", "Claim too old", "The date of service is too far back to bill."),
    ("83", "Duplicate paid/captured claim", "A claim for this fill is already paid."),
    ("84", "Claim has not been paid/captured", "There is no paid claim to reverse."),
    ("85", "Claim not processed", "Try again; if it repeats, call the plan's help desk."),
    ("87", "Reversal not processed", "There is no paid claim matching this reversal."),
    (
        "88",
        "DUR reject error",
        "The plan found a drug-use problem: the pharmacist reviews it and may submit DUR/PPS "
        "override codes.",
    ),
    ("90", "Host hung up", "The plan's system disconnected: try again."),
    ("91", "Host response error", "The plan's answer could not be read: try again."),
    ("92", "System unavailable/host unavailable", "The plan is down: try again later."),
    ("95", "Time out", "The plan did not answer in time: try again."),
    ("99", "Host processing error", "The plan failed to process the claim: try again later."),
    ("1R", "Version/release value not supported", "Call the switch help desk."),
    ("1S", "Transaction code/type value not supported", "Call the switch help desk."),
    (
        "1U",
        "Transaction count does not match number of transactions",
        "Call RxBench support: the claim was sent malformed.",
    ),
    ("1Y", "Claim segment required for adjudication", "Call RxBench support."),
    ("E7", "M/I quantity dispensed", "Correct the quantity dispensed and bill again."),
    ("EV", "M/I prior authorization number submitted", "Check the prior authorization number."),
    (
        "MR",
        "Product not on formulary",
        "Ask the prescriber for a formulary alternative, or request a formulary exception.",
    ),
    ("R8", "Syntax error", "Call RxBench support: the claim could not be read by the plan."),
)

REJECT_MEANINGS: dict[str, RejectMeaning] = {
    code: RejectMeaning(code, title, next_step) for code, title, next_step in _TABLE
}


def reject_meaning(code: str) -> RejectMeaning:
    """The meaning of a reject code; an unknown code says so rather than guessing."""
    known = REJECT_MEANINGS.get(code)
    if known is not None:
        return known
    return RejectMeaning(
        code,
        f"Reject code {code}",
        "RxBench does not know this code: read the plan's message or call its help desk.",
    )
