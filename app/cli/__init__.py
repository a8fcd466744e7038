"""rxbench-admin: set-up and support from the command line, on the same core as the window.

Exit codes: 0 done; 1 refused or invalid input (the message says what to change); 2 the
environment failed (database unreachable, bad URL, schema too new…); 3 an unexpected error,
written in full to the log under the data directory.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, Protocol

from app import __version__
from app.cli import backup, catalogue, db, demo, identify, payer, pmp, policy, user
from app.config import Settings, load_settings
from app.errors import EnvironmentFault, RxBenchError

PROG = "rxbench-admin"
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ENVIRONMENT = 2
EXIT_UNEXPECTED = 3

log = logging.getLogger(__name__)


class UsageError(RxBenchError):
    """The command line itself is wrong: unknown command, missing argument."""

    code = "usage"


class _Parser(argparse.ArgumentParser):
    # argparse exits with 2 on a usage error; here 2 means "the environment failed".
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


class CommandModule(Protocol):
    """A module adding its subcommand: the core's own, or one that needs more than the core
    (ui.admin adds the label PDF export, which needs Qt, without app importing it)."""

    def register(self, commands: argparse._SubParsersAction[Any]) -> None: ...


def build_parser(extra_commands: Sequence[CommandModule] = ()) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Set up and support RxBench: upgrade the database, manage user accounts, load the "
            "demo pharmacy, back up and restore. Changes are recorded in the audit trail as made "
            "by the command line (cli:<your login name>) with administrator rights."
        ),
        epilog=(
            "Exit codes: 0 done, 1 refused or invalid input, 2 database or environment fault, "
            "3 unexpected error (details in the log)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database to work on instead of the configured one "
        "(sqlite:///path/to/file.sqlite3 or postgresql://user@host:5432/database)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (db, user, demo, backup, catalogue, identify, pmp, payer, *extra_commands):
        module.register(commands)
    policy.register(commands)
    return parser


@contextmanager
def _logging_to_file(settings: Settings) -> Iterator[Path | None]:
    """Log this run to data_dir/logs; no log file is no reason to refuse to work."""
    log_file = settings.data_dir / "logs" / "rxbench-admin.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    except OSError:
        yield None
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(previous_level or logging.INFO, logging.INFO))
    try:
        yield log_file
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


def _fail(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, extra_commands: Sequence[CommandModule] = ()) -> int:
    parser = build_parser(extra_commands)
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        _fail(str(error))
        return EXIT_REFUSED
    except SystemExit as done:  # --help and --version
        return int(done.code or 0)
    settings = load_settings(args.database)
    with _logging_to_file(settings) as log_file:
        try:
            log.info("rxbench-admin %s on %s", args.command, settings.workstation)
            result: int = args.handler(args, settings)
            return result
        except EnvironmentFault as fault:
            log.warning("environment fault: %s (%s)", fault.code, fault)
            _fail(str(fault))
            return EXIT_ENVIRONMENT
        except RxBenchError as refusal:
            log.info("refused: %s", refusal.code)
            _fail(str(refusal))
            return EXIT_REFUSED
        except KeyboardInterrupt:
            _fail("interrupted; nothing more was done.")
            return EXIT_REFUSED
        except Exception as bug:
            log.exception("unexpected error in rxbench-admin %s", args.command)
            where = f"details in the log: {log_file}" if log_file else "details in the log"
            _fail(f"unexpected error ({type(bug).__name__}); {where}")
            return EXIT_UNEXPECTED


__all__ = ["main"]
