"""`rxbench-admin payer serve`: the training payer on a TCP port, for tests and demos."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from app.adapters.training_payer import (
    Adjudicator,
    PlanRules,
    TrainingPayerServer,
    load_plan_rules,
    training_plans,
)
from app.config import Settings
from app.errors import EnvironmentFault, ValidationFailed


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("payer", help="run the training claims payer")
    actions = group.add_subparsers(dest="payer_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="answer NCPDP D.0 claims on a TCP port until Ctrl+C",
        description=(
            "Adjudicate NCPDP D.0 B1/B2/E1 claims by training plan rules, over TCP with "
            "RxBench's framing (a 4-byte big-endian length before each message). Without "
            "--rules it serves the built-in training plans. Paid claims are kept in memory "
            "only: stopping the payer forgets them."
        ),
    )
    serve.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--rules", metavar="FILE.json", help="plan rules (see the README)")
    serve.add_argument("--tls-cert", metavar="CERT.pem", help="serve TLS with this certificate")
    serve.add_argument("--tls-key", metavar="KEY.pem", help="the certificate's private key")
    serve.add_argument(
        "--drop-first",
        type=int,
        default=0,
        metavar="N",
        help="adjudicate the first N requests but never answer them (to rehearse timeouts)",
    )
    serve.set_defaults(handler=serve_payer)


def serve_payer(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 <= args.port <= 65535:
        raise ValidationFailed(f"The port {args.port} is not from 0 to 65535.")
    if args.drop_first < 0:
        raise ValidationFailed("--drop-first cannot be negative.")
    plans = load_plan_rules(Path(args.rules)) if args.rules else training_plans()
    try:
        server = TrainingPayerServer(
            Adjudicator(plans),
            host=args.host,
            port=args.port,
            ssl_context=_tls_context(args.tls_cert, args.tls_key),
            unanswered=args.drop_first,
        )
    except OSError as error:
        raise EnvironmentFault(
            f"The training payer cannot listen on {args.host}:{args.port} ({error.strerror})."
        ) from None
    host, port = server.address
    scheme = "TLS" if args.tls_cert else "TCP"
    print(f"Training payer listening on {host}:{port} ({scheme}). Ctrl+C stops it.", flush=True)
    for plan in plans:
        print(f"  {_describe(plan)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Training payer stopped.")
    finally:
        server.close()
    return 0


def _describe(plan: PlanRules) -> str:
    role = "secondary" if plan.secondary_pays_up_to_cents is not None else "primary"
    return f"{plan.name}: BIN {plan.bin} PCN {plan.pcn or '(none)'} ({role})"


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValidationFailed("TLS needs both --tls-cert and --tls-key.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ValidationFailed(f"The TLS certificate or key cannot be used ({error}).") from None
    return context
