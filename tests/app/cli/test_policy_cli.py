"""`rxbench-admin policy show | set`: every policy printed, one changed and audited as the CLI."""

from __future__ import annotations

import getpass

from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.services.house_settings import CountPolicy, InventoryPolicy, SecondSignature
from app.services.payment import SalePolicy
from app.services.unit_of_work import Actor
from tests.app.cli.conftest import CLI_WORKSTATION, RunCli


def _settings_changes(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "settings.changed")
                .order_by(AuditEvent.id)
            )
        )


def test_show_prints_each_policy_with_its_value(
    run_cli: RunCli, database_url: str, services: Services, pharmacist: Actor
) -> None:
    services.house_settings.set_count_policy(
        pharmacist, CountPolicy(second_signature=SecondSignature.EVERY, loss_threshold_units=4)
    )

    result = run_cli("--database", database_url, "policy", "show")

    assert result.code == 0, result.err
    shown = {
        line.split()[0]: line.split("#")[0].split(None, 1)[1].strip()
        for line in result.out.splitlines()
    }
    assert shown == {
        "billing_point": "at_data_entry",
        "refill_too_soon_threshold": "0.75 (75% of the last fill's days supply)",
        "will_call_aging_days": "10",
        "require_scanning": "yes",
        "require_lot_for_upc": "yes",
        "cii_count_mode": "double-entry",
        "allow_negative_on_hand": "no",
        "short_dated_days": "90",
        "count_second_signature": "every",
        "controlled_loss_threshold_units": "4",
        "label_discard_after_months": "12",
        "sales_tax_rate": "0%",
        "counseling_required_for_new_rx": "yes",
    }
    assert "house policy, not a DEA rule" in result.out
    assert "prescriptions are never taxed" in result.out


def test_set_changes_one_policy_audited_as_the_command_line(
    run_cli: RunCli, database_url: str, services: Services, pharmacist: Actor
) -> None:
    services.house_settings.set_inventory_policy(
        pharmacist, InventoryPolicy(allow_negative_on_hand=False, short_dated_days=60)
    )

    result = run_cli("--database", database_url, "policy", "set", "allow-negative-on-hand", "yes")

    assert result.code == 0, result.err
    assert result.out == "allow_negative_on_hand is now yes (it was no).\n"
    # The other rule of the same group keeps its saved value.
    assert services.house_settings.inventory_policy() == InventoryPolicy(True, 60)
    change = _settings_changes(services)[-1]
    assert change.username == f"cli:{getpass.getuser()}"
    assert change.workstation == CLI_WORKSTATION
    assert change.summary == {
        "before": {"allow_negative_on_hand": False},
        "after": {"allow_negative_on_hand": True},
    }


def test_set_takes_each_kind_of_value(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    for name, value in (
        ("billing_point", "before_fill"),
        ("refill_too_soon_threshold", "80%"),
        ("will_call_aging_days", "14"),
        ("require_scanning", "no"),
        ("cii_count_mode", "second-person"),
        ("count_second_signature", "controlled"),
        ("controlled_loss_threshold_units", "0"),
        ("label_discard_after_months", "6"),
        ("sales_tax_rate", "7.25%"),
        ("counseling_required_for_new_rx", "no"),
    ):
        result = run_cli("--database", database_url, "policy", "set", name, value)
        assert result.code == 0, (name, result.err)

    policies = services.house_settings.policies()
    assert policies.billing_point.value == "before_fill"
    assert str(policies.refill_too_soon_threshold) == "0.8"
    assert policies.will_call_aging_days == 14
    assert policies.verification.require_scanning is False
    assert policies.verification.require_lot_for_upc is True
    assert policies.verification.cii_count_mode.value == "second-person"
    assert policies.count == CountPolicy(SecondSignature.CONTROLLED, 0)
    assert policies.label_discard_after_months == 6
    assert services.payment.policy() == SalePolicy(
        sales_tax_basis_points=725, counseling_required_for_new_rx=False
    )


def test_the_sales_tax_rate_is_set_as_a_percent_and_audited_alone(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    result = run_cli("--database", database_url, "policy", "set", "sales-tax-rate", "8.5")

    assert result.code == 0, result.err
    assert result.out == "sales_tax_rate is now 8.5% (it was 0%).\n"
    assert services.payment.policy().sales_tax_basis_points == 850
    # The counseling rule, left at its default, is not recorded as changed.
    [change] = _settings_changes(services)
    assert change.username == f"cli:{getpass.getuser()}"
    assert change.summary["key"] == "sales_tax_basis_points"
    assert (change.summary["before"], change.summary["after"]) == (0, 850)

    result = run_cli("--database", database_url, "policy", "set", "sales_tax_rate", "8.50%")
    assert result.out == "sales_tax_rate is already 8.5%; nothing was changed.\n"
    assert len(_settings_changes(services)) == 1


def test_setting_the_value_it_has_changes_nothing(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    result = run_cli("--database", database_url, "policy", "set", "short_dated_days", "90")

    assert result.code == 0, result.err
    assert result.out == "short_dated_days is already 90; nothing was changed.\n"
    assert _settings_changes(services) == []


def test_bad_values_and_names_are_refused_and_change_nothing(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    refusals = {
        ("allow_negative_on_hand", "maybe"): "allow_negative_on_hand is yes or no, not “maybe”.",
        ("short_dated_days", "ninety"): "short_dated_days is a whole number, not “ninety”.",
        ("short_dated_days", "0"): "from 1 to 730",
        ("refill_too_soon_threshold", "40%"): "from 0.50 to 1.00",
        ("refill_too_soon_threshold", "soon"): "a fraction (0.75) or a percentage (75%)",
        ("count_second_signature", "sometimes"): "use none, controlled, schedule_ii, every",
        ("cii_count_mode", "twice"): "use double-entry, second-person",
        ("billing_point", "later"): "use at_data_entry, before_fill",
        ("label_discard_after_months", "13"): "1 to 12 months",
        ("controlled_loss_threshold_units", "-1"): "from 0 to 100000",
        ("sales_tax_rate", "7.255"): "a percentage to the hundredth (7.25 or 7.25%)",
        ("sales_tax_rate", "lots"): "not “lots”",
        ("sales_tax_rate", "30%"): "between 0 and 25.0%",
        ("counseling_required_for_new_rx", "sometimes"): "is yes or no, not “sometimes”",
        ("colour", "blue"): "“colour” is not a house policy. Policies are: billing_point,",
    }
    for (name, value), expected in refusals.items():
        result = run_cli("--database", database_url, "policy", "set", name, value)
        assert result.code == 1, (name, value, result.out)
        assert expected in result.err, (name, value, result.err)

    assert _settings_changes(services) == []
