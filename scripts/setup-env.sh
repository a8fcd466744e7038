#!/usr/bin/env bash
# Shared by start.sh and test.sh: system libraries Qt needs, a virtualenv, RxBench installed in it.
# Usage: source scripts/setup-env.sh [dev]   (dev adds the test and build tools)
set -euo pipefail

RXBENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$RXBENCH_ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Qt's xcb platform plugin and printing need these on a bare Debian/Ubuntu.
SYSTEM_PACKAGES=(
    python3-venv libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 libxkbcommon0
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
    libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core
)
if [ "${1:-}" = "dev" ]; then
    # xvfb and xdotool: the scanner tests type real X11 keys into a real window.
    SYSTEM_PACKAGES+=(binutils postgresql-client xvfb xdotool)
fi

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON_BIN" -m venv "$VENV"
fi
extras=""
[ "${1:-}" = "dev" ] && extras="[dev]"
stamp="$VENV/.rxbench-installed$extras"
if [ ! -f "$stamp" ] || [ "$RXBENCH_ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$RXBENCH_ROOT$extras"
    touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
