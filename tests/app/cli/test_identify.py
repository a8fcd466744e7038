"""`rxbench-admin identify` on the demo catalogue and a few more real FDA rows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from app.bootstrap import Services
from app.cli.identify import scanned_text
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import parse_ndc
from app.services.unit_of_work import Actor
from tests.app.catalogue.fda_files import merge_directories
from tests.app.cli.conftest import RunCli

EXTRA_DIR = Path(__file__).resolve().parents[1] / "data" / "ndc-verdicts"
# The command judges expiry against the real today: two years ahead stays in date.
IN_DATE = date.today() + timedelta(days=730)
MONTELUKAST = "0093-7426-56"
KEYS = [
    "status",
    "kind",
    "ndc",
    "ndc11",
    "gtin",
    "lot",
    "expiry",
    "serial",
    "product",
    "package",
    "dea_schedule",
    "candidates",
    "message",
]


@pytest.fixture
def loaded(services: Services, admin: Actor, database_url: str, tmp_path: Path) -> str:
    both = merge_directories(tmp_path / "ndc", DEMO_CATALOGUE_DIR, EXTRA_DIR)
    load_catalogue_subset(services.database, admin, both)
    return database_url


def _upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def _datamatrix(ndc: str, *, gs: str = GS) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=IN_DATE, lot="A1B2", serial="SN9", gs=gs
    )


def _json(run_cli: RunCli, url: str, *args: str) -> tuple[int, dict[str, object]]:
    result = run_cli("--database", url, "identify", "--json", *args)
    return result.code, json.loads(result.out)


def test_json_has_exactly_the_keys_nulls_included(run_cli: RunCli, loaded: str) -> None:
    code, data = _json(run_cli, loaded, _upc(MONTELUKAST))
    assert code == 0
    assert list(data) == KEYS
    assert data["ndc"] == MONTELUKAST
    assert data["lot"] is None and data["message"] is None
    assert data["candidates"] == []


@pytest.mark.parametrize(
    "spelling", [GS, "\\x1d", "\\X1D", "<GS>", "<gs>"], ids=["GS", "x1d", "X1D", "<GS>", "<gs>"]
)
def test_gs_in_argv_in_any_spelling(run_cli: RunCli, loaded: str, spelling: str) -> None:
    code, data = _json(run_cli, loaded, _datamatrix(MONTELUKAST, gs=spelling))
    assert code == 0
    assert (data["kind"], data["lot"], data["serial"], data["expiry"]) == (
        "gs1",
        "A1B2",
        "SN9",
        IN_DATE.isoformat(),
    )


def test_gs_substitute_option(run_cli: RunCli, loaded: str) -> None:
    code, data = _json(run_cli, loaded, "--gs-substitute", "^", _datamatrix(MONTELUKAST, gs="^"))
    assert (code, data["lot"], data["serial"]) == (0, "A1B2", "SN9")


def test_a_bad_gs_substitute_is_refused(run_cli: RunCli, loaded: str) -> None:
    result = run_cli("--database", loaded, "identify", "--gs-substitute", "A", "123")
    assert result.code == 1
    assert "cannot stand for the GS1 separator" in result.err


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("2950090777", "ambiguous", 1),
        ("0069-1530-68", "unknown", 1),
        ("300937426562", "invalid", 1),
        ("RX1000123-4", "ok", 0),
    ],
)
def test_exit_codes_follow_the_status(
    run_cli: RunCli, loaded: str, text: str, status: str, code: int
) -> None:
    exit_code, data = _json(run_cli, loaded, text)
    assert (exit_code, data["status"]) == (code, status)
    if status != "ok":
        assert isinstance(data["message"], str) and data["message"]


def test_an_rx_label_adds_rx_and_fill(run_cli: RunCli, loaded: str) -> None:
    _, data = _json(run_cli, loaded, "RX1000123-4")
    assert list(data) == [*KEYS, "rx", "fill"]
    assert (data["rx"], data["fill"]) == ("1000123", 4)


def test_ambiguous_lists_the_candidates(run_cli: RunCli, loaded: str) -> None:
    _, data = _json(run_cli, loaded, "2950090777")
    assert data["candidates"] == ["29500-907-77", "29500-9077-7"]


@pytest.mark.parametrize(
    ("expect", "scanned", "verdict", "code"),
    [
        (MONTELUKAST, _upc(MONTELUKAST), "match", 0),
        ("00093742656", _upc(MONTELUKAST), "match", 0),
        ("68180-980-01", _upc("68180-980-09"), "package-size-differs", 1),
        ("0378-1805-77", _upc("0527-1372-01"), "other-manufacturer", 1),
        ("0093-0039-01", _upc("0173-0527-00"), "wrong-drug", 1),
        (MONTELUKAST, _upc("0069-1530-68"), "unknown", 1),
        (MONTELUKAST, "2950090777", "ambiguous", 1),
        (MONTELUKAST, "0100300937426561172001001012345", "expired", 1),
    ],
)
def test_expect_adds_the_verdict(
    run_cli: RunCli, loaded: str, expect: str, scanned: str, verdict: str, code: int
) -> None:
    exit_code, data = _json(run_cli, loaded, "--expect", expect, scanned)
    assert list(data) == [*KEYS, "verdict", "verdict_message"]
    assert (exit_code, data["verdict"]) == (code, verdict)
    assert isinstance(data["verdict_message"], str)


def test_an_unknown_expected_ndc_is_refused(run_cli: RunCli, loaded: str) -> None:
    result = run_cli("--database", loaded, "identify", "--expect", "0069-1530-68", "123")
    assert result.code == 1
    assert "not in the drug catalogue" in result.err


def test_human_readable_lines(run_cli: RunCli, loaded: str) -> None:
    result = run_cli(
        "--database", loaded, "identify", "--expect", "65162-047-10", _datamatrix("68382-793-01")
    )
    assert result.code == 1
    lines = result.out.splitlines()
    assert "Status:   ok" in lines
    assert "NDC:      68382-793-01 (NDC-11 68382079301)" in lines
    assert "Lot:      A1B2" in lines
    assert "Verdict:  other-manufacturer" in lines
    assert "Requires: pharmacist-override" in lines
    assert any(line.startswith("Warning:  Schedule II") for line in lines)
    assert not any(line.startswith("Rx:") for line in lines)


def test_an_empty_catalogue_says_so(run_cli: RunCli, database_url: str) -> None:
    result = run_cli("--database", database_url, "identify", _upc(MONTELUKAST))
    assert result.code == 1
    assert "Status:   unknown" in result.out
    assert "catalogue is empty" in result.out


def test_an_unreachable_database_is_an_environment_fault(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "rx.sqlite3"
    result = run_cli("--database", f"sqlite:///{missing}", "identify", "123")
    assert result.code == 2


def test_scanned_text_replaces_only_the_gs_spellings() -> None:
    assert scanned_text("01<GS>21\\x1d10") == f"01{GS}21{GS}10"
    assert scanned_text("x1d GS <G>") == "x1d GS <G>"
