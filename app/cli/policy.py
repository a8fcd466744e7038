"""`rxbench-admin policy show | set NAME VALUE`: the house's simple policies, from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from app.bootstrap import Services
from app.cli.common import command_line_actor, opened_services
from app.config import Settings
from app.domain.money import MAX_TAX_BASIS_POINTS
from app.errors import ValidationFailed
from app.services.house_settings import (
    ALLOW_NEGATIVE_ON_HAND,
    BILLING_POINT,
    CII_COUNT_MODE,
    CONTROLLED_LOSS_THRESHOLD_UNITS,
    COUNT_SECOND_SIGNATURE,
    LABEL_DISCARD_AFTER_MONTHS,
    MAX_CONTROLLED_LOSS_THRESHOLD_UNITS,
    MAX_DISCARD_AFTER_MONTHS,
    MAX_SHORT_DATED_DAYS,
    REFILL_TOO_SOON_THRESHOLD,
    REQUIRE_LOT_FOR_UPC,
    REQUIRE_SCANNING,
    SHORT_DATED_DAYS,
    WILL_CALL_AGING_DAYS,
    BillingPoint,
    CiiCountMode,
    HouseSettingsService,
    SecondSignature,
)
from app.services.payment import (
    COUNSELING_REQUIRED_FOR_NEW_RX,
    PaymentService,
)
from app.services.unit_of_work import Actor

_YES = frozenset({"yes", "y", "true", "on", "1"})
_NO = frozenset({"no", "n", "false", "off", "0"})

SALES_TAX_RATE = "sales_tax_rate"

# Parses the typed value and saves it through the policy's own setter: one audited change.
# Its first argument is the service that keeps the policy (house settings, or the register's).
Apply = Callable[[Any, Actor, str], object]


def _house_settings(services: Services) -> HouseSettingsService:
    return services.house_settings


def _register(services: Services) -> PaymentService:
    return services.payment


@dataclass(frozen=True)
class _Policy:
    name: str
    meaning: str
    shown: Callable[[Any], str]  # from what `read` returns
    apply: Apply
    # Which service keeps the policy, and how its policies are read from it.
    keeper: Callable[[Services], Any] = _house_settings
    read: Callable[[Any], Any] = HouseSettingsService.policies

    def current(self, services: Services) -> str:
        return self.shown(self.read(self.keeper(services)))


def _choices(kind: type[BillingPoint] | type[CiiCountMode] | type[SecondSignature]) -> str:
    return " | ".join(member.value for member in kind)


def _yes_no(name: str, text: str) -> bool:
    answer = text.strip().lower()
    if answer in _YES:
        return True
    if answer in _NO:
        return False
    raise ValidationFailed(f"{name} is yes or no, not “{text}”.", field=name)


def _whole(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationFailed(f"{name} is a whole number, not “{text}”.", field=name) from None


def _fraction(text: str) -> Decimal:
    """0.8 or 80%: both mean 80% of the last fill's days supply."""
    clean = text.strip()
    try:
        value = Decimal(clean.removesuffix("%").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValidationFailed(
            f"{REFILL_TOO_SOON_THRESHOLD} is a fraction (0.75) or a percentage (75%), "
            f"not “{text}”.",
            field=REFILL_TOO_SOON_THRESHOLD,
        )
    return value / 100 if clean.endswith("%") else value


def _yes_no_text(value: bool) -> str:
    return "yes" if value else "no"


def _percent(value: Decimal) -> str:
    return f"{value} ({(value * 100).normalize():f}% of the last fill's days supply)"


def _tax_basis_points(text: str) -> int:
    """7.25 or 7.25%: a percentage to the hundredth, kept as basis points (725)."""
    clean = text.strip().removesuffix("%").strip()
    try:
        value = Decimal(clean)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or (value * 100) != (value * 100).to_integral_value():
        raise ValidationFailed(
            f"{SALES_TAX_RATE} is a percentage to the hundredth (7.25 or 7.25%), not “{text}”.",
            field=SALES_TAX_RATE,
        )
    return int(value * 100)


def tax_percent_text(basis_points: int) -> str:
    """725 basis points read as 7.25%."""
    return f"{(Decimal(basis_points) / 100).normalize():f}%"


def _unless_in_force(
    current: Callable[[Any], object],
    parse: Callable[[str], Any],
    save: Callable[[Any, Actor, Any, Any], object],
    read: Callable[[Any], Any] = HouseSettingsService.policies,
) -> Apply:
    """Save only a value other than the one in force: saving a grouped rule writes its whole
    group, which would record the others' defaults as changes that changed nothing."""

    def apply(keeper: Any, actor: Actor, text: str) -> object:
        value = parse(text)
        policies = read(keeper)
        if current(policies) == value:
            return None
        return save(keeper, actor, policies, value)

    return apply


def _choice(text: str) -> str:
    """The setter names the choices when the text is none of them."""
    return text.strip().lower()


POLICIES = (
    _Policy(
        BILLING_POINT,
        f"when a fill's claim is billed: {_choices(BillingPoint)}",
        lambda policies: policies.billing_point.value,
        _unless_in_force(
            lambda policies: policies.billing_point,
            _choice,
            lambda house, actor, _, value: house.set_billing_point(actor, value),
        ),
    ),
    _Policy(
        REFILL_TOO_SOON_THRESHOLD,
        "share of the last fill's days supply that must pass before a refill: 0.50 to 1.00",
        lambda policies: _percent(policies.refill_too_soon_threshold),
        _unless_in_force(
            lambda policies: policies.refill_too_soon_threshold,
            _fraction,
            lambda house, actor, _, value: house.set_refill_too_soon_threshold(actor, value),
        ),
    ),
    _Policy(
        WILL_CALL_AGING_DAYS,
        "days a ready fill waits before it is listed for return to stock: 1 to 60",
        lambda policies: str(policies.will_call_aging_days),
        _unless_in_force(
            lambda policies: policies.will_call_aging_days,
            lambda text: _whole(WILL_CALL_AGING_DAYS, text),
            lambda house, actor, _, value: house.set_will_call_aging_days(actor, value),
        ),
    ),
    _Policy(
        REQUIRE_SCANNING,
        "verification: every stock bottle scanned; a typed NDC is refused (yes | no)",
        lambda policies: _yes_no_text(policies.verification.require_scanning),
        _unless_in_force(
            lambda policies: policies.verification.require_scanning,
            lambda text: _yes_no(REQUIRE_SCANNING, text),
            lambda house, actor, policies, value: house.set_verification_policy(
                actor, replace(policies.verification, require_scanning=value)
            ),
        ),
    ),
    _Policy(
        REQUIRE_LOT_FOR_UPC,
        "verification: lot and expiry typed when only a UPC was scanned (yes | no)",
        lambda policies: _yes_no_text(policies.verification.require_lot_for_upc),
        _unless_in_force(
            lambda policies: policies.verification.require_lot_for_upc,
            lambda text: _yes_no(REQUIRE_LOT_FOR_UPC, text),
            lambda house, actor, policies, value: house.set_verification_policy(
                actor, replace(policies.verification, require_lot_for_upc=value)
            ),
        ),
    ),
    _Policy(
        CII_COUNT_MODE,
        f"verification: how a C-II count is proven: {_choices(CiiCountMode)}",
        lambda policies: policies.verification.cii_count_mode.value,
        _unless_in_force(
            lambda policies: policies.verification.cii_count_mode,
            _choice,
            lambda house, actor, policies, value: house.set_verification_policy(
                actor, replace(policies.verification, cii_count_mode=value)
            ),
        ),
    ),
    _Policy(
        ALLOW_NEGATIVE_ON_HAND,
        "a lot may go below zero, shown as NEGATIVE, instead of refusing (yes | no)",
        lambda policies: _yes_no_text(policies.inventory.allow_negative_on_hand),
        _unless_in_force(
            lambda policies: policies.inventory.allow_negative_on_hand,
            lambda text: _yes_no(ALLOW_NEGATIVE_ON_HAND, text),
            lambda house, actor, policies, value: house.set_inventory_policy(
                actor, replace(policies.inventory, allow_negative_on_hand=value)
            ),
        ),
    ),
    _Policy(
        SHORT_DATED_DAYS,
        f"a lot expiring within this many days is short-dated: 1 to {MAX_SHORT_DATED_DAYS}",
        lambda policies: str(policies.inventory.short_dated_days),
        _unless_in_force(
            lambda policies: policies.inventory.short_dated_days,
            lambda text: _whole(SHORT_DATED_DAYS, text),
            lambda house, actor, policies, value: house.set_inventory_policy(
                actor, replace(policies.inventory, short_dated_days=value)
            ),
        ),
    ),
    _Policy(
        COUNT_SECOND_SIGNATURE,
        f"house policy, not a DEA rule: counts a second person signs: {_choices(SecondSignature)}",
        lambda policies: policies.count.second_signature.value,
        _unless_in_force(
            lambda policies: policies.count.second_signature,
            _choice,
            lambda house, actor, policies, value: house.set_count_policy(
                actor, replace(policies.count, second_signature=value)
            ),
        ),
    ),
    _Policy(
        CONTROLLED_LOSS_THRESHOLD_UNITS,
        "a CIII-V count loss above this many units prompts a DEA Form 106 (any CII loss does): "
        f"0 to {MAX_CONTROLLED_LOSS_THRESHOLD_UNITS}",
        lambda policies: str(policies.count.loss_threshold_units),
        _unless_in_force(
            lambda policies: policies.count.loss_threshold_units,
            lambda text: _whole(CONTROLLED_LOSS_THRESHOLD_UNITS, text),
            lambda house, actor, policies, value: house.set_count_policy(
                actor, replace(policies.count, loss_threshold_units=value)
            ),
        ),
    ),
    _Policy(
        LABEL_DISCARD_AFTER_MONTHS,
        "a label's discard-after date, months after the fill (sooner if the lot expires): "
        f"1 to {MAX_DISCARD_AFTER_MONTHS}",
        lambda policies: str(policies.label_discard_after_months),
        _unless_in_force(
            lambda policies: policies.label_discard_after_months,
            lambda text: _whole(LABEL_DISCARD_AFTER_MONTHS, text),
            lambda house, actor, _, value: house.set_label_discard_after_months(actor, value),
        ),
    ),
    _Policy(
        SALES_TAX_RATE,
        "point of sale: sales tax on taxable OTC items (prescriptions are never taxed), as a "
        f"percentage: 0 to {tax_percent_text(MAX_TAX_BASIS_POINTS)}",
        lambda policy: tax_percent_text(policy.sales_tax_basis_points),
        _unless_in_force(
            lambda policy: policy.sales_tax_basis_points,
            _tax_basis_points,
            lambda register, actor, policy, value: register.set_policy(
                actor, replace(policy, sales_tax_basis_points=value)
            ),
            read=PaymentService.policy,
        ),
        keeper=_register,
        read=PaymentService.policy,
    ),
    _Policy(
        COUNSELING_REQUIRED_FOR_NEW_RX,
        "point of sale: a new prescription is not sold until counseling was offered (yes | no)",
        lambda policy: _yes_no_text(policy.counseling_required_for_new_rx),
        _unless_in_force(
            lambda policy: policy.counseling_required_for_new_rx,
            lambda text: _yes_no(COUNSELING_REQUIRED_FOR_NEW_RX, text),
            lambda register, actor, policy, value: register.set_policy(
                actor, replace(policy, counseling_required_for_new_rx=value)
            ),
            read=PaymentService.policy,
        ),
        keeper=_register,
        read=PaymentService.policy,
    ),
)
_BY_NAME = {policy.name: policy for policy in POLICIES}


def register(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser(
        "policy",
        help="show or change the house policies (billing point, verification, counts, sales tax…)",
        description=(
            "The house's simple policies, shared by every workstation. The command line acts as "
            "an administrator; each change is audited as made by cli:<your login name>."
        ),
    )
    actions = group.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print each policy, its value and what it means")
    show.set_defaults(handler=show_policies)
    change = actions.add_parser(
        "set",
        help="change one policy",
        description="Change one policy. NAME is one of: " + ", ".join(_BY_NAME) + ".",
    )
    change.add_argument("name", metavar="NAME")
    change.add_argument("value", metavar="VALUE")
    change.set_defaults(handler=set_policy)


def show_policies(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        rows = [(policy.name, policy.current(services), policy.meaning) for policy in POLICIES]
    name_width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, meaning in rows:
        print(f"{name.ljust(name_width)}  {value.ljust(value_width)}  # {meaning}")
    return 0


def set_policy(args: argparse.Namespace, settings: Settings) -> int:
    policy = _BY_NAME.get(args.name.strip().lower().replace("-", "_"))
    if policy is None:
        raise ValidationFailed(
            f"“{args.name}” is not a house policy. Policies are: {', '.join(_BY_NAME)}."
        )
    with opened_services(settings) as services:
        before = policy.current(services)
        policy.apply(policy.keeper(services), command_line_actor(settings), args.value)
        after = policy.current(services)
    if after == before:
        print(f"{policy.name} is already {after}; nothing was changed.")
    else:
        print(f"{policy.name} is now {after} (it was {before}).")
    return 0
