"""`rxbench-admin user …`: accounts managed from the command line, as an administrator."""

from __future__ import annotations

import argparse

from app.cli.common import command_line_actor, opened_services, read_new_password
from app.config import Settings
from app.db.base import utc_now
from app.domain.roles import Role
from app.services.users import UserSummary, parse_roles

_AS_ADMINISTRATOR = (
    "The command line acts as an administrator; the audit trail records the change as made by "
    "cli:<your login name> on this workstation."
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "user",
        help="add, list, disable, enable or unlock user accounts",
        description=_AS_ADMINISTRATOR,
    )
    actions = group.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="create a user account (also on a new, empty installation)",
        description=f"Create a user account. {_AS_ADMINISTRATOR}",
    )
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the person's full name")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        metavar="ROLE",
        help=f"one of {', '.join(role.value for role in Role)}; repeat for several",
    )
    _password_source(add)
    add.set_defaults(handler=add_user)

    passwd = actions.add_parser(
        "passwd",
        help="set a new password for a user (also clears a lockout)",
        description=f"Set a user's password. {_AS_ADMINISTRATOR}",
    )
    passwd.add_argument("username")
    _password_source(passwd)
    passwd.set_defaults(handler=set_password)

    for name, handler, text in (
        ("disable", disable_user, "stop a user from signing in (the history is kept)"),
        ("enable", enable_user, "let a disabled user sign in again"),
        ("unlock", unlock_user, "clear a lockout after too many wrong passwords"),
    ):
        action = actions.add_parser(name, help=text, description=f"{text}. {_AS_ADMINISTRATOR}")
        action.add_argument("username")
        action.set_defaults(handler=handler)

    listing = actions.add_parser("list", help="list user accounts, their roles and status")
    listing.set_defaults(handler=list_users)


def _password_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts) instead "
        "of asking twice",
    )


def add_user(args: argparse.Namespace, settings: Settings) -> int:
    roles = parse_roles(args.role)
    password = read_new_password(from_stdin=args.password_stdin)
    # A brand-new installation has no schema yet: creating its first account prepares it.
    with opened_services(settings, upgrade_schema=True) as services:
        created = services.users.add_user(
            command_line_actor(settings),
            username=args.username,
            full_name=args.name,
            password=password,
            roles=roles,
        )
    print(f"Created user {created.username} ({created.full_name}): {_roles(created)}.")
    return 0


def set_password(args: argparse.Namespace, settings: Settings) -> int:
    password = read_new_password(from_stdin=args.password_stdin)
    with opened_services(settings) as services:
        services.users.set_password(
            command_line_actor(settings), username=args.username, password=password
        )
    print(f"Set a new password for {args.username.strip().lower()}.")
    return 0


def disable_user(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        services.users.set_active(
            command_line_actor(settings), username=args.username, active=False
        )
    print(f"Disabled {args.username.strip().lower()}: they can no longer sign in.")
    return 0


def enable_user(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        services.users.set_active(command_line_actor(settings), username=args.username, active=True)
    print(f"Enabled {args.username.strip().lower()}: they can sign in again.")
    return 0


def unlock_user(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        services.users.clear_lockout(command_line_actor(settings), username=args.username)
    print(f"Unlocked {args.username.strip().lower()}: they can try their password again.")
    return 0


def _roles(user: UserSummary) -> str:
    return ", ".join(role.value for role in sorted(user.roles))


def _status(user: UserSummary) -> str:
    if not user.is_active:
        return "disabled"
    if user.locked_until is not None and user.locked_until > utc_now():
        return f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
    return "active"


def list_users(args: argparse.Namespace, settings: Settings) -> int:
    with opened_services(settings) as services:
        users = services.users.list_users(command_line_actor(settings))
    if not users:
        print("There are no user accounts yet: create one with “rxbench-admin user add”.")
        return 0
    rows = [("USER", "NAME", "ROLES", "STATUS")]
    rows += [(user.username, user.full_name, _roles(user), _status(user)) for user in users]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for *padded, status in rows:
        print(
            "  ".join(value.ljust(width) for value, width in zip(padded, widths, strict=True)),
            status,
        )
    return 0
