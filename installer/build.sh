#!/usr/bin/env bash
# Build the RxBench one-folder bundle into dist/rxbench/ with the project's venv PyInstaller.
#
#   installer/build.sh                      build dist/rxbench/ (rxbench + rxbench-admin)
#   installer/build.sh --install-desktop    also add the RxBench launcher and icon to this
#                                           user's desktop menu (~/.local/share)
#
# Environment: PYTHON (default .venv/bin/python), DIST_DIR (default dist), WORK_DIR (default
# build/pyinstaller).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build/pyinstaller}"
install_desktop=false

for argument in "$@"; do
    case "$argument" in
        --install-desktop) install_desktop=true ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option $argument (try --help)" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$PYTHON" ]]; then
    echo "build.sh: no Python at $PYTHON; create the venv and run 'pip install -e .[dev]' first" >&2
    exit 1
fi

started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean \
    --distpath "$DIST_DIR" --workpath "$WORK_DIR" "$ROOT/installer/rxbench.spec"
bundle="$DIST_DIR/rxbench"
echo "Built $bundle in $(( $(date +%s) - started )) s ($(du -sh "$bundle" | cut -f1))."

if $install_desktop; then
    data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
    mkdir -p "$data_home/applications"
    # The desktop entry says Exec=rxbench; point it at this bundle explicitly.
    sed -e "s|^Exec=rxbench$|Exec=\"$bundle/rxbench\"|" \
        -e "s|^TryExec=rxbench$|TryExec=$bundle/rxbench|" \
        "$ROOT/installer/rxbench.desktop" > "$data_home/applications/rxbench.desktop"
    for size in 16 24 32 48 64 128 256; do
        icon_dir="$data_home/icons/hicolor/${size}x${size}/apps"
        mkdir -p "$icon_dir"
        cp "$ROOT/resources/icons/rxbench-$size.png" "$icon_dir/rxbench.png"
    done
    mkdir -p "$data_home/icons/hicolor/scalable/apps"
    cp "$ROOT/resources/icons/rxbench.svg" "$data_home/icons/hicolor/scalable/apps/rxbench.svg"
    # Refreshing the caches is a nicety: menus pick the entry up at next login without it.
    command -v update-desktop-database >/dev/null && update-desktop-database "$data_home/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" || true
    echo "Installed the RxBench launcher: $data_home/applications/rxbench.desktop"
fi
