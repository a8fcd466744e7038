"""Typed errors for NCPDP D.0 messages that cannot be built or read, each naming what is wrong."""

from __future__ import annotations

from app.errors import ValidationFailed


class MalformedMessage(ValidationFailed):
    """Bytes that are not a D.0 transmission we can read, or a claim we cannot write as one."""

    code = "ncpdp-malformed"


class TruncatedMessage(MalformedMessage):
    """The transmission ends before its fixed-width header does."""

    code = "ncpdp-truncated"


class MissingSeparator(MalformedMessage):
    """A segment separator (0x1E) or field separator (0x1C) is missing where D.0 requires one."""

    code = "ncpdp-missing-separator"


class UnknownSegment(MalformedMessage):
    """A segment identification (111-AM) this kind of message does not carry."""

    code = "ncpdp-unknown-segment"


class BadFieldValue(MalformedMessage):
    """A field is missing or its value does not have the format D.0 gives it."""

    code = "ncpdp-bad-field"


class BadOverpunch(BadFieldValue):
    """A signed amount whose last character is not an overpunch sign character."""

    code = "ncpdp-bad-overpunch"


class TransactionCountMismatch(MalformedMessage):
    """Transaction count (109-A9) differs from the number of transaction groups sent."""

    code = "ncpdp-transaction-count"


class ResponseMismatch(MalformedMessage):
    """A response that answers another claim (other Rx, provider, date or transaction code)."""

    code = "ncpdp-response-mismatch"


class AmountsDoNotAddUp(MalformedMessage):
    """Total amount paid (509-F9) is not what the other paid amounts make."""

    code = "ncpdp-amounts"


class UnsupportedTransaction(MalformedMessage):
    """A version (102-A2) other than D0, or a transaction code (103-A3) other than B1/B2/E1."""

    code = "ncpdp-unsupported"
