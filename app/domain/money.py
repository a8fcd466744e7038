"""Money at the register in integer cents: formatting, sales tax, and splitting a payment."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ValidationFailed

# A tax rate is whole basis points (1 bp = 0.01 %): 6.25 % is 625.
MAX_TAX_BASIS_POINTS = 2_500


class InvalidAmount(ValidationFailed):
    code = "invalid-amount"


def dollars(cents: int) -> str:
    """`$12.34`, `-$0.05`."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def parse_dollars(text: str) -> int:
    """Cents in a typed amount: "12", "12.3", "$1,234.56"; refused if not money."""
    cleaned = text.strip().replace("$", "").replace(",", "")
    whole, _, part = cleaned.partition(".")
    if not cleaned or not (whole or part) or not (whole or "0").isdigit() or len(part) > 2:
        raise InvalidAmount(f"“{text}” is not an amount of money; type it like 12.50.", text=text)
    if part and not part.isdigit():
        raise InvalidAmount(f"“{text}” is not an amount of money; type it like 12.50.", text=text)
    return int(whole or "0") * 100 + int(part.ljust(2, "0") if part else "0")


def tax_cents(taxable_cents: int, basis_points: int) -> int:
    """Sales tax on a taxable amount, rounded half up to the cent (once, on the total)."""
    if taxable_cents < 0:
        raise InvalidAmount("A taxable amount cannot be negative.", taxable_cents=taxable_cents)
    if not 0 <= basis_points <= MAX_TAX_BASIS_POINTS:
        raise InvalidAmount(
            f"A sales tax rate of {basis_points / 100}% is not possible; it must be between 0 "
            f"and {MAX_TAX_BASIS_POINTS / 100}%.",
            basis_points=basis_points,
        )
    return (taxable_cents * basis_points + 5_000) // 10_000


@dataclass(frozen=True, slots=True)
class Totals:
    """What a cart comes to: subtotal, tax on taxable lines only, total."""

    subtotal_cents: int
    taxable_cents: int
    tax_cents: int

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


def cart_totals(lines: list[tuple[int, bool]], basis_points: int) -> Totals:
    """Totals of (amount in cents, taxable) lines."""
    subtotal = sum(amount for amount, _ in lines)
    taxable = sum(amount for amount, is_taxable in lines if is_taxable)
    return Totals(subtotal, taxable, tax_cents(taxable, basis_points))


@dataclass(frozen=True, slots=True)
class CashTaken:
    """Cash handed over: what goes toward the sale and the change given back."""

    applied_cents: int
    change_cents: int


def apply_cash(handed_cents: int, balance_due_cents: int) -> CashTaken:
    """Cash toward what is still due; anything over it is change."""
    if handed_cents <= 0:
        raise InvalidAmount("Cash handed over must be more than $0.00.", handed=handed_cents)
    if balance_due_cents <= 0:
        raise InvalidAmount("Nothing is due on this sale.", balance_due=balance_due_cents)
    applied = min(handed_cents, balance_due_cents)
    return CashTaken(applied, handed_cents - applied)
