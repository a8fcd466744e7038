"""The composition root: settings → engine → services, built once and handed to the UI or CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from app.adapters.claims_transport import ClaimsTransport, SwitchEndpoint, TcpClaimsTransport
from app.adapters.payment_terminal import FakeTerminal
from app.adapters.training_payer import (
    Adjudicator,
    InProcessTransport,
    load_plan_rules,
    training_plans,
)
from app.config import Settings
from app.db import migrate
from app.db.engine import create_database_engine, describe_database, environment_faults
from app.errors import ValidationFailed
from app.services.auth import AuthService, LockoutPolicy
from app.services.catalogue import CatalogueService
from app.services.changes import ChangeFeed
from app.services.claims import ClaimService
from app.services.controlled import ControlledSubstanceService
from app.services.counts import CountService
from app.services.drawer import DrawerService
from app.services.fills import FillQueryService
from app.services.house_settings import HouseSettingsService
from app.services.identify import IdentifyService
from app.services.inventory import InventoryService
from app.services.labels import LabelService
from app.services.passwords import SecretHasher
from app.services.patients import PatientService
from app.services.payment import PaymentService
from app.services.pharmacy import PharmacyService
from app.services.pmp import PmpService
from app.services.prescribers import PrescriberService
from app.services.prescriptions import PrescriptionService
from app.services.recalls import RecallService
from app.services.receipts import ReceiptService
from app.services.receiving import ReceivingService
from app.services.reorder import ReorderService
from app.services.screening import ScreeningService
from app.services.stock import StockQueryService
from app.services.unit_of_work import Database
from app.services.users import UserService
from app.services.verification import VerificationService
from app.services.workflow import WorkflowService
from app.services.worklist import WorklistService

NETWORK_SHARE_WARNING = (
    "The SQLite database file is on a network share. SQLite serves one workstation and can be "
    "damaged when several open it over the network: for several workstations, use a shared "
    "PostgreSQL server (see the README)."
)


@dataclass
class Services:
    settings: Settings
    database: Database
    auth: AuthService
    users: UserService
    pharmacy: PharmacyService
    fills: FillQueryService
    stock: StockQueryService
    inventory: InventoryService
    receiving: ReceivingService
    recalls: RecallService
    counts: CountService
    reorder: ReorderService
    controlled: ControlledSubstanceService
    pmp: PmpService
    patients: PatientService
    catalogue: CatalogueService
    identify: IdentifyService
    prescribers: PrescriberService
    house_settings: HouseSettingsService
    prescriptions: PrescriptionService
    workflow: WorkflowService
    screening: ScreeningService
    worklist: WorklistService
    verification: VerificationService
    labels: LabelService
    claims: ClaimService
    payment: PaymentService
    receipts: ReceiptService
    drawer: DrawerService
    changes: ChangeFeed
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.database.engine.dispose()


class InvalidClaimsSwitch(ValidationFailed):
    code = "invalid-claims-switch"


def open_database(settings: Settings, *, upgrade_schema: bool) -> Database:
    """Connect, then upgrade the schema (or only check it); raises typed faults."""
    engine = create_database_engine(settings.database_url)
    description = describe_database(engine.url)
    database = Database(engine, description)
    with environment_faults(description):
        if upgrade_schema:
            migrate.upgrade(engine, backup_dir=settings.backup_dir)
        else:
            migrate.check_schema(engine)
    return database


def claims_transport(settings: Settings) -> ClaimsTransport:
    """Training mode (no switch configured): the in-process training payer; otherwise the
    switch at "host:port" over TCP, TLS when configured."""
    if not settings.claims_switch.strip():
        rules = settings.claims_training_rules.strip()
        plans = load_plan_rules(Path(rules)) if rules else training_plans()
        return InProcessTransport(Adjudicator(plans))
    host, _, port = settings.claims_switch.strip().rpartition(":")
    if not host or not port.isdigit():
        raise InvalidClaimsSwitch(
            f"The claims switch “{settings.claims_switch}” is not host:port.",
            switch=settings.claims_switch,
        )
    return TcpClaimsTransport(SwitchEndpoint(host=host, port=int(port), tls=settings.claims_tls))


def build_services(settings: Settings, *, upgrade_schema: bool = True) -> Services:
    database = open_database(settings, upgrade_schema=upgrade_schema)
    hasher = SecretHasher(settings.password_hash_profile)
    policy = LockoutPolicy(
        max_failed_attempts=settings.max_failed_logins,
        lockout=timedelta(minutes=settings.lockout_minutes),
    )
    warnings = [NETWORK_SHARE_WARNING] if database.description.on_network_share else []
    claims = ClaimService(
        database, claims_transport(settings), timeout=settings.claims_timeout_seconds
    )
    return Services(
        settings=settings,
        database=database,
        auth=AuthService(database, hasher, policy, settings.workstation),
        users=UserService(database, hasher),
        pharmacy=PharmacyService(database, hasher, settings.workstation),
        fills=FillQueryService(database),
        stock=StockQueryService(database),
        inventory=InventoryService(database),
        receiving=ReceivingService(database),
        recalls=RecallService(database),
        counts=CountService(database),
        reorder=ReorderService(database),
        controlled=ControlledSubstanceService(database),
        pmp=PmpService(database),
        patients=PatientService(database),
        catalogue=CatalogueService(database),
        identify=IdentifyService(database),
        prescribers=PrescriberService(database),
        house_settings=HouseSettingsService(database),
        prescriptions=PrescriptionService(database, claims=claims),
        workflow=WorkflowService(database, claims=claims),
        screening=ScreeningService(database),
        worklist=WorklistService(database),
        verification=VerificationService(database, claims=claims),
        labels=LabelService(database),
        claims=claims,
        # Only the training terminal exists so far; a real one is an adapter chosen here.
        payment=PaymentService(database, FakeTerminal()),
        receipts=ReceiptService(database),
        drawer=DrawerService(database),
        changes=ChangeFeed(database),
        warnings=warnings,
    )
