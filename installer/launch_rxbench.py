"""Frozen entry point of the RxBench workstation window: PyInstaller builds from a script."""

from ui.main import main

raise SystemExit(main())
