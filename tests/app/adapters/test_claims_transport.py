"""The TCP claims transport (framing, TLS, faults) and billing that never bills twice."""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.adapters.claims_transport import (
    ClaimOutcomeUnknown,
    RecoveryPolicy,
    SafeBiller,
    SwitchEndpoint,
    SwitchTimeout,
    SwitchUnreachable,
    TcpClaimsTransport,
)
from app.adapters.training_payer import Adjudicator, TrainingPayerServer, training_plans
from app.domain.ncpdp import (
    MalformedMessage,
    ResponseMismatch,
    ResponseStatus,
    build_b1,
    build_b2,
    parse_response,
    reversal_of,
)
from app.errors import EnvironmentFault
from tests.app.domain.ncpdp.claims import claim


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket that accepts connections (the kernel completes them) and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def _serve_once(server: socket.socket, answer: Callable[[socket.socket], None]) -> threading.Thread:
    def run() -> None:
        connection, _ = server.accept()
        with connection:
            answer(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _transport(server: socket.socket, **endpoint: object) -> TcpClaimsTransport:
    host, port = server.getsockname()[:2]
    return TcpClaimsTransport(SwitchEndpoint(host=host, port=port, **endpoint))  # type: ignore[arg-type]


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += connection.recv(size - len(data))
    return data


def test_a_request_travels_behind_a_four_byte_big_endian_length(listener: socket.socket) -> None:
    received: list[bytes] = []

    def answer(connection: socket.socket) -> None:
        (length,) = struct.unpack(">I", _read(connection, 4))
        received.append(_read(connection, length))
        connection.sendall(struct.pack(">I", 5) + b"hello")

    thread = _serve_once(listener, answer)
    assert _transport(listener).send(b"D0-request", timeout=2) == b"hello"
    thread.join()
    assert received == [b"D0-request"]


def test_a_closed_port_is_unreachable_and_nothing_was_billed() -> None:
    unused = socket.create_server(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()
    transport = TcpClaimsTransport(SwitchEndpoint(host="127.0.0.1", port=port))
    with pytest.raises(SwitchUnreachable, match="nothing was billed") as raised:
        transport.send(b"x", timeout=1)
    assert isinstance(raised.value, EnvironmentFault)


def test_no_answer_in_time_is_a_timeout_that_may_have_billed(listener: socket.socket) -> None:
    with pytest.raises(SwitchTimeout, match="may have been processed"):
        _transport(listener).send(b"x", timeout=0.2)


def test_a_switch_hanging_up_after_the_request_is_a_timeout(listener: socket.socket) -> None:
    thread = _serve_once(listener, lambda connection: _read(connection, 5))
    with pytest.raises(SwitchTimeout):
        _transport(listener).send(b"x", timeout=2)
    thread.join()


def test_a_half_sent_answer_is_a_timeout(listener: socket.socket) -> None:
    def answer(connection: socket.socket) -> None:
        _read(connection, 5)
        connection.sendall(struct.pack(">I", 100) + b"only part")

    thread = _serve_once(listener, answer)
    with pytest.raises(SwitchTimeout):
        _transport(listener).send(b"x", timeout=2)
    thread.join()


def test_an_absurd_frame_length_is_refused(listener: socket.socket) -> None:
    def answer(connection: socket.socket) -> None:
        _read(connection, 5)
        connection.sendall(struct.pack(">I", 50_000_000))

    thread = _serve_once(listener, answer)
    with pytest.raises(MalformedMessage, match="50000000-byte"):
        _transport(listener).send(b"x", timeout=2)
    thread.join()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with the openssl command line tool."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_payer(certificate: tuple[Path, Path]) -> Iterator[TrainingPayerServer]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with TrainingPayerServer(Adjudicator(training_plans()), ssl_context=context) as server:
        server.start()
        yield server


def test_a_claim_is_paid_over_tls(
    tls_payer: TrainingPayerServer, certificate: tuple[Path, Path]
) -> None:
    host, port = tls_payer.address
    endpoint = SwitchEndpoint(host=host, port=port, tls=True, ca_file=str(certificate[0]))
    response = parse_response(TcpClaimsTransport(endpoint).send(build_b1(claim()), timeout=5))
    assert response.status is ResponseStatus.PAID


def test_a_switch_whose_certificate_is_not_trusted_is_unreachable(
    tls_payer: TrainingPayerServer,
) -> None:
    host, port = tls_payer.address
    transport = TcpClaimsTransport(SwitchEndpoint(host=host, port=port, tls=True))
    with pytest.raises(SwitchUnreachable, match="secure connection"):
        transport.send(build_b1(claim()), timeout=5)


@dataclass
class LosingTransport:
    """An in-process payer whose first `lose` answers are lost after it adjudicated."""

    adjudicator: Adjudicator = field(default_factory=lambda: Adjudicator(training_plans()))
    lose: int = 1
    lose_before_payer: bool = False
    sent: list[bytes] = field(default_factory=list)

    def send(self, request: bytes, timeout: float) -> bytes:
        self.sent.append(request)
        if self.lose > 0:
            self.lose -= 1
            if not self.lose_before_payer:
                self.adjudicator.answer(request)
            raise SwitchTimeout("lost")
        return self.adjudicator.answer(request)


def test_a_lost_answer_is_resubmitted_and_the_payer_says_duplicate_of_paid() -> None:
    transport = LosingTransport()
    outcome = SafeBiller(transport, timeout=1).bill(claim())
    assert outcome.timed_out and not outcome.reversed_after_timeout
    assert outcome.response is not None
    assert outcome.response.status is ResponseStatus.DUPLICATE_OF_PAID
    assert outcome.response.is_paid
    assert transport.sent == [build_b1(claim())] * 2
    # Paid once: the one authorization, and one reversal clears it.
    assert outcome.response.authorization_number == "TRN000000001"
    reversal = parse_response(transport.send(build_b2(reversal_of(claim())), 1))
    assert reversal.status is ResponseStatus.APPROVED


def test_a_lost_answer_is_reversed_when_the_policy_says_so() -> None:
    transport = LosingTransport()
    outcome = SafeBiller(transport, timeout=1, policy=RecoveryPolicy.REVERSE).bill(claim())
    assert outcome.response is None
    assert outcome.timed_out and outcome.reversed_after_timeout
    assert transport.sent == [build_b1(claim()), build_b2(reversal_of(claim()))]
    again = SafeBiller(transport, timeout=1).bill(claim())
    assert again.response is not None and again.response.status is ResponseStatus.PAID


def test_a_lost_request_reversed_finds_nothing_to_reverse_and_nothing_is_billed() -> None:
    transport = LosingTransport(lose_before_payer=True)
    outcome = SafeBiller(transport, timeout=1, policy=RecoveryPolicy.REVERSE).bill(claim())
    assert outcome.reversed_after_timeout
    again = SafeBiller(transport, timeout=1).bill(claim())
    assert again.response is not None and again.response.status is ResponseStatus.PAID


@pytest.mark.parametrize("policy", list(RecoveryPolicy))
def test_when_the_second_message_is_lost_too_the_claim_must_be_reversed(
    policy: RecoveryPolicy,
) -> None:
    transport = LosingTransport(lose=2)
    with pytest.raises(ClaimOutcomeUnknown, match="reverse it before billing it again"):
        SafeBiller(transport, timeout=1, policy=policy).bill(claim())


def test_an_unreachable_switch_is_reported_without_a_retry() -> None:
    class Unreachable:
        calls = 0

        def send(self, request: bytes, timeout: float) -> bytes:
            self.calls += 1
            raise SwitchUnreachable("down")

    transport = Unreachable()
    with pytest.raises(SwitchUnreachable):
        SafeBiller(transport, timeout=1).bill(claim())
    assert transport.calls == 1


def test_an_answer_for_another_claim_is_refused() -> None:
    class Confused:
        def send(self, request: bytes, timeout: float) -> bytes:
            return Adjudicator(training_plans()).answer(build_b1(claim(rx_number="6000999")))

    with pytest.raises(ResponseMismatch, match="Rx 6000999"):
        SafeBiller(Confused(), timeout=1).bill(claim())
