"""Frozen entry point of rxbench-admin, the command line for set-up and support."""

from app.cli import main

raise SystemExit(main())
