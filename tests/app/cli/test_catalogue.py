"""`rxbench-admin catalogue import|search` on a handmade FDA-layout download."""

from __future__ import annotations

from pathlib import Path

from tests.app.catalogue.fda_files import package, product, write_zip
from tests.app.cli.conftest import RunCli


def _directory(tmp_path: Path) -> Path:
    return write_zip(
        tmp_path / "ndctext.zip",
        [product("0781-2613", "Amoxicillin", form="CAPSULE", labeler="Sandoz Inc")],
        [package("0781-2613-01", "100 CAPSULE in 1 BOTTLE (0781-2613-01) ")],
    )


def test_import_prints_progress_and_a_summary_then_search_finds_it(
    run_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    imported = run_cli(
        "--database",
        database_url,
        "catalogue",
        "import",
        str(_directory(tmp_path)),
        "--snapshot-date",
        "2019-04-29",
    )
    assert imported.code == 0, imported.err
    assert "100%" in imported.err
    assert "FDA NDC Directory of 2019-04-29" in imported.out
    assert "products: 1 (1 new, 0 updated, 0 newly discontinued)" in imported.out

    found = run_cli("--database", database_url, "catalogue", "search", "amox")
    assert found.code == 0, found.err
    assert found.out.startswith("0781-2613-01  Amoxicillin 10 mg/1 CAPSULE — Sandoz Inc")
    assert "1 found; drug data from the FDA directory of 2019-04-29." in found.out


def test_a_broken_file_is_refused_with_its_line(
    run_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    broken = write_zip(tmp_path / "broken.zip", ["0781-2613_id\t0781-2613"], [])
    result = run_cli("--database", database_url, "catalogue", "import", str(broken))
    assert result.code == 1
    assert "product.txt, line 2" in result.err
    assert "Nothing was imported" in result.err


def test_a_bad_snapshot_date_is_a_usage_error(
    run_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    result = run_cli(
        "--database",
        database_url,
        "catalogue",
        "import",
        str(_directory(tmp_path)),
        "--snapshot-date",
        "29/04/2019",
    )
    assert result.code == 1
    assert "YYYY-MM-DD" in result.err


def test_search_of_an_empty_catalogue_says_to_import(run_cli: RunCli, database_url: str) -> None:
    result = run_cli("--database", database_url, "catalogue", "search", "amox")
    assert result.code == 1
    assert "rxbench-admin catalogue import" in result.out
