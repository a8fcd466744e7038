"""What every rxbench-admin command shares: who acts, opening the core, asking the person."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from app.bootstrap import Services, build_services
from app.config import Settings
from app.domain.roles import Role
from app.errors import ValidationFailed
from app.services.unit_of_work import Actor


def command_line_actor(settings: Settings) -> Actor:
    """The command line acts as an administrator; the audit trail names the login that ran it."""
    return Actor(
        None,
        f"cli:{getpass.getuser()}",
        "Command line",
        frozenset({Role.ADMINISTRATOR}),
        settings.workstation,
    )


@contextmanager
def opened_services(settings: Settings, *, upgrade_schema: bool = False) -> Iterator[Services]:
    """The same services the window uses; by default the schema is only checked, not upgraded."""
    services = build_services(settings, upgrade_schema=upgrade_schema)
    try:
        for warning in services.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        yield services
    finally:
        services.close()


def read_new_password(
    *,
    from_stdin: bool,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] = getpass.getpass,
) -> str:
    """One line of standard input for scripts, else typed twice without echo."""
    if from_stdin:
        line = (stdin or sys.stdin).readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ValidationFailed("No password was given on standard input.")
        return password
    first = ask("New password: ")
    second = ask("Type the new password again: ")
    if first != second:
        raise ValidationFailed("The two passwords differ; nothing was changed.")
    return first


def confirm(question: str) -> bool:
    """Ask yes/no on the terminal; no answer (end of input) counts as no."""
    try:
        answer = input(f"{question} Type yes to continue: ")
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")
