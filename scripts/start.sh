#!/usr/bin/env bash
# Set up everything on a fresh Debian/Ubuntu machine and start RxBench on the demo pharmacy
# (embedded SQLite database in the user data directory).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
rxbench-admin demo
exec rxbench "$@"
