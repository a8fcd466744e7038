"""The training payer answers real D.0 over TCP by its plan rules, and remembers what it paid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.claims_transport import (
    RecoveryPolicy,
    SafeBiller,
    SwitchEndpoint,
    TcpClaimsTransport,
)
from app.adapters.training_payer import (
    Adjudicator,
    PlanRules,
    TrainingPayerServer,
    load_plan_rules,
    plan_rules_from_json,
    training_plans,
)
from app.domain.ncpdp import (
    BillingClaim,
    ClaimResponse,
    DurService,
    EligibilityRequest,
    Insurance,
    OtherPayment,
    Request,
    ResponseStatus,
    build_request,
    ensure_matches,
    parse_response,
    reversal_of,
)
from app.errors import ValidationFailed
from tests.app.domain.ncpdp.claims import DATE_OF_SERVICE, claim, header

COVERED = "00093005801"
NOT_COVERED = "00378180110"
NEEDS_PA = "00002143380"
BRAND = "00173068220"

PRIMARY = PlanRules(
    name="Test Primary",
    bin="610999",
    pcn="RXTRAIN",
    dispensing_fee_cents=150,
    copay_cents_by_tier={1: 500, 2: 2500},
    formulary={COVERED: 1, NEEDS_PA: 2, BRAND: 2},
    not_covered=frozenset({NOT_COVERED}),
    prior_auth_required=frozenset({NEEDS_PA}),
    prior_auth_numbers=frozenset({"PA12345"}),
    max_quantity=Decimal(120),
    max_days_supply=34,
    refill_too_soon_percent=75,
    unit_cost_cents={COVERED: Decimal("25"), BRAND: Decimal("812.5")},
    default_unit_cost_cents=Decimal(100),
    cardholders=frozenset({"TRN00012345"}),
)
SECONDARY = PlanRules(
    name="Test Secondary",
    bin="610998",
    pcn="RXSECOND",
    dispensing_fee_cents=150,
    copay_cents_by_tier={1: 0},
    default_tier=1,
    unit_cost_cents={BRAND: Decimal("812.5")},
    default_unit_cost_cents=Decimal(100),
    secondary_pays_up_to_cents=1500,
)


@pytest.fixture
def payer() -> Iterator[TrainingPayerServer]:
    with TrainingPayerServer(Adjudicator([PRIMARY, SECONDARY])) as server:
        server.start()
        yield server


@pytest.fixture
def transport(payer: TrainingPayerServer) -> TcpClaimsTransport:
    host, port = payer.address
    return TcpClaimsTransport(SwitchEndpoint(host=host, port=port))


def send(transport: TcpClaimsTransport, request: Request) -> ClaimResponse:
    response = parse_response(transport.send(build_request(request), timeout=5))
    ensure_matches(request, response)
    return response


def test_a_covered_claim_is_paid_with_amounts_that_add_up(transport: TcpClaimsTransport) -> None:
    response = send(transport, claim())
    assert response.status is ResponseStatus.PAID
    assert response.amounts is not None
    # 30 tablets at 25 cents (less than the 12.34 submitted) + 1.50 fee; tier 1 copay 5.00.
    assert response.amounts.ingredient_cost_paid_cents == 750
    assert response.amounts.dispensing_fee_paid_cents == 150
    assert response.amounts.patient_pay_cents == 500
    assert response.amounts.copay_cents == 500
    assert response.amounts.total_amount_paid_cents == 400
    assert response.authorization_number.startswith("TRN")


def test_the_patient_never_pays_more_than_the_claim(transport: TcpClaimsTransport) -> None:
    response = send(transport, claim(quantity=Decimal(4), days_supply=4))
    assert response.amounts is not None
    assert response.amounts.patient_pay_cents == 250  # 4 × 25 + 150, under the 5.00 copay
    assert response.amounts.total_amount_paid_cents == 0


def _rejected_with(transport: TcpClaimsTransport, request: BillingClaim) -> tuple[str, ...]:
    response = send(transport, request)
    assert response.status is ResponseStatus.REJECTED
    return response.reject_codes


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        (claim(ndc11=NOT_COVERED), "70"),
        (claim(ndc11="99999999999"), "MR"),
        (claim(ndc11=NEEDS_PA), "75"),
        (claim(ndc11=NEEDS_PA, prior_authorization_number="WRONG"), "75"),
        (claim(quantity=Decimal(121)), "76"),
        (claim(days_supply=35), "76"),
        (claim(days_supply=0), "19"),
        (claim(quantity=Decimal(0)), "E7"),
        (claim(insurance=Insurance(cardholder_id="SOMEONEELSE")), "65"),
        (claim(insurance=Insurance(cardholder_id=" ")), "07"),
        (claim(prescriber=replace(claim().prescriber, npi="1245319590")), "25"),
        (claim(header=header(pcn="OTHER")), "04"),
        (claim(header=header(bin="123456")), "01"),
    ],
)
def test_plan_rules_reject_with_the_standard_code(
    transport: TcpClaimsTransport, changed: BillingClaim, code: str
) -> None:
    assert _rejected_with(transport, changed) == (code,)


def test_a_prior_authorization_reject_says_what_to_do(transport: TcpClaimsTransport) -> None:
    response = send(transport, claim(ndc11=NEEDS_PA))
    assert response.rejects[0].title == "Prior authorization required"
    assert "PRIOR AUTH" in response.additional_messages[0]


def test_an_approved_prior_authorization_number_gets_the_claim_paid(
    transport: TcpClaimsTransport,
) -> None:
    response = send(transport, claim(ndc11=NEEDS_PA, prior_authorization_number="PA12345"))
    assert response.status is ResponseStatus.PAID


def test_a_refill_too_soon_after_a_paid_fill_is_rejected_79_with_the_next_date(
    transport: TcpClaimsTransport,
) -> None:
    assert send(transport, claim()).status is ResponseStatus.PAID
    early = claim(fill_number=1, header=header(date_of_service=DATE_OF_SERVICE + timedelta(10)))
    response = send(transport, early)
    assert response.reject_codes == ("79",)
    # 75 % of 30 days is 22.5, so the 23rd day after the last fill.
    assert response.additional_messages == ("NEXT FILL ON OR AFTER 20261219",)
    (dur,) = response.dur_responses
    assert dur.reason_for_service == "ER"
    assert dur.previous_fill_date == DATE_OF_SERVICE
    assert dur.previous_fill_quantity == Decimal(30)
    assert dur.other_pharmacy_indicator == "1"
    on_time = replace(early, header=header(date_of_service=DATE_OF_SERVICE + timedelta(23)))
    assert send(transport, on_time).status is ResponseStatus.PAID


def test_a_pharmacist_override_of_an_early_refill_is_paid(transport: TcpClaimsTransport) -> None:
    send(transport, claim())
    early = claim(
        fill_number=1,
        header=header(date_of_service=DATE_OF_SERVICE + timedelta(10)),
        dur_services=(
            DurService(reason_for_service="ER", professional_service="M0", result_of_service="1G"),
        ),
    )
    assert send(transport, early).status is ResponseStatus.PAID


def test_the_same_claim_billed_twice_is_a_duplicate_of_paid(transport: TcpClaimsTransport) -> None:
    first = send(transport, claim())
    second = send(transport, claim())
    assert second.status is ResponseStatus.DUPLICATE_OF_PAID
    assert second.amounts == first.amounts
    assert second.authorization_number == first.authorization_number


def test_another_claim_for_a_paid_fill_must_reverse_it_first(
    transport: TcpClaimsTransport,
) -> None:
    send(transport, claim())
    assert _rejected_with(transport, claim(quantity=Decimal(60), days_supply=30)) == ("83",)


def test_a_reversal_is_approved_once_then_a_duplicate_then_the_fill_can_be_billed_again(
    transport: TcpClaimsTransport,
) -> None:
    send(transport, claim())
    assert send(transport, reversal_of(claim())).status is ResponseStatus.APPROVED
    assert send(transport, reversal_of(claim())).status is ResponseStatus.DUPLICATE_OF_APPROVED
    rebilled = claim(quantity=Decimal(60), days_supply=30)
    assert send(transport, rebilled).status is ResponseStatus.PAID


def test_a_reversal_with_nothing_paid_is_rejected(transport: TcpClaimsTransport) -> None:
    response = send(transport, reversal_of(claim()))
    assert response.status is ResponseStatus.REJECTED
    assert response.reject_codes == ("87",)


def test_eligibility_is_approved_for_a_member_and_rejected_for_a_stranger(
    transport: TcpClaimsTransport,
) -> None:
    member = EligibilityRequest(
        header=header(), patient=claim().patient, insurance=claim().insurance
    )
    assert send(transport, member).status is ResponseStatus.APPROVED
    stranger = replace(member, insurance=Insurance(cardholder_id="NOBODY"))
    assert send(transport, stranger).reject_codes == ("65",)


def test_secondary_billing_pays_what_the_primary_left_up_to_its_limit(
    transport: TcpClaimsTransport,
) -> None:
    brand = claim(ndc11=BRAND, ingredient_cost_cents=30000)
    primary = send(transport, brand)
    assert primary.amounts is not None
    assert primary.amounts.patient_pay_cents == 2500  # tier 2
    secondary_claim = claim(
        header=header(bin="610998", pcn="RXSECOND"),
        ndc11=BRAND,
        ingredient_cost_cents=30000,
        other_coverage_code="2",
        other_payments=(
            OtherPayment(
                payer_bin="610999",
                payer_date=DATE_OF_SERVICE,
                amount_paid_cents=primary.amounts.total_amount_paid_cents,
            ),
        ),
    )
    secondary = send(transport, secondary_claim)
    assert secondary.status is ResponseStatus.PAID
    assert secondary.amounts is not None
    assert secondary.amounts.other_payer_amount_recognized_cents == 22025
    assert secondary.amounts.total_amount_paid_cents == 1500  # its limit
    assert secondary.amounts.patient_pay_cents == 1000  # 25.00 left, 15.00 paid by it
    assert secondary.amounts.adds_up


def test_a_secondary_plan_billed_first_says_bill_the_primary(
    transport: TcpClaimsTransport,
) -> None:
    first = claim(header=header(bin="610998", pcn="RXSECOND"))
    assert _rejected_with(transport, first) == ("41",)


def test_malformed_bytes_get_a_rejected_response_and_the_payer_keeps_serving(
    transport: TcpClaimsTransport,
) -> None:
    good = build_request(claim())
    for garbage in (b"garbage", good[:56] + b"\x1c\x1c", good.replace(b"D0B1", b"D1B1", 1)):
        response = parse_response(transport.send(garbage, timeout=5))
        assert response.status is ResponseStatus.REJECTED
        assert not response.transmission_accepted
    assert response.reject_codes == ("1R",)
    assert send(transport, claim()).status is ResponseStatus.PAID


def test_a_timed_out_claim_is_reversed_over_tcp_and_not_billed_twice() -> None:
    adjudicator = Adjudicator([PRIMARY])
    with TrainingPayerServer(adjudicator, unanswered=1, unanswered_hold=1.0) as server:
        server.start()
        host, port = server.address
        transport = TcpClaimsTransport(SwitchEndpoint(host=host, port=port))
        biller = SafeBiller(transport, timeout=0.3, policy=RecoveryPolicy.REVERSE)
        outcome = biller.bill(claim())
        assert outcome.timed_out and outcome.reversed_after_timeout
        # The payer paid the lost claim and then reversed it: billing again is a fresh payment.
        again = send(transport, claim())
        assert again.status is ResponseStatus.PAID
        assert again.authorization_number == "TRN000000002"


def test_a_timed_out_claim_resubmitted_over_tcp_is_a_duplicate_of_paid() -> None:
    with TrainingPayerServer(Adjudicator([PRIMARY]), unanswered=1, unanswered_hold=1.0) as server:
        server.start()
        host, port = server.address
        transport = TcpClaimsTransport(SwitchEndpoint(host=host, port=port))
        outcome = SafeBiller(transport, timeout=0.3).bill(claim())
        assert outcome.response is not None
        assert outcome.response.status is ResponseStatus.DUPLICATE_OF_PAID
        assert outcome.response.authorization_number == "TRN000000001"


def _rules_json() -> dict[str, object]:
    return {
        "name": "File Plan",
        "bin": "610997",
        "pcn": "FILE",
        "dispensing_fee_cents": 175,
        "copay_cents_by_tier": {"1": 300, "2": 1500},
        "formulary": {COVERED: 1},
        "default_tier": 2,
        "not_covered": [NOT_COVERED],
        "prior_auth_required": [NEEDS_PA],
        "prior_auth_numbers": ["PA1"],
        "max_quantity": "90",
        "max_days_supply": 30,
        "refill_too_soon_percent": 80,
        "unit_cost_cents": {COVERED: "4.25"},
        "default_unit_cost_cents": "10",
        "cardholders": None,
        "secondary_pays_up_to_cents": None,
    }


def test_plan_rules_load_from_json(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"plans": [_rules_json()]}), encoding="utf-8")
    (plan,) = load_plan_rules(path)
    assert plan.copay_cents_by_tier == {1: 300, 2: 1500}
    assert plan.max_quantity == Decimal(90)
    assert plan.ingredient_cost_cents(COVERED, Decimal(30)) == 128  # 127.5 rounds half up
    assert plan.tier("12345678901") == 2
    assert plan.early_refill_override


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"bin": "61099"}, "BIN"),
        ({"formulary": {"123": 1}}, "11-digit NDC"),
        ({"formulary": {COVERED: 3}}, "tier 3 has no copay"),
        ({"dispensing_fee_cents": 1.5}, "wrong kind"),
        ({"dispensing_fee_cents": -1}, "negative"),
        ({"refill_too_soon_percent": 120}, "0 to 100"),
        ({"default_unit_cost_cents": "ten"}, "wrong kind"),
    ],
)
def test_bad_plan_rules_are_refused_by_name(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationFailed, match=words):
        plan_rules_from_json({**_rules_json(), **change})


def test_missing_plan_keys_are_named() -> None:
    rules = _rules_json()
    del rules["copay_cents_by_tier"]
    with pytest.raises(ValidationFailed, match="copay_cents_by_tier"):
        plan_rules_from_json(rules)


@pytest.mark.parametrize(
    ("text", "words"),
    [("{", "not valid JSON"), ('{"plans": []}', "no list"), ('{"plans": [1]}', "JSON object")],
)
def test_a_bad_rules_file_is_refused(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed, match=words):
        load_plan_rules(path)


def test_the_built_in_training_plans_pay_a_claim() -> None:
    response = Adjudicator(training_plans()).adjudicate(claim())
    assert response.status is ResponseStatus.PAID


def test_the_readme_rules_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    claims_section = readme.split("## Claims\n", 1)[1]
    example = claims_section.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "rules.json"
    path.write_text(example, encoding="utf-8")
    (plan,) = load_plan_rules(path)
    assert plan.name == "Demo Plan"
    assert plan.tier("00093005801") == 1
