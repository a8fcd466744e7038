"""Start-up benchmark: whole-process wall time of `rxbench --smoke` against the stack's floor.

Runs both, alternating, against one database holding 20,000 patients and 200,000 past fills
(seeded on first use), and prints the medians and the ratio. Target: ratio ≤ 2.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "startup.sqlite3"


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="database URL (default: a seeded SQLite file)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    url = args.database
    if url is None:
        if not DEFAULT_DB.exists():
            DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [sys.executable, str(HERE / "seed.py"), f"sqlite:///{DEFAULT_DB}"], check=True
            )
        url = f"sqlite:///{DEFAULT_DB}"
    with tempfile.TemporaryDirectory() as sandbox:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
            "RXBENCH_DATABASE_URL": url,
            "RXBENCH_CONFIG_DIR": f"{sandbox}/config",
            "RXBENCH_DATA_DIR": f"{sandbox}/data",
        }
        launcher = Path(sys.executable).with_name("rxbench")
        smoke = (
            [str(launcher), "--smoke"]
            if launcher.exists()
            else [sys.executable, "-m", "ui.main", "--smoke"]
        )
        floor = [sys.executable, str(HERE / "floor_window.py"), url]
        _timed(smoke, env)  # warm the OS file cache for both before measuring
        _timed(floor, env)
        smoke_times, floor_times = [], []
        for _ in range(args.runs):
            smoke_times.append(_timed(smoke, env))
            floor_times.append(_timed(floor, env))
    smoke_median = statistics.median(smoke_times)
    floor_median = statistics.median(floor_times)
    print(f"database: {url}")
    print(f"rxbench --smoke: median {smoke_median * 1000:.0f} ms over {args.runs} runs")
    print(
        f"floor (PySide6, sqlalchemy.orm, one query, 5 docks): median {floor_median * 1000:.0f} ms"
    )
    print(f"ratio: {smoke_median / floor_median:.2f} (target ≤ 2.5)")


if __name__ == "__main__":
    main()
