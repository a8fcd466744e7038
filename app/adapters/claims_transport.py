"""Carrying D.0 claims to a switch: the `ClaimsTransport` protocol, TCP (+TLS), and safe retry.

RxBench's framing: each D.0 transmission, request or response, travels as a 4-byte big-endian
unsigned length followed by that many bytes of ASCII, one request and one response per
connection. (Some switches frame with STX 0x02 … ETX 0x03 instead; RxBench does not speak that
framing.) A frame longer than `MAX_FRAME` is refused: a D.0 transmission is a few hundred bytes.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.domain.ncpdp import (
    BillingClaim,
    ClaimResponse,
    MalformedMessage,
    ResponseStatus,
    build_b1,
    build_b2,
    ensure_matches,
    parse_response,
    reversal_of,
)
from app.errors import EnvironmentFault

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024


class SwitchUnreachable(EnvironmentFault):
    """No connection to the switch, or it closed before the request was sent: nothing billed."""

    code = "switch-unreachable"


class SwitchTimeout(EnvironmentFault):
    """The request was sent but no complete answer came in time: it may have been adjudicated."""

    code = "switch-timeout"


class ClaimOutcomeUnknown(EnvironmentFault):
    """A billed claim got no answer and neither did the attempt to settle it: the claim must be
    reversed (B2) before it is billed again."""

    code = "claim-outcome-unknown"


class ClaimsTransport(Protocol):
    """Sends one D.0 request and returns the switch's response bytes."""

    def send(self, request: bytes, timeout: float) -> bytes:
        """Raise `SwitchUnreachable` when nothing was sent, `SwitchTimeout` when the answer is
        unknown."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchEndpoint:
    """Where the switch listens. With `tls`, the server's certificate is verified against
    `ca_file` (or the system's trusted roots) and `server_name` (default: `host`)."""

    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    server_name: str | None = None
    connect_timeout: float = 5.0


class TcpClaimsTransport:
    """One TCP (optionally TLS) connection per request, framed by a 4-byte length."""

    def __init__(self, endpoint: SwitchEndpoint, *, ssl_context: ssl.SSLContext | None = None):
        self._endpoint = endpoint
        if endpoint.tls and ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=endpoint.ca_file)
        self._ssl_context = ssl_context if endpoint.tls else None

    def send(self, request: bytes, timeout: float) -> bytes:
        endpoint = self._endpoint
        where = f"{endpoint.host}:{endpoint.port}"
        if len(request) > MAX_FRAME:
            raise MalformedMessage(f"The request is {len(request)} bytes, over {MAX_FRAME}.")
        try:
            raw = socket.create_connection(
                (endpoint.host, endpoint.port), timeout=endpoint.connect_timeout
            )
        except TimeoutError:
            raise SwitchUnreachable(
                f"The claims switch at {where} did not accept a connection within "
                f"{endpoint.connect_timeout:g} s; nothing was billed.",
                endpoint=where,
            ) from None
        except OSError as error:
            raise SwitchUnreachable(
                f"The claims switch at {where} cannot be reached ({error.strerror or error}); "
                "nothing was billed.",
                endpoint=where,
            ) from None
        with raw:
            connection: socket.socket = raw
            if self._ssl_context is not None:
                try:
                    connection = self._ssl_context.wrap_socket(
                        raw, server_hostname=endpoint.server_name or endpoint.host
                    )
                except (OSError, ssl.SSLError) as error:
                    raise SwitchUnreachable(
                        f"The secure connection to the claims switch at {where} failed "
                        f"({error}); nothing was billed.",
                        endpoint=where,
                    ) from None
            try:
                connection.settimeout(endpoint.connect_timeout)
                connection.sendall(FRAME_HEADER.pack(len(request)) + request)
            except OSError as error:
                raise SwitchUnreachable(
                    f"The claims switch at {where} closed the connection before the claim "
                    f"was sent ({error}); nothing was billed.",
                    endpoint=where,
                ) from None
            return self._receive(connection, timeout, where)

    def _receive(self, connection: socket.socket, timeout: float, where: str) -> bytes:
        deadline = time.monotonic() + timeout
        try:
            (length,) = FRAME_HEADER.unpack(_read_exactly(connection, 4, deadline))
            if length > MAX_FRAME:
                raise MalformedMessage(
                    f"The switch announced a {length}-byte response, over {MAX_FRAME}."
                )
            return _read_exactly(connection, length, deadline)
        except (TimeoutError, ConnectionError, ssl.SSLError, EOFError):
            raise SwitchTimeout(
                f"The claims switch at {where} did not answer within {timeout:g} s; the claim "
                "may have been processed.",
                endpoint=where,
            ) from None


def _read_exactly(connection: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        connection.settimeout(remaining)
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def read_frame(connection: socket.socket) -> bytes | None:
    """One framed message from a blocking socket; None when the peer closed between frames."""
    header = _recv_all(connection, 4)
    if header is None:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    if length > MAX_FRAME:
        raise MalformedMessage(f"A {length}-byte frame is over the {MAX_FRAME}-byte limit.")
    body = _recv_all(connection, length)
    if body is None:
        raise EOFError
    return body


def write_frame(connection: socket.socket, message: bytes) -> None:
    connection.sendall(FRAME_HEADER.pack(len(message)) + message)


def _recv_all(connection: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            if data:
                raise EOFError
            return None
        data += chunk
    return bytes(data)


class RecoveryPolicy(StrEnum):
    """What to do when a B1 got no answer."""

    RESUBMIT = "resubmit"  # the same B1 again: a payer answers "duplicate of paid" if it paid
    REVERSE = "reverse"  # a B2 for the same claim: billed or not, nothing stays paid


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingOutcome:
    """How a billing attempt ended.

    `response` is the payer's answer to the B1 (paid, duplicate of paid, captured or rejected),
    or None when the claim timed out and was reversed (`reversed_after_timeout`): then nothing is
    billed and the fill waits until it is billed again. `timed_out` says the first B1 got no
    answer.
    """

    response: ClaimResponse | None
    timed_out: bool = False
    reversed_after_timeout: bool = False


class SafeBiller:
    """Bills a claim so that a lost answer never leaves it billed twice or billed unknowingly.

    The switch may have paid a B1 whose answer was lost. With RESUBMIT the identical B1 is sent
    once more: a payer recognises the same pharmacy, Rx, fill and date of service and answers
    "duplicate of paid" with the original amounts, or adjudicates it afresh if it never got it.
    With REVERSE a B2 for the same claim is sent: approved (there was a paid claim, now reversed)
    or rejected (there was none) both leave nothing paid. If that second message gets no answer
    either, `ClaimOutcomeUnknown` says the claim must be reversed before billing again.
    A `SwitchUnreachable` (nothing was sent) is raised as is: billing again later is safe.
    """

    def __init__(
        self,
        transport: ClaimsTransport,
        *,
        timeout: float,
        policy: RecoveryPolicy = RecoveryPolicy.RESUBMIT,
    ) -> None:
        self._transport = transport
        self._timeout = timeout
        self._policy = policy

    def bill(self, claim: BillingClaim) -> BillingOutcome:
        request = build_b1(claim)
        try:
            return BillingOutcome(response=self._answer(claim, request))
        except SwitchTimeout:
            pass
        try:
            if self._policy is RecoveryPolicy.RESUBMIT:
                return BillingOutcome(response=self._answer(claim, request), timed_out=True)
            reversal = reversal_of(claim)
            answer = parse_response(self._transport.send(build_b2(reversal), self._timeout))
            ensure_matches(reversal, answer)
        except (SwitchTimeout, SwitchUnreachable):
            raise ClaimOutcomeUnknown(
                f"The claim for Rx {claim.rx_number} fill {claim.fill_number} got no answer, "
                "and neither did the attempt to settle it: reverse it before billing it again.",
                rx_number=claim.rx_number,
                fill_number=claim.fill_number,
            ) from None
        if answer.status is ResponseStatus.REJECTED and not _nothing_to_reverse(answer):
            raise ClaimOutcomeUnknown(
                f"The claim for Rx {claim.rx_number} got no answer and its reversal was refused "
                f"({', '.join(answer.reject_codes)}): reverse it before billing it again.",
                rx_number=claim.rx_number,
                fill_number=claim.fill_number,
            )
        return BillingOutcome(response=None, timed_out=True, reversed_after_timeout=True)

    def _answer(self, claim: BillingClaim, request: bytes) -> ClaimResponse:
        response = parse_response(self._transport.send(request, self._timeout))
        ensure_matches(claim, response)
        return response


def _nothing_to_reverse(answer: ClaimResponse) -> bool:
    """A reversal refused because the payer holds no paid claim for it (84 or 87)."""
    return bool(set(answer.reject_codes) & {"84", "87"})
