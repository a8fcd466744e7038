"""Card payments: the `PaymentTerminal` protocol, and the fake terminal training mode ships.

A terminal takes the card itself (swipe, chip, tap) and answers with an approval code and the
card's last four digits; RxBench never sees or stores a card number. A real terminal is an
adapter implementing `charge` and `refund`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.errors import EnvironmentFault


class CardKind(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    HSA_FSA = "hsa_fsa"


class TerminalUnavailable(EnvironmentFault):
    """The terminal did not answer: nothing was charged."""

    code = "terminal-unavailable"


@dataclass(frozen=True, slots=True)
class TerminalResult:
    """The terminal's answer: approved with a code, or declined with the issuer's reason."""

    approved: bool
    amount_cents: int
    approval_code: str = ""
    card_last_four: str = ""
    message: str = ""


class PaymentTerminal(Protocol):
    def charge(self, *, kind: CardKind, amount_cents: int, reference: str) -> TerminalResult: ...

    def refund(self, *, kind: CardKind, amount_cents: int, reference: str) -> TerminalResult: ...


# The training rule, printed on the training card: an amount ending in .13 is declined
# ("insufficient funds"), one over $2,000.00 is declined ("over limit"); anything else approves.
DECLINED_CENTS = 13
TRAINING_LIMIT_CENTS = 200_000


class FakeTerminal:
    """A terminal for training and tests: approves or declines by the amount (see above)."""

    def __init__(self, *, card_last_four: str = "4242") -> None:
        self._last_four = card_last_four
        self._codes = itertools.count(100001)
        self.charges: list[tuple[CardKind, int, str]] = []

    def charge(self, *, kind: CardKind, amount_cents: int, reference: str) -> TerminalResult:
        if amount_cents % 100 == DECLINED_CENTS:
            return TerminalResult(False, amount_cents, message="Declined: insufficient funds.")
        if amount_cents > TRAINING_LIMIT_CENTS:
            return TerminalResult(False, amount_cents, message="Declined: over the card limit.")
        self.charges.append((kind, amount_cents, reference))
        return TerminalResult(True, amount_cents, f"T{next(self._codes)}", self._last_four)

    def refund(self, *, kind: CardKind, amount_cents: int, reference: str) -> TerminalResult:
        self.charges.append((kind, -amount_cents, reference))
        return TerminalResult(True, amount_cents, f"R{next(self._codes)}", self._last_four)
