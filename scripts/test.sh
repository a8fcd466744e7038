#!/usr/bin/env bash
# Run the whole RxBench test suite, once on SQLite and once on PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh" dev
cd "$RXBENCH_ROOT"

export QT_QPA_PLATFORM=offscreen
export RXBENCH_TEST_POSTGRES_URL="${RXBENCH_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"

postgres_ready() { psql "$RXBENCH_TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; }

start_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        [ "${CI:-}" = "true" ] && return 1
        echo "Installing PostgreSQL for the test suite"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    for version in $(ls /etc/postgresql 2>/dev/null); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
    if ! postgres_ready; then
        # A stock Debian cluster only trusts its own socket: give this user a role and a database.
        me="$(id -un)"
        as_root su postgres -c "createuser --superuser '$me'" 2>/dev/null || true
        as_root su postgres -c "createdb --owner='$me' test" 2>/dev/null || true
        export RXBENCH_TEST_POSTGRES_URL="postgresql://$me@/test?host=/var/run/postgresql"
    fi
}

if ! postgres_ready; then
    start_postgres || true
fi
if ! postgres_ready; then
    echo "PostgreSQL is unreachable at $RXBENCH_TEST_POSTGRES_URL: the suite must run on it." >&2
    exit 1
fi

# Label printing is tested through a real CUPS queue that writes PDF files.
if cups_output="$("$RXBENCH_ROOT/scripts/cups-pdf-printer.sh")"; then
    export RXBENCH_TEST_CUPS_PRINTER=RxBench-PDF RXBENCH_TEST_CUPS_STOPPED_PRINTER=RxBench-PDF-Stopped
    export RXBENCH_TEST_CUPS_OUTPUT="$cups_output"
elif [ "${CI:-}" = "true" ]; then
    echo "The CUPS PDF printer could not be set up: CI must test the print path." >&2
    exit 1
else
    echo "No CUPS PDF printer: the label printing tests will skip." >&2
fi

status=0
RXBENCH_TEST_BACKEND=sqlite python -m pytest "$@" || status=$?
RXBENCH_TEST_BACKEND=postgresql python -m pytest "$@" || status=$?
exit "$status"
