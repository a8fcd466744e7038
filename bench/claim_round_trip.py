"""B1 claim round trip to the training payer over TCP on this machine: p50/p95 of one claim.

One round trip is what a workstation does to bill a fill: build the B1, open a connection,
send it with RxBench's framing, read the response, parse it and check that it answers this
claim. The payer runs as `rxbench-admin payer serve` in its own process (as in integration
tests and demos), or with --in-process on a thread of this one (training mode). Every claim
has its own Rx number, so each is adjudicated and paid afresh. Target: p95 ≤ 10 ms.

    python bench/claim_round_trip.py [--claims 2000] [--in-process]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from datetime import date
from decimal import Decimal

from app.adapters.claims_transport import SwitchEndpoint, TcpClaimsTransport
from app.adapters.training_payer import Adjudicator, TrainingPayerServer, training_plans
from app.domain.ncpdp import (
    BillingClaim,
    Insurance,
    Patient,
    Prescriber,
    RequestHeader,
    build_b1,
    ensure_matches,
    parse_response,
)

WARM_UP = 100

TEMPLATE = BillingClaim(
    header=RequestHeader(
        bin="610999",
        pcn="RXTRAIN",
        service_provider_id="1234567893",
        date_of_service=date(2026, 11, 26),
        software_id="RXBENCH",
    ),
    patient=Patient(first_name="BENCH", last_name="PATIENT", date_of_birth=date(1970, 1, 1)),
    insurance=Insurance(cardholder_id="BENCH0001"),
    prescriber=Prescriber(npi="1245319599"),
    rx_number="1",
    fill_number=0,
    ndc11="00093005801",
    quantity=Decimal(30),
    days_supply=30,
    date_written=date(2026, 11, 20),
    refills_authorized=5,
    ingredient_cost_cents=1234,
    dispensing_fee_cents=150,
    usual_and_customary_cents=2599,
    gross_amount_due_cents=1384,
)


def _claim(number: int) -> BillingClaim:
    # Another cardholder per claim too: the same patient and drug would be a refill too soon.
    return replace(
        TEMPLATE,
        rx_number=str(7_000_000 + number),
        insurance=Insurance(cardholder_id=f"BENCH{number:07d}"),
    )


def _start_payer_process(stack: ExitStack) -> tuple[str, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "payer", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stack.callback(process.wait)
    stack.callback(process.terminate)
    assert process.stdout is not None
    first = process.stdout.readline()
    if "listening on" not in first:
        raise SystemExit(f"the payer did not start: {first!r}")
    host, port = first.split("listening on ")[1].split(" ")[0].rsplit(":", 1)
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000, help="claims timed (≥ 2,000)")
    parser.add_argument(
        "--in-process", action="store_true", help="serve from a thread of this process"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.in_process:
            server = stack.enter_context(TrainingPayerServer(Adjudicator(training_plans())))
            server.start()
            host, port = server.address
        else:
            host, port = _start_payer_process(stack)
        transport = TcpClaimsTransport(SwitchEndpoint(host=host, port=port))
        timings: list[float] = []
        statuses: Counter[str] = Counter()
        for number in range(WARM_UP + args.claims):
            claim = _claim(number)
            started = time.perf_counter()
            response = parse_response(transport.send(build_b1(claim), timeout=5))
            ensure_matches(claim, response)
            elapsed = time.perf_counter() - started
            if number >= WARM_UP:
                timings.append(elapsed * 1000)
                statuses[response.status.value] += 1
    timings.sort()
    quantiles = statistics.quantiles(timings, n=100)
    where = "in-process thread" if args.in_process else "rxbench-admin payer serve process"
    print(f"B1 round trips to the training payer ({where}), {len(timings)} claims")
    print(f"  statuses: {dict(statuses)}")
    print(
        f"  p50 {quantiles[49]:.2f} ms  p95 {quantiles[94]:.2f} ms  p99 {quantiles[98]:.2f} ms  "
        f"max {timings[-1]:.2f} ms  ({len(timings) / (sum(timings) / 1000):.0f} claims/s)"
    )
    print(f"  target p95 ≤ 10 ms: {'met' if quantiles[94] <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
