"""rxbench-admin as installed: the core's commands plus those that need Qt (label and
controlled-substance inventory PDFs)."""

from __future__ import annotations

from collections.abc import Sequence

import app.cli
from ui.labels import cli as label_cli
from ui.reports import cli as report_cli


def main(argv: Sequence[str] | None = None) -> int:
    return app.cli.main(argv, extra_commands=(label_cli, report_cli))
