"""What is in this bottle: a scan or typed code resolved in the catalogue, judged if asked.

`identify` is on the scanning path and must answer within a few milliseconds on the full FDA
directory, so it reads by the indexed package NDC and (package, lot) columns only, in one
read-only session, and never touches the search index.

No audit event: a scan names a drug package, no patient, and changes nothing. Recording every
scan would write on the hot path for no one's benefit; a fill's verification will record the
scan it accepts as part of that fill.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import DrugPackage, DrugProduct, StockLot
from app.domain.barcodes import LotSerialRunTogether, Scan, ScanError, interpret_scan
from app.domain.ndc import Ndc, NdcInvalid, NdcNotExpressible, candidates_from_ndc11, ndc_candidates
from app.domain.roles import Role
from app.domain.verdicts import ProductFacts, VerdictResult, judge_scan, strength_text
from app.errors import ValidationFailed
from app.services.unit_of_work import Actor, Database, require_role

OK = "ok"
AMBIGUOUS = "ambiguous"
UNKNOWN = "unknown"
INVALID = "invalid"


class ExpectedNdcUnusable(ValidationFailed):
    """The NDC to compare against is malformed, or names no single catalogue package."""

    code = "expected-ndc-unusable"


@dataclass(frozen=True)
class Identification:
    """What a scanned text means; `as_json` gives the keys `rxbench-admin identify` prints.

    `judgement` (with `verdict`) is present only when an expected NDC was given.
    """

    status: str
    kind: str | None
    ndc: str | None = None
    ndc11: str | None = None
    gtin: str | None = None
    lot: str | None = None
    expiry: date | None = None
    serial: str | None = None
    product: str | None = None
    package: str | None = None
    dea_schedule: str | None = None
    candidates: tuple[str, ...] = ()
    message: str | None = None
    rx: str | None = None
    fill: int | None = None
    judgement: VerdictResult | None = None

    def as_json(self) -> dict[str, Any]:
        """Every key, nulls included; `rx`/`fill` for an Rx label, `verdict` when judged."""
        data: dict[str, Any] = {
            "status": self.status,
            "kind": self.kind,
            "ndc": self.ndc,
            "ndc11": self.ndc11,
            "gtin": self.gtin,
            "lot": self.lot,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "serial": self.serial,
            "product": self.product,
            "package": self.package,
            "dea_schedule": self.dea_schedule,
            "candidates": list(self.candidates),
            "message": self.message,
        }
        if self.kind == "rx-label":
            data["rx"] = self.rx
            data["fill"] = self.fill
        if self.judgement is not None:
            data["verdict"] = self.judgement.verdict.value
            data["verdict_message"] = self.judgement.message
        return data


@dataclass(frozen=True)
class CataloguePackage:
    """One catalogue package as the scanning path reads it."""

    package_id: int
    ndc11: str
    display: str
    facts: ProductFacts
    # How many billing units one whole package holds; None when the directory does not say.
    billing_quantity: Decimal | None = None


@dataclass(frozen=True)
class ResolvedScan:
    """A scan interpreted and looked up: what `identify` and fill verification both start from.

    `scan` is the usable part of the scan (the product of a GS1 scan whose lot and serial were
    lost with a separator, so it can still be shown), `found` the catalogue packages its code
    names, `lot_status`/`lot_expiry` those of the stock lot the scan names when exactly one
    package was found, and `looked_up` every package read (the scan's and `also_lookup`'s).
    """

    scan_or_error: Scan | ScanError
    scan: Scan | None
    found: tuple[CataloguePackage, ...]
    lot_status: str | None
    lot_expiry: date | None
    looked_up: dict[str, CataloguePackage]


def resolve_scan(
    session: Session,
    text: str,
    *,
    gs_substitute: str | None = None,
    also_lookup: Sequence[str] = (),
) -> ResolvedScan:
    """Interpret `text` and find its package(s) and stock lot with indexed reads only."""
    scan_or_error: Scan | ScanError
    try:
        scan_or_error = interpret_scan(text, gs_substitute=gs_substitute)
    except ScanError as error:
        scan_or_error = error
    shown = scan_or_error.partial if isinstance(scan_or_error, LotSerialRunTogether) else None
    scan = scan_or_error if isinstance(scan_or_error, Scan) else shown
    scanned_keys = _lookup_keys(scan.candidates) if scan is not None else ()
    lot_status: str | None = None
    lot_expiry: date | None = None
    packages = _packages(session, (*scanned_keys, *also_lookup))
    found = tuple(packages[key] for key in scanned_keys if key in packages)
    if scan is not None and scan.lot and len(found) == 1:
        lot = session.execute(
            select(StockLot.status, StockLot.expiry).where(
                StockLot.package_id == found[0].package_id,
                StockLot.lot_number == scan.lot,
            )
        ).first()
        if lot is not None:
            lot_status, lot_expiry = lot
    return ResolvedScan(scan_or_error, scan, found, lot_status, lot_expiry, packages)


def packages_by_id(session: Session, package_ids: Collection[int]) -> dict[int, CataloguePackage]:
    """Catalogue packages by id, with the facts a verdict compares (same shape as a scan's)."""
    if not package_ids:
        return {}
    rows = session.execute(
        select(*_PACKAGE_COLUMNS).where(DrugPackage.id.in_(sorted(package_ids)))
    ).all()
    products = {
        row.id: row
        for row in session.execute(
            select(*_PRODUCT_COLUMNS).where(
                DrugProduct.id.in_(sorted({row.product_id for row in rows}))
            )
        )
    }
    return {row.id: _package(row, products[row.product_id]) for row in rows}


class IdentifyService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._database = database
        self._today = today

    def identify(
        self,
        actor: Actor,
        text: str,
        *,
        expect: str | None = None,
        gs_substitute: str | None = None,
        today: date | None = None,
    ) -> Identification:
        """Interpret `text`, find its package; with `expect` (an NDC in any form) judge it."""
        require_role(actor, *Role, action="identify a barcode")
        expected_keys = _expected_keys(expect) if expect is not None else ()
        with self._database.reading() as session:
            resolved = resolve_scan(
                session, text, gs_substitute=gs_substitute, also_lookup=expected_keys
            )
        scan_or_error, scan, found = resolved.scan_or_error, resolved.scan, resolved.found
        packages = resolved.looked_up
        identification = _identification(scan_or_error, scan, found)
        if expect is None:
            return identification
        expected = [packages[key] for key in expected_keys if key in packages]
        if len(expected) != 1:
            raise _expected_unusable(expect, expected)
        judgement = judge_scan(
            expected=expected[0].facts,
            scan=scan_or_error,
            found=[package.facts for package in found],
            today=today or self._today(),
            lot_status=resolved.lot_status,
            expiry=resolved.lot_expiry,
        )
        return _with_judgement(identification, judgement)


def _with_judgement(identification: Identification, judgement: VerdictResult) -> Identification:
    return Identification(**{**vars(identification), "judgement": judgement})


def _lookup_keys(candidates: Iterable[Ndc]) -> tuple[str, ...]:
    """The hyphenated NDCs the catalogue may hold for these readings, in reading order.

    A 6-4-2 NDC-12 (GS1 AI 715) is looked up as the 10-digit NDCs it was converted from too:
    until 2033 the directory lists those.
    """
    keys: dict[str, None] = {}
    for candidate in candidates:
        if candidate.is_ndc12:
            try:
                for reading in candidates_from_ndc11(candidate.ndc11):
                    keys[reading.hyphenated] = None
            except NdcNotExpressible:
                pass
        keys[candidate.hyphenated] = None
    return tuple(keys)


def _expected_keys(expect: str) -> tuple[str, ...]:
    try:
        return _lookup_keys(ndc_candidates(expect))
    except NdcInvalid as error:
        raise ExpectedNdcUnusable(
            f"The expected NDC is unusable: {error.message}", expect=expect
        ) from None


def _expected_unusable(expect: str, expected: Sequence[CataloguePackage]) -> ExpectedNdcUnusable:
    if expected:
        ndcs = ", ".join(package.facts.package_ndc for package in expected)
        return ExpectedNdcUnusable(
            f"The expected NDC “{expect}” can mean {ndcs}: give it with its hyphens.",
            expect=expect,
            candidates=[package.facts.package_ndc for package in expected],
        )
    return ExpectedNdcUnusable(
        f"The expected NDC “{expect}” is not in the drug catalogue.", expect=expect
    )


_PACKAGE_COLUMNS = (
    DrugPackage.id,
    DrugPackage.product_id,
    DrugPackage.ndc,
    DrugPackage.ndc11,
    DrugPackage.description,
    DrugPackage.billing_unit,
    DrugPackage.billing_quantity,
    DrugPackage.sample_package,
    DrugPackage.discontinued,
)
_PRODUCT_COLUMNS = (
    DrugProduct.id,
    DrugProduct.product_ndc,
    DrugProduct.proprietary_name,
    DrugProduct.proprietary_name_suffix,
    DrugProduct.nonproprietary_name,
    DrugProduct.substance_name,
    DrugProduct.strength,
    DrugProduct.strength_unit,
    DrugProduct.dosage_form,
    DrugProduct.labeler,
    DrugProduct.dea_schedule,
    DrugProduct.discontinued,
)


def _packages(session: Session, keys: Sequence[str]) -> dict[str, CataloguePackage]:
    """One package per NDC; when listings share an NDC, the current one (not discontinued).

    Two statements, each answered by an index, rather than a join: right after a bulk import
    PostgreSQL has no statistics yet and joined by hashing the whole product table (60 ms).
    """
    if not keys:
        return {}
    package_rows = session.execute(
        select(*_PACKAGE_COLUMNS).where(DrugPackage.ndc.in_(sorted(set(keys))))
    ).all()
    if not package_rows:
        return {}
    products = {
        row.id: row
        for row in session.execute(
            select(*_PRODUCT_COLUMNS).where(
                DrugProduct.id.in_(sorted({row.product_id for row in package_rows}))
            )
        )
    }
    packages: dict[str, CataloguePackage] = {}
    for row in sorted(
        package_rows,
        key=lambda row: (row.discontinued, products[row.product_id].discontinued, -row.id),
    ):
        packages.setdefault(row.ndc, _package(row, products[row.product_id]))
    return packages


def _package(package: Any, product: Any) -> CataloguePackage:
    name = (
        f"{product.proprietary_name} {product.proprietary_name_suffix}".strip()
        if product.proprietary_name
        else product.nonproprietary_name
    )
    strength = strength_text(product.strength, product.strength_unit)
    return CataloguePackage(
        package_id=package.id,
        ndc11=package.ndc11,
        billing_quantity=package.billing_quantity,
        display=" ".join(part for part in (name, strength, product.dosage_form) if part),
        facts=ProductFacts(
            package_ndc=package.ndc,
            product_ndc=product.product_ndc,
            substance_name=product.substance_name,
            strength=product.strength,
            strength_unit=product.strength_unit,
            dosage_form=product.dosage_form,
            labeler=product.labeler,
            billing_unit=package.billing_unit,
            sample_package=bool(package.sample_package),
            description=package.description.strip(),
            name=name,
            dea_schedule=product.dea_schedule,
        ),
    )


def _identification(
    scan_or_error: Scan | ScanError, scan: Scan | None, found: Sequence[CataloguePackage]
) -> Identification:
    if scan is None:
        assert isinstance(scan_or_error, ScanError)
        return Identification(status=INVALID, kind=None, message=scan_or_error.message)
    common: dict[str, Any] = {
        "kind": scan.kind.value,
        "gtin": scan.gtin,
        "lot": scan.lot,
        "expiry": scan.expiry,
        "serial": scan.serial,
    }
    package = _package_fields(found[0]) if len(found) == 1 else {}
    if isinstance(scan_or_error, ScanError):
        # Lot and serial were lost with a separator; the product can still be shown.
        return Identification(status=INVALID, message=scan_or_error.message, **common, **package)
    if scan.rx_number is not None:
        return Identification(status=OK, rx=scan.rx_number, fill=scan.fill_number, **common)
    if len(found) > 1:
        ndcs = tuple(each.facts.package_ndc for each in found)
        return Identification(
            status=AMBIGUOUS,
            candidates=ndcs,
            message=f"This code can mean NDC {', '.join(ndcs)}: type the NDC with its hyphens "
            "as printed on the package.",
            **common,
        )
    if not found:
        readings = ", ".join(candidate.hyphenated for candidate in scan.candidates)
        only = scan.candidates[0] if len(scan.candidates) == 1 else None
        return Identification(
            status=UNKNOWN,
            ndc=only.hyphenated if only else None,
            ndc11=_ndc11_or_none(only) if only else None,
            message=f"NDC {readings} is not in the drug catalogue: check the package, or "
            "import a newer FDA NDC Directory.",
            **common,
        )
    return Identification(status=OK, **common, **package)


def _package_fields(package: CataloguePackage) -> dict[str, Any]:
    return {
        "ndc": package.facts.package_ndc,
        "ndc11": package.ndc11,
        "product": package.display,
        "package": package.facts.description,
        "dea_schedule": package.facts.dea_schedule,
    }


def _ndc11_or_none(ndc: Ndc) -> str | None:
    try:
        return ndc.ndc11
    except NdcNotExpressible:
        return None
