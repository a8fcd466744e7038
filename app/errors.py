"""Typed errors that carry a code and the facts; the UI and the CLI turn them into sentences.

Two families: `RxBenchError` for a refused or invalid action (the person can fix it), and
`EnvironmentFault` for the world around us failing (database unreachable, disk full), which
the UI shows as such with a retry rather than as a bug.
"""

from __future__ import annotations

from typing import Any


class RxBenchError(Exception):
    """Base of every error RxBench expects and explains to a person."""

    code = "error"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts

    def __str__(self) -> str:
        return self.message


class ValidationFailed(RxBenchError):
    """Input that cannot be accepted; nothing was changed."""

    code = "invalid"


class NotFound(RxBenchError):
    code = "not-found"


class PermissionDenied(RxBenchError):
    """The signed-in user's roles do not allow this action."""

    code = "permission-denied"


class AuthenticationFailed(RxBenchError):
    code = "authentication-failed"


class AccountLocked(AuthenticationFailed):
    code = "account-locked"


class AccountDisabled(AuthenticationFailed):
    code = "account-disabled"


class StaleRecord(RxBenchError):
    """Someone else changed the record since it was read; the edit was not saved."""

    code = "stale-record"


class EnvironmentFault(RxBenchError):
    """Something outside RxBench failed: the action may succeed if retried later."""

    code = "environment"


class DatabaseUnavailable(EnvironmentFault):
    code = "database-unavailable"


class DatabaseReadOnly(EnvironmentFault):
    code = "database-read-only"


class DiskFull(EnvironmentFault):
    code = "disk-full"


class InvalidDatabaseUrl(EnvironmentFault):
    code = "invalid-database-url"


class SchemaTooNew(EnvironmentFault):
    """The shared database was upgraded by a newer RxBench than this workstation runs."""

    code = "schema-too-new"


class SchemaOutOfDate(EnvironmentFault):
    """The database needs `rxbench-admin db upgrade` before this version can use it."""

    code = "schema-out-of-date"


class PrinterNotFound(EnvironmentFault):
    """The chosen printer is not installed on this computer (any more); choose another."""

    code = "printer-not-found"


class PrinterOffline(EnvironmentFault):
    """The printer is installed but stopped or in error; nothing was printed."""

    code = "printer-offline"


class PrintJobFailed(EnvironmentFault):
    """The print job could not be started or finished; nothing was printed."""

    code = "print-job-failed"
