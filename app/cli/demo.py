"""`rxbench-admin demo`: load the demo pharmacy and print its logins."""

from __future__ import annotations

import argparse

from app.bootstrap import open_database
from app.cli.common import command_line_actor
from app.config import Settings
from app.demo import DemoOutcome, load_demo
from app.services.passwords import SecretHasher


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="load the demo pharmacy (fictional patients, real FDA drugs) into an empty database",
        description=(
            "Upgrade the database, then load the demo pharmacy: a fictional pharmacy, demo "
            "logins, patients, prescribers, drugs from the FDA NDC Directory, prescriptions, "
            "fills in every state and stock. Refused on a database that holds other data; "
            "running it again on the demo database only prints the logins."
        ),
    )
    demo.set_defaults(handler=load_demo_pharmacy)


def load_demo_pharmacy(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings, upgrade_schema=True)
    try:
        outcome = load_demo(
            database,
            command_line_actor(settings),
            hasher=SecretHasher(settings.password_hash_profile),
        )
    finally:
        database.engine.dispose()
    if outcome.loaded:
        print(f"Loaded the demo pharmacy into {database.description}:")
    else:
        print(f"The demo pharmacy is already loaded in {database.description}:")
    print("  " + ", ".join(f"{count} {label}" for label, count in outcome.counts.items()))
    _print_logins(outcome)
    return 0


def _print_logins(outcome: DemoOutcome) -> None:
    print("Demo logins (fictional people; for training only):")
    width = max(len(login.username) for login in outcome.logins)
    for login in outcome.logins:
        roles = ", ".join(role.value for role in sorted(login.roles))
        print(f"  {login.username.ljust(width)}  password {login.password}  ({roles})")
