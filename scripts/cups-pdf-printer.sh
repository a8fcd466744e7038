#!/usr/bin/env bash
# A real CUPS print queue that writes PDF files, for the label printing tests: installs cups and
# cups-pdf when missing, starts cupsd (these machines run no service manager), adds the queue
# RxBench-PDF and a stopped twin RxBench-PDF-Stopped (an offline printer), and prints the
# folder the PDFs land in, on stdout. Safe to repeat.
# Usage: scripts/cups-pdf-printer.sh   (as root, or a user with sudo)
set -euo pipefail

QUEUE=RxBench-PDF
STOPPED_QUEUE=RxBench-PDF-Stopped
OUTPUT_DIR="${RXBENCH_CUPS_OUTPUT:-/var/spool/cups-pdf/rxbench}"
CUPS_PDF_CONF=/etc/cups/cups-pdf.conf
CUPS_PDF_BACKEND=/usr/lib/cups/backend/cups-pdf

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian and Ubuntu ship cups-pdf as printer-driver-cups-pdf ("cups-pdf" is its virtual name).
if [ ! -x /usr/sbin/cupsd ] || [ ! -e "$CUPS_PDF_BACKEND" ] || ! command -v lpadmin >/dev/null; then
    echo "Installing cups and cups-pdf" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq cups cups-client printer-driver-cups-pdf >/dev/null
fi

ppd=""
for candidate in /usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd /usr/share/ppd/cups-pdf/CUPS-PDF.ppd \
    /usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd; do
    if [ -f "$candidate" ]; then ppd="$candidate"; break; fi
done
if [ -z "$ppd" ]; then
    echo "No cups-pdf PPD under /usr/share/ppd/cups-pdf: is printer-driver-cups-pdf installed?" >&2
    exit 1
fi

# One fixed folder for every user's jobs (the default is each user's ~/PDF), the job id in each
# file name so two jobs with one title do not overwrite each other.
as_root mkdir -p "$OUTPUT_DIR"
as_root chmod 1777 "$OUTPUT_DIR"
set_option() {
    if as_root grep -Eq "^#?$1 " "$CUPS_PDF_CONF"; then
        as_root sed -i -E "s|^#?$1 .*|$1 $2|" "$CUPS_PDF_CONF"
    else
        echo "$1 $2" | as_root tee -a "$CUPS_PDF_CONF" >/dev/null
    fi
}
set_option Out "$OUTPUT_DIR"
set_option AnonDirName "$OUTPUT_DIR"
set_option Label 1

scheduler_running() { lpstat -r 2>/dev/null | grep -q "is running"; }
if ! scheduler_running; then
    as_root mkdir -p /run/cups
    as_root /usr/sbin/cupsd
    for _ in $(seq 1 30); do scheduler_running && break; sleep 0.5; done
fi
if ! scheduler_running; then
    echo "cupsd did not start: see /var/log/cups/error_log" >&2
    exit 1
fi

# cups-pdf turns PostScript back into PDF with Ghostscript; of the PDF-to-PostScript renderers
# only pdftocairo keeps the text extractable through that round trip (gs and pdftops lose it).
for queue in "$QUEUE" "$STOPPED_QUEUE"; do
    # lpadmin warns on every run that PPD drivers are deprecated: show its output only on failure.
    if ! output="$(as_root lpadmin -p "$queue" -E -v cups-pdf:/ -P "$ppd" \
        -o pdftops-renderer-default=pdftocairo 2>&1)"; then
        echo "$output" >&2
        exit 1
    fi
    as_root cupsaccept "$queue"
    if ! lpstat -p "$queue" >/dev/null 2>&1; then
        echo "The CUPS queue $queue was not created" >&2
        exit 1
    fi
done
as_root cupsenable "$QUEUE"
as_root cupsdisable "$STOPPED_QUEUE"
echo "$OUTPUT_DIR"
