"""`rxbench-admin payer serve` answers real claims over TCP and refuses bad set-ups plainly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.claims_transport import SwitchEndpoint, TcpClaimsTransport
from app.domain.ncpdp import ResponseStatus, build_b1, parse_response
from tests.app.cli.conftest import RunCli
from tests.app.domain.ncpdp.claims import claim, header

RULES = {
    "plans": [
        {
            "name": "Demo Plan",
            "bin": "610777",
            "pcn": "DEMO",
            "dispensing_fee_cents": 100,
            "copay_cents_by_tier": {"1": 300},
            "default_tier": 1,
            "not_covered": ["00378180110"],
            "default_unit_cost_cents": "20",
        }
    ]
}


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    environment = {
        **os.environ,
        "RXBENCH_DATA_DIR": str(tmp_path / "data"),
        "RXBENCH_CONFIG_DIR": str(tmp_path / "config"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "payer", "serve", "--port", "0", "--rules", str(rules)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Training payer listening on 127.0.0.1:"), first
    port = int(first.split(":")[1].split(" ")[0])
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_payer_command_serves_the_rules_file_until_interrupted(
    serving: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = serving
    transport = TcpClaimsTransport(SwitchEndpoint(host="127.0.0.1", port=port))
    demo = header(bin="610777", pcn="DEMO")
    paid = parse_response(transport.send(build_b1(claim(header=demo)), timeout=5))
    assert paid.status is ResponseStatus.PAID
    assert paid.amounts is not None and paid.amounts.dispensing_fee_paid_cents == 100
    rejected = parse_response(
        transport.send(
            build_b1(claim(header=demo, rx_number="6000124", ndc11="00378180110")), timeout=5
        )
    )
    assert rejected.reject_codes == ("70",)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=10)
    # Read through the same text stream as the fixture's readline(): communicate() reads the
    # pipe underneath it and would miss lines that stream had already buffered.
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    assert process.returncode == 0, err
    assert "Demo Plan: BIN 610777 PCN DEMO (primary)" in out
    assert "Training payer stopped." in out
    assert "Dana" not in out + err  # no patient data in what it prints


def test_a_bad_rules_file_is_refused_before_listening(run_cli: RunCli, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{"plans": [{"name": "Broken", "bin": "12"}]}', encoding="utf-8")
    result = run_cli("payer", "serve", "--port", "0", "--rules", str(rules))
    assert result.code == 1
    assert "Plan “Broken” has no “copay_cents_by_tier”" in result.err


def test_tls_needs_both_certificate_and_key(run_cli: RunCli) -> None:
    result = run_cli("payer", "serve", "--port", "0", "--tls-cert", "cert.pem")
    assert result.code == 1
    assert "both --tls-cert and --tls-key" in result.err


def test_a_port_out_of_range_is_refused(run_cli: RunCli) -> None:
    result = run_cli("payer", "serve", "--port", "70000")
    assert result.code == 1
    assert "70000" in result.err


def test_a_port_in_use_is_an_environment_fault(run_cli: RunCli) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("payer", "serve", "--port", str(port))
    assert result.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
