"""The training payer: adjudicates real D.0 claims by editable plan rules, in process or over TCP.

It keeps the claims it paid in memory (a restart forgets them). Plan rules come from code or a
JSON file (see `plan_rules_from_json`). Patient data never goes into its log: it logs the
transaction code and the answer only.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from app.adapters.claims_transport import read_frame, write_frame
from app.domain.identifiers import validate_npi
from app.domain.ncpdp import (
    BillingClaim,
    ClaimKey,
    ClaimResponse,
    DurResponse,
    EligibilityRequest,
    MalformedMessage,
    PaidAmounts,
    Request,
    ResponseStatus,
    ReversalRequest,
    TransactionCode,
    TransactionCountMismatch,
    UnsupportedTransaction,
    build_response,
    parse_request,
)
from app.domain.ncpdp.fields import decode_date, encode_date
from app.domain.ncpdp.requests import transaction_code
from app.errors import ValidationFailed

log = logging.getLogger(__name__)

_CENT = Decimal(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRules:
    """One plan the training payer adjudicates for, found by the claim's BIN and PCN.

    Money is whole cents; unit costs are Decimal cents per billing unit (a tablet may cost
    4.25 cents), and an ingredient cost is rounded half up to the cent once, for the whole
    quantity. A plan with `secondary_pays_up_to_cents` is a secondary plan: it needs the other
    payer's payment on the claim and pays what the patient still owes, up to that limit.
    """

    name: str
    bin: str
    pcn: str = ""
    dispensing_fee_cents: int
    copay_cents_by_tier: Mapping[int, int]
    formulary: Mapping[str, int] = field(default_factory=dict)
    default_tier: int | None = None
    not_covered: frozenset[str] = frozenset()
    prior_auth_required: frozenset[str] = frozenset()
    prior_auth_numbers: frozenset[str] = frozenset()
    max_quantity: Decimal | None = None
    max_days_supply: int | None = None
    refill_too_soon_percent: int = 75
    unit_cost_cents: Mapping[str, Decimal] = field(default_factory=dict)
    default_unit_cost_cents: Decimal
    cardholders: frozenset[str] | None = None
    secondary_pays_up_to_cents: int | None = None
    early_refill_override: bool = True

    def tier(self, ndc11: str) -> int | None:
        return self.formulary.get(ndc11, self.default_tier)

    def ingredient_cost_cents(self, ndc11: str, quantity: Decimal) -> int:
        unit_cost = self.unit_cost_cents.get(ndc11, self.default_unit_cost_cents)
        return int((unit_cost * quantity).quantize(_CENT, rounding=ROUND_HALF_UP))


def plan_rules_from_json(data: Mapping[str, Any]) -> PlanRules:
    """One plan from its JSON object (the README's "Claims" section documents the keys)."""
    name = data.get("name", "?")
    try:
        tiers = {int(tier): _cents(copay) for tier, copay in data["copay_cents_by_tier"].items()}
        rules = PlanRules(
            name=str(data["name"]),
            bin=str(data["bin"]),
            pcn=str(data.get("pcn", "")),
            dispensing_fee_cents=_cents(data["dispensing_fee_cents"]),
            copay_cents_by_tier=tiers,
            formulary={str(ndc): int(tier) for ndc, tier in data.get("formulary", {}).items()},
            default_tier=None if data.get("default_tier") is None else int(data["default_tier"]),
            not_covered=frozenset(map(str, data.get("not_covered", ()))),
            prior_auth_required=frozenset(map(str, data.get("prior_auth_required", ()))),
            prior_auth_numbers=frozenset(map(str, data.get("prior_auth_numbers", ()))),
            max_quantity=_decimal_or_none(data.get("max_quantity")),
            max_days_supply=(
                None if data.get("max_days_supply") is None else int(data["max_days_supply"])
            ),
            refill_too_soon_percent=int(data.get("refill_too_soon_percent", 75)),
            unit_cost_cents={
                str(ndc): Decimal(str(cost))
                for ndc, cost in data.get("unit_cost_cents", {}).items()
            },
            default_unit_cost_cents=Decimal(str(data["default_unit_cost_cents"])),
            cardholders=(
                None
                if data.get("cardholders") is None
                else frozenset(map(str, data["cardholders"]))
            ),
            secondary_pays_up_to_cents=(
                None
                if data.get("secondary_pays_up_to_cents") is None
                else _cents(data["secondary_pays_up_to_cents"])
            ),
            early_refill_override=bool(data.get("early_refill_override", True)),
        )
    except KeyError as missing:
        raise ValidationFailed(f"Plan “{name}” has no “{missing.args[0]}”.") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError) as error:
        raise ValidationFailed(f"Plan “{name}” has a value of the wrong kind ({error}).") from None
    _check_rules(rules)
    return rules


def load_plan_rules(path: Path) -> tuple[PlanRules, ...]:
    """The plans of a rules file: {"plans": [ {...}, ... ]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValidationFailed(
            f"The rules file {path} cannot be read ({error.strerror})."
        ) from None
    except json.JSONDecodeError as error:
        raise ValidationFailed(
            f"The rules file {path} is not valid JSON (line {error.lineno}: {error.msg})."
        ) from None
    plans = data.get("plans") if isinstance(data, dict) else None
    if not isinstance(plans, list) or not plans:
        raise ValidationFailed(f"The rules file {path} has no list of “plans”.")
    if not all(isinstance(plan, dict) for plan in plans):
        raise ValidationFailed(f"Every plan in {path} must be a JSON object.")
    return tuple(plan_rules_from_json(plan) for plan in plans)


def training_plans() -> tuple[PlanRules, ...]:
    """The plans the training payer serves when given no rules file: a primary and a secondary."""
    return (
        PlanRules(
            name="RxBench Training Plan",
            bin="610999",
            pcn="RXTRAIN",
            dispensing_fee_cents=150,
            copay_cents_by_tier={1: 500, 2: 2500, 3: 5000},
            default_tier=2,
            max_quantity=Decimal(360),
            max_days_supply=90,
            default_unit_cost_cents=Decimal(25),
        ),
        PlanRules(
            name="RxBench Training Secondary",
            bin="610998",
            pcn="RXSECOND",
            dispensing_fee_cents=150,
            copay_cents_by_tier={1: 0, 2: 0, 3: 0},
            default_tier=1,
            default_unit_cost_cents=Decimal(25),
            secondary_pays_up_to_cents=5000,
        ),
    )


def _cents(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not whole cents")
    return value


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _check_rules(rules: PlanRules) -> None:
    if not re.fullmatch(r"\d{6}", rules.bin):
        raise ValidationFailed(f"Plan “{rules.name}”: the BIN “{rules.bin}” is not six digits.")
    ndcs = (
        *rules.formulary,
        *rules.not_covered,
        *rules.prior_auth_required,
        *rules.unit_cost_cents,
    )
    bad = sorted(ndc for ndc in ndcs if not re.fullmatch(r"\d{11}", ndc))
    if bad:
        raise ValidationFailed(f"Plan “{rules.name}”: “{bad[0]}” is not an 11-digit NDC.")
    tiers = {*rules.formulary.values(), *([rules.default_tier] if rules.default_tier else [])}
    missing = sorted(tier for tier in tiers if tier not in rules.copay_cents_by_tier)
    if missing:
        raise ValidationFailed(f"Plan “{rules.name}”: tier {missing[0]} has no copay.")
    if not 0 <= rules.refill_too_soon_percent <= 100:
        raise ValidationFailed(f"Plan “{rules.name}”: the refill-too-soon percent is 0 to 100.")
    if min(rules.copay_cents_by_tier.values(), default=0) < 0 or rules.dispensing_fee_cents < 0:
        raise ValidationFailed(f"Plan “{rules.name}”: copays and fees cannot be negative.")


@dataclass(slots=True)
class _Record:
    claim: BillingClaim
    response: ClaimResponse
    reversed: bool = False


class Adjudicator:
    """Answers D.0 requests by the plans' rules, remembering the claims it paid. Thread-safe."""

    def __init__(self, plans: Sequence[PlanRules]) -> None:
        self._plans = {(plan.bin, plan.pcn): plan for plan in plans}
        # Keyed by plan too: the same fill billed to a primary and a secondary is two claims.
        self._records: dict[tuple[str, str, ClaimKey], _Record] = {}
        # The same member's fills of one product (NDC labeler + product code), for refill too
        # soon without scanning every claim paid.
        self._fills: dict[tuple[str, str, str, str], list[_Record]] = {}
        self._lock = threading.Lock()
        self._authorizations = 0

    def answer(self, data: bytes) -> bytes:
        """The response bytes for request bytes; a malformed request gets a rejected response."""
        try:
            request = parse_request(data)
        except MalformedMessage as error:
            log.info("training payer: refused a malformed request (%s)", error.code)
            return build_response(_refusal(data, error))
        response = self.adjudicate(request)
        log.info("training payer: %s %s", response.transaction_code, response.status.value)
        return build_response(response)

    def adjudicate(self, request: Request) -> ClaimResponse:
        with self._lock:
            plan = self._plans.get((request.header.bin, request.header.pcn))
            if plan is None:
                known_bin = any(bin_ == request.header.bin for bin_, _ in self._plans)
                return _rejected(request, "04" if known_bin else "01", "NO SUCH PLAN AT THIS BIN")
            if isinstance(request, BillingClaim):
                return self._bill(plan, request)
            if isinstance(request, ReversalRequest):
                return self._reverse(plan, request)
            return self._eligibility(plan, request)

    def _bill(self, plan: PlanRules, claim: BillingClaim) -> ClaimResponse:
        earlier = self._records.get((plan.bin, plan.pcn, claim.key))
        if earlier is not None and not earlier.reversed:
            if _same_fill(earlier.claim, claim):
                return replace(earlier.response, status=ResponseStatus.DUPLICATE_OF_PAID)
            return _rejected(claim, "83", "PAID CLAIM ON FILE - REVERSE FIRST")
        refused = _member_refusal(plan, claim.insurance.cardholder_id) or _claim_refusal(
            plan, claim
        )
        if refused is not None:
            return _rejected(claim, *refused)
        too_soon = self._refill_too_soon(plan, claim)
        if too_soon is not None:
            return too_soon
        secondary = plan.secondary_pays_up_to_cents is not None
        if secondary and not claim.other_payments:
            return _rejected(claim, "41", "BILL PRIMARY PAYER FIRST")
        response = ClaimResponse(
            transaction_code=TransactionCode.BILLING,
            service_provider_id=claim.header.service_provider_id,
            date_of_service=claim.header.date_of_service,
            status=ResponseStatus.PAID,
            rx_number=claim.rx_number,
            authorization_number=self._next_authorization(),
            amounts=_price(plan, claim),
            message=f"PAID BY {plan.name.upper()}"[:200],
        )
        record = _Record(claim, response)
        self._records[(plan.bin, plan.pcn, claim.key)] = record
        self._fills.setdefault(_product_key(plan, claim), []).append(record)
        return response

    def _refill_too_soon(self, plan: PlanRules, claim: BillingClaim) -> ClaimResponse | None:
        previous = [
            record.claim
            for record in self._fills.get(_product_key(plan, claim), ())
            if not record.reversed
            and record.claim.header.date_of_service <= claim.header.date_of_service
        ]
        if not previous:
            return None
        last = max(previous, key=lambda earlier: earlier.header.date_of_service)
        wait_days = math.ceil(last.days_supply * plan.refill_too_soon_percent / 100)
        next_fill = last.header.date_of_service + timedelta(days=wait_days)
        if claim.header.date_of_service >= next_fill:
            return None
        overridden = any(
            service.reason_for_service == "ER"
            and service.professional_service
            and service.result_of_service
            for service in claim.dur_services
        )
        if plan.early_refill_override and overridden:
            return None
        same_pharmacy = last.header.service_provider_id == claim.header.service_provider_id
        return _rejected(
            claim,
            "79",
            f"NEXT FILL ON OR AFTER {encode_date(next_fill)}",
            dur=DurResponse(
                reason_for_service="ER",
                clinical_significance="2",
                other_pharmacy_indicator="1" if same_pharmacy else "3",
                previous_fill_date=last.header.date_of_service,
                previous_fill_quantity=last.quantity,
                free_text="EARLY REFILL",
            ),
        )

    def _reverse(self, plan: PlanRules, reversal: ReversalRequest) -> ClaimResponse:
        record = self._records.get((plan.bin, plan.pcn, reversal.key))
        if record is None or record.claim.ndc11 != reversal.ndc11:
            return _rejected(reversal, "87", "NO PAID CLAIM TO REVERSE")
        status = ResponseStatus.APPROVED
        if record.reversed:
            status = ResponseStatus.DUPLICATE_OF_APPROVED
        record.reversed = True
        return ClaimResponse(
            transaction_code=TransactionCode.REVERSAL,
            service_provider_id=reversal.header.service_provider_id,
            date_of_service=reversal.header.date_of_service,
            status=status,
            rx_number=reversal.rx_number,
            authorization_number=record.response.authorization_number,
            message="REVERSAL ACCEPTED",
        )

    def _eligibility(self, plan: PlanRules, request: EligibilityRequest) -> ClaimResponse:
        refused = _member_refusal(plan, request.insurance.cardholder_id)
        if refused is not None:
            return _rejected(request, *refused)
        return ClaimResponse(
            transaction_code=TransactionCode.ELIGIBILITY,
            service_provider_id=request.header.service_provider_id,
            date_of_service=request.header.date_of_service,
            status=ResponseStatus.APPROVED,
            message=f"ELIGIBLE - {plan.name.upper()}"[:200],
            group_id=request.insurance.group_id,
        )

    def _next_authorization(self) -> str:
        self._authorizations += 1
        return f"TRN{self._authorizations:09d}"


def _product_key(plan: PlanRules, claim: BillingClaim) -> tuple[str, str, str, str]:
    return (plan.bin, plan.pcn, claim.insurance.cardholder_id, claim.ndc11[:9])


def _same_fill(first: BillingClaim, second: BillingClaim) -> bool:
    return (first.ndc11, first.quantity, first.days_supply, first.insurance.cardholder_id) == (
        second.ndc11,
        second.quantity,
        second.days_supply,
        second.insurance.cardholder_id,
    )


def _member_refusal(plan: PlanRules, cardholder_id: str) -> tuple[str, str] | None:
    if not cardholder_id.strip():
        return "07", "CARDHOLDER ID REQUIRED"
    if plan.cardholders is not None and cardholder_id not in plan.cardholders:
        return "65", "MEMBER NOT FOUND"
    return None


def _claim_refusal(plan: PlanRules, claim: BillingClaim) -> tuple[str, str] | None:
    """The first plan rule the claim breaks, as (reject code, message); None when it passes."""
    try:
        validate_npi(claim.prescriber.npi)
    except ValidationFailed:
        return "25", "PRESCRIBER NPI NOT VALID"
    if claim.ndc11 in plan.not_covered:
        return "70", "PRODUCT NOT COVERED BY PLAN"
    if plan.tier(claim.ndc11) is None:
        return "MR", "NOT ON FORMULARY"
    if claim.quantity <= 0:
        return "E7", "QUANTITY DISPENSED MUST BE ABOVE 0"
    if claim.days_supply <= 0:
        return "19", "DAYS SUPPLY MUST BE ABOVE 0"
    if plan.max_quantity is not None and claim.quantity > plan.max_quantity:
        return "76", f"MAX QUANTITY {plan.max_quantity.normalize():f}"
    if plan.max_days_supply is not None and claim.days_supply > plan.max_days_supply:
        return "76", f"MAX DAYS SUPPLY {plan.max_days_supply}"
    if (
        claim.ndc11 in plan.prior_auth_required
        and claim.prior_authorization_number not in plan.prior_auth_numbers
    ):
        if claim.prior_authorization_number:
            return "75", "PA NUMBER NOT ON FILE"
        return "75", "PRIOR AUTH REQUIRED - PRESCRIBER CALL 800-555-0175"
    return None


def _price(plan: PlanRules, claim: BillingClaim) -> PaidAmounts:
    """Lesser of the plan's cost and the pharmacy's submitted cost, plus the plan's fee; the
    patient pays the tier copay (never more than the whole claim), or, for a secondary plan,
    what the other payer left unpaid beyond this plan's limit."""
    allowed_ingredient = plan.ingredient_cost_cents(claim.ndc11, claim.quantity)
    if claim.ingredient_cost_cents > 0:
        allowed_ingredient = min(allowed_ingredient, claim.ingredient_cost_cents)
    allowed = allowed_ingredient + plan.dispensing_fee_cents
    if plan.secondary_pays_up_to_cents is None:
        tier = plan.tier(claim.ndc11)
        assert tier is not None  # _claim_refusal rejected an unlisted NDC
        other = 0
        patient_pay = min(plan.copay_cents_by_tier[tier], allowed)
        total = allowed - patient_pay
    else:
        other = min(sum(payment.amount_paid_cents for payment in claim.other_payments), allowed)
        remaining = allowed - max(other, 0)
        total = min(remaining, plan.secondary_pays_up_to_cents)
        patient_pay = remaining - total
    return PaidAmounts(
        ingredient_cost_paid_cents=allowed_ingredient,
        dispensing_fee_paid_cents=plan.dispensing_fee_cents,
        patient_pay_cents=patient_pay,
        copay_cents=patient_pay,
        other_payer_amount_recognized_cents=max(other, 0),
        total_amount_paid_cents=total,
    )


def _rejected(
    request: Request, code: str, message: str, *, dur: DurResponse | None = None
) -> ClaimResponse:
    return ClaimResponse(
        transaction_code=transaction_code(request),
        service_provider_id=request.header.service_provider_id,
        date_of_service=request.header.date_of_service,
        status=ResponseStatus.REJECTED,
        rx_number=getattr(request, "rx_number", ""),
        reject_codes=(code,),
        additional_messages=(message[:40],),
        dur_responses=() if dur is None else (dur,),
    )


_RX_NUMBER = re.compile(rb"\x1cD2(\d{1,12})[\x1c\x1d\x1e]")


def _refusal(data: bytes, error: MalformedMessage) -> ClaimResponse:
    """A transmission-level rejection echoing what could be read of the request's header."""
    text = data[:56].decode("ascii", "replace")
    try:
        code = TransactionCode(text[8:10])
    except ValueError:
        code = TransactionCode.BILLING
    try:
        date_of_service = decode_date(text[38:46])
    except MalformedMessage:
        date_of_service = datetime.now(UTC).date()
    rx = _RX_NUMBER.search(data)
    if isinstance(error, UnsupportedTransaction):
        reject = "1R" if text[6:8] != "D0" else "1S"
    elif isinstance(error, TransactionCountMismatch):
        reject = "1U"
    else:
        reject = "R8"
    provider = text[23:38].rstrip() if len(text) >= 38 and text[23:38].isprintable() else ""
    return ClaimResponse(
        transaction_code=code,
        transmission_accepted=False,
        service_provider_id=provider,
        date_of_service=date_of_service,
        status=ResponseStatus.REJECTED,
        rx_number=rx.group(1).decode("ascii")
        if rx and code is not TransactionCode.ELIGIBILITY
        else "",
        reject_codes=(reject,),
        message=error.message[:200].encode("ascii", "replace").decode("ascii"),
    )


class InProcessTransport:
    """The training payer as a `ClaimsTransport` without a socket: training mode's default."""

    def __init__(self, adjudicator: Adjudicator) -> None:
        self._adjudicator = adjudicator

    def send(self, request: bytes, timeout: float) -> bytes:
        return self._adjudicator.answer(request)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        connection: socket.socket = self.request
        try:
            while (request := read_frame(connection)) is not None:
                response = self.server.adjudicator.answer(request)
                if self.server.take_unanswered():
                    self.server.closing.wait(self.server.unanswered_hold)
                    return
                write_frame(connection, response)
        except (OSError, EOFError, MalformedMessage) as error:
            log.info("training payer: connection ended (%s)", type(error).__name__)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        adjudicator: Adjudicator,
        ssl_context: ssl.SSLContext | None,
        unanswered: int,
        unanswered_hold: float,
    ) -> None:
        self.adjudicator = adjudicator
        self.ssl_context = ssl_context
        self.unanswered = unanswered
        self.unanswered_hold = unanswered_hold
        self.closing = threading.Event()
        self._count_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens on the handler's thread, so a slow client blocks no one.
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def take_unanswered(self) -> bool:
        with self._count_lock:
            if self.unanswered <= 0:
                return False
            self.unanswered -= 1
            return True


class TrainingPayerServer:
    """The adjudicator behind RxBench's TCP framing, for training mode and integration tests.

    `unanswered` requests (the first ones) are adjudicated but get no answer: the connection is
    held for `unanswered_hold` seconds and closed, as a switch that timed out would — for
    testing that a timed-out claim is never billed twice.
    """

    def __init__(
        self,
        adjudicator: Adjudicator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        unanswered: int = 0,
        unanswered_hold: float = 2.0,
    ) -> None:
        self._server = _Server((host, port), adjudicator, ssl_context, unanswered, unanswered_hold)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve on a background thread (in-process training mode, tests)."""
        # A short poll: close() waits up to one poll interval for the serving thread.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="training-payer",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> TrainingPayerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
