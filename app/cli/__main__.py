"""`python -m app.cli` runs rxbench-admin."""

import sys

from app.cli import main

sys.exit(main())
