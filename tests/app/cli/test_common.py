"""Reading passwords and confirmations, and who the command line acts as."""

from __future__ import annotations

import getpass
import io
from dataclasses import replace

import pytest

from app.cli.common import command_line_actor, read_new_password
from app.config import Settings
from app.domain.roles import Role
from app.errors import ValidationFailed


def test_the_command_line_acts_as_an_administrator_named_after_the_login(
    settings: Settings,
) -> None:
    actor = command_line_actor(replace(settings, workstation="front-counter"))

    assert actor.user_id is None
    assert actor.username == f"cli:{getpass.getuser()}"
    assert actor.roles == frozenset({Role.ADMINISTRATOR})
    assert actor.workstation == "front-counter"


def test_password_from_stdin_is_the_first_line_without_its_newline() -> None:
    assert read_new_password(from_stdin=True, stdin=io.StringIO("s3cret pass\r\nmore\n")) == (
        "s3cret pass"
    )


def test_empty_stdin_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="No password"):
        read_new_password(from_stdin=True, stdin=io.StringIO(""))


def test_typed_password_must_match_twice() -> None:
    answers = iter(["first-try-1", "first-try-2"])

    with pytest.raises(ValidationFailed, match="differ"):
        read_new_password(from_stdin=False, ask=lambda _prompt: next(answers))


def test_typed_password_twice_alike_is_accepted() -> None:
    assert read_new_password(from_stdin=False, ask=lambda _prompt: "same-pass-1") == "same-pass-1"
