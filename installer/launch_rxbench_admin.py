"""Frozen entry point of rxbench-admin, the command line for set-up and support."""

from ui.admin import main

raise SystemExit(main())
