"""The drug catalogue: importing the FDA NDC Directory, and searching it as you type.

Audit rule for the import: one import is one unit of work and one audit event. Writing an audit
row for each of 370,000 products and packages is impossible within the time a pharmacy can
wait, so the products and packages are written with Core bulk statements (which the unit of
work's ORM-flush tracking does not see) and the import writes ONE event on its
catalogue_snapshots/<id> record, carrying the counts added, updated and discontinued. Nothing
is ever deleted: a product the FDA drops, or whose end-marketing date has passed by the import
day, is marked discontinued and stays identifiable, searchable and ranked after active ones.

Search: every package carries `search_text` (names, ingredients, strength, form, labeler folded
to lower-case ASCII words) and `search_ndc` (every 4+ digit suffix of its 10- and 11-digit NDC).
A query word matches a package when a word there starts with it, so an NDC fragment matches
anywhere in the NDC. SQLite answers from the FTS5 table `catalogue_search`, PostgreSQL from
trigram indexes; both give the same hits in the same order: exact NDC first, then active before
discontinued or excluded, then names starting with the query before other matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    column,
    false,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.catalogue.fda_directory import NdcDirectory, ProductRecord, read_directory
from app.db.models import CatalogueSnapshot, DrugPackage, DrugProduct
from app.domain.ndc import Ndc, NdcInvalid, ndc_candidates
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database, require_role

IMPORTED = "catalogue.imported"
_BATCH = 20_000
_IMPORT_CACHE_KIB = 256 * 1024
_NDC_QUERY = re.compile(r"[\d-]+")


@dataclass(frozen=True)
class ImportReport:
    """What one import did, as the summary and the audit event say it."""

    snapshot_id: int
    snapshot_date: date
    source_name: str
    products: int
    packages: int
    products_added: int
    products_updated: int
    products_discontinued: int
    packages_added: int
    packages_updated: int
    packages_discontinued: int
    products_without_packages: int
    package_rows_merged: int
    packages_billing_unknown: int
    values_shortened: int

    def counts(self) -> dict[str, int]:
        return {
            name: value
            for name, value in vars(self).items()
            if isinstance(value, int) and name != "snapshot_id"
        }


@dataclass(frozen=True)
class SnapshotInfo:
    """The directory the catalogue holds: its age is a risk the pharmacist must see."""

    snapshot_date: date
    imported_at: datetime
    source_name: str
    product_count: int
    package_count: int


@dataclass(frozen=True)
class CatalogueHit:
    package_id: int
    product_id: int
    ndc: str
    ndc11: str
    display_name: str
    generic_name: str
    strength: str
    dosage_form: str
    labeler: str
    package_description: str
    billing_unit: str
    billing_quantity: Decimal | None
    dea_schedule: str | None
    discontinued: bool
    excluded: bool
    sample: bool


def search_words(value: str) -> str:
    """Lower-case ASCII words separated by single spaces: the form both indexes hold."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded.lower()).split())


def ndc_search_tokens(ndc: str, ndc11: str) -> str:
    """Every suffix of 4+ digits of the 10- and 11-digit forms, so a fragment is a word prefix."""
    digits = ndc.replace("-", "")
    tokens = dict.fromkeys(
        form[start:] for form in (digits, ndc11) for start in range(len(form) - 3)
    )
    return " ".join(tokens)


def _product_row(record: ProductRecord, snapshot_id: int, today: date) -> dict[str, Any]:
    ended = record.end_marketing_date is not None and record.end_marketing_date <= today
    name = record.proprietary_name or record.nonproprietary_name
    return {
        "fda_product_id": record.fda_product_id,
        "product_ndc": record.product_ndc,
        "product_type": record.product_type,
        "proprietary_name": record.proprietary_name,
        "proprietary_name_suffix": record.proprietary_name_suffix,
        "nonproprietary_name": record.nonproprietary_name,
        "dosage_form": record.dosage_form,
        "route": record.route,
        "start_marketing_date": record.start_marketing_date,
        "end_marketing_date": record.end_marketing_date,
        "marketing_category": record.marketing_category,
        "application_number": record.application_number,
        "labeler": record.labeler,
        "substance_name": record.substance_name,
        "strength": record.strength,
        "strength_unit": record.strength_unit,
        "pharm_classes": record.pharm_classes,
        "dea_schedule": record.dea_schedule,
        "ndc_exclude_flag": record.ndc_exclude_flag,
        "listing_certified_through": record.listing_certified_through,
        "discontinued": ended,
        "last_seen_snapshot_id": snapshot_id,
        "search_name": search_words(f"{name} {record.proprietary_name_suffix}")[:255],
    }


def _column_widths(table: Any) -> dict[str, int]:
    return {
        column.name: column.type.length
        for column in table.c
        if isinstance(column.type, String) and column.type.length
    }


def _fit_to_columns(row: dict[str, Any], widths: dict[str, int]) -> int:
    """Shorten text longer than its column ("…" at the end); return how many were shortened.

    The FDA fills fixed fields with whatever the labeler wrote: one vaccine's proprietary name
    is its 367-character ingredient list. PostgreSQL would refuse it and fail the whole import;
    the full text stays searchable and in the non-proprietary name.
    """
    shortened = 0
    for name, width in widths.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > width:
            row[name] = value[: width - 1] + "…"
            shortened += 1
    return shortened


def _product_words(record: ProductRecord) -> str:
    return search_words(
        " ".join(
            (
                record.proprietary_name,
                record.proprietary_name_suffix,
                record.nonproprietary_name,
                record.substance_name,
                record.strength,
                record.strength_unit,
                record.dosage_form,
                record.labeler,
            )
        )
    )


def _driver_value(value: Any) -> Any:
    # pysqlite stores what SQLAlchemy's Date and Numeric would: ISO text and a float.
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _upsert(
    connection: Connection,
    table: Any,
    keys: list[str],
    rows: list[dict[str, Any]],
    *,
    keep_edited: bool = False,
) -> None:
    """INSERT … ON CONFLICT DO UPDATE of every row, on either backend.

    The statement is compiled once and run by the driver's executemany: SQLAlchemy's per-row
    parameter processing would cost more than the database's own work.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updated = {column: statement.excluded[column] for column in rows[0] if column not in keys}
    if keep_edited:
        # A billing quantity a pharmacist corrected outlives every re-import.
        edited = table.c.billing_quantity_source == literal_column("'edited'")
        for column in ("billing_unit", "billing_quantity", "billing_quantity_source"):
            updated[column] = case((edited, table.c[column]), else_=statement.excluded[column])
    statement = statement.on_conflict_do_update(index_elements=keys, set_=updated)
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(rows[0]))
    # Columns the rows leave out (physical_description…) get their model default on insert.
    defaults = {
        column.name: column.default.arg
        for column in table.c
        if column.name not in rows[0] and column.default is not None and column.default.is_scalar
    }
    parameters: list[Any]
    if compiled.positional:
        order = compiled.positiontup or []
        parameters = [
            tuple(_driver_value(row[name] if name in row else defaults[name]) for name in order)
            for row in rows
        ]
    else:
        parameters = [defaults | row for row in rows]
    for start in range(0, len(parameters), _BATCH):
        connection.exec_driver_sql(compiled.string, parameters[start : start + _BATCH])


class CatalogueService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._database = database
        self._today = today

    # --- import -------------------------------------------------------------------------------

    def import_directory(
        self,
        actor: Actor,
        path: Path,
        *,
        snapshot_date: date | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Import or refresh the catalogue from an FDA download, all or nothing."""
        report_progress = progress or (lambda done, total: None)
        with self._database.unit_of_work(actor) as uow:
            require_role(
                actor, Role.ADMINISTRATOR, Role.PHARMACIST, action="import the drug catalogue"
            )
            directory = read_directory(Path(path), snapshot_date=snapshot_date)
            total = len(directory.products) + len(directory.packages) + 1
            report_progress(0, total)
            snapshot = CatalogueSnapshot(
                source_name=directory.source_name[:255],
                snapshot_date=directory.snapshot_date,
                product_count=len(directory.products),
                package_count=len(directory.packages),
            )
            uow.session.add(snapshot)
            uow.session.flush()
            connection = uow.session.connection()
            if connection.dialect.name == "sqlite":
                # Index pages for 370,000 rows in NDC order thrash SQLite's 2 MB default cache.
                connection.exec_driver_sql(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
            try:
                report = self._write(connection, directory, snapshot.id, report_progress, total)
            finally:
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA cache_size = -2000")
            if connection.dialect.name == "postgresql":
                # Without statistics after a bulk load the planner scans whole tables for joins.
                connection.exec_driver_sql("ANALYZE drug_products, drug_packages")
            uow.audit(IMPORTED, snapshot, counts=report.counts())
        report_progress(total, total)
        return report

    def _write(
        self,
        connection: Connection,
        directory: NdcDirectory,
        snapshot_id: int,
        progress: Callable[[int, int], None],
        total: int,
    ) -> ImportReport:
        products = cast(Table, DrugProduct.__table__)
        packages = cast(Table, DrugPackage.__table__)
        today = self._today()
        was_discontinued: dict[str, bool] = dict(
            connection.execute(select(products.c.fda_product_id, products.c.discontinued)).all()
        )
        product_rows = [_product_row(record, snapshot_id, today) for record in directory.products]
        widths = _column_widths(products)
        shortened = sum(_fit_to_columns(row, widths) for row in product_rows)
        _upsert(connection, products, ["fda_product_id"], product_rows)
        progress(len(product_rows), total)

        product_ids: dict[str, int] = dict(
            connection.execute(select(products.c.fda_product_id, products.c.id)).all()
        )
        words = {record.fda_product_id: _product_words(record) for record in directory.products}
        package_was_discontinued = {
            (product_id, ndc): discontinued
            for product_id, ndc, discontinued in connection.execute(
                select(packages.c.product_id, packages.c.ndc, packages.c.discontinued)
            )
        }
        package_rows = []
        for record in directory.packages:
            quantities = record.quantities
            ended = record.end_marketing_date is not None and record.end_marketing_date <= today
            package_rows.append(
                {
                    "product_id": product_ids[record.fda_product_id],
                    "ndc": record.ndc,
                    "ndc11": record.ndc11,
                    "description": record.description,
                    "package_quantity": quantities.package_quantity,
                    "package_unit": quantities.package_unit,
                    "billing_unit": quantities.billing_unit,
                    "billing_quantity": quantities.billing_quantity,
                    "billing_quantity_source": quantities.billing_quantity_source,
                    "sample_package": record.sample_package,
                    "start_marketing_date": record.start_marketing_date,
                    "end_marketing_date": record.end_marketing_date,
                    "ndc_exclude_flag": record.ndc_exclude_flag,
                    "discontinued": ended,
                    "last_seen_snapshot_id": snapshot_id,
                    "search_text": words[record.fda_product_id],
                    "search_ndc": ndc_search_tokens(record.ndc, record.ndc11),
                }
            )
        package_widths = _column_widths(packages)
        shortened += sum(_fit_to_columns(row, package_widths) for row in package_rows)
        _upsert(connection, packages, ["product_id", "ndc"], package_rows, keep_edited=True)
        progress(len(product_rows) + len(package_rows), total)

        products_ended = sum(
            1
            for row in product_rows
            if row["discontinued"] and not was_discontinued.get(row["fda_product_id"], False)
        )
        packages_ended = sum(
            1
            for row in package_rows
            if row["discontinued"]
            and not package_was_discontinued.get((row["product_id"], row["ndc"]), False)
        )
        dropped_products = connection.execute(
            update(products)
            .where(products.c.discontinued == false())
            .where(
                or_(
                    products.c.last_seen_snapshot_id.is_(None),
                    products.c.last_seen_snapshot_id != snapshot_id,
                )
            )
            .values(discontinued=true())
        ).rowcount
        dropped_packages = connection.execute(
            update(packages)
            .where(packages.c.discontinued == false())
            .where(
                or_(
                    packages.c.last_seen_snapshot_id.is_(None),
                    packages.c.last_seen_snapshot_id != snapshot_id,
                )
            )
            .values(discontinued=true())
        ).rowcount
        if connection.dialect.name == "sqlite":
            connection.execute(
                text("INSERT INTO catalogue_search(catalogue_search) VALUES('rebuild')")
            )
        packages_added = sum(
            1
            for row in package_rows
            if (row["product_id"], row["ndc"]) not in package_was_discontinued
        )
        products_added = sum(
            1 for row in product_rows if row["fda_product_id"] not in was_discontinued
        )
        return ImportReport(
            snapshot_id=snapshot_id,
            snapshot_date=directory.snapshot_date,
            source_name=directory.source_name,
            products=len(product_rows),
            packages=len(package_rows),
            products_added=products_added,
            products_updated=len(product_rows) - products_added,
            products_discontinued=products_ended + dropped_products,
            packages_added=packages_added,
            packages_updated=len(package_rows) - packages_added,
            packages_discontinued=packages_ended + dropped_packages,
            products_without_packages=directory.products_without_packages,
            package_rows_merged=directory.merged_package_rows,
            packages_billing_unknown=sum(
                1 for row in package_rows if row["billing_quantity"] is None
            ),
            values_shortened=shortened,
        )

    # --- what the catalogue holds -------------------------------------------------------------

    def snapshot(self) -> SnapshotInfo | None:
        """The directory imported last, or None when the catalogue was never imported."""
        with self._database.reading() as session:
            latest = session.scalars(
                select(CatalogueSnapshot).order_by(CatalogueSnapshot.id.desc()).limit(1)
            ).first()
        if latest is None:
            return None
        return SnapshotInfo(
            snapshot_date=latest.snapshot_date,
            imported_at=latest.imported_at,
            source_name=latest.source_name,
            product_count=latest.product_count,
            package_count=latest.package_count,
        )

    # --- search -------------------------------------------------------------------------------

    def search(self, actor: Actor, query: str, *, limit: int = 50) -> list[CatalogueHit]:
        """Packages matching every word typed, best first (ranking in the module docstring)."""
        require_role(
            actor,
            Role.TECHNICIAN,
            Role.PHARMACIST,
            Role.ADMINISTRATOR,
            action="search the drug catalogue",
        )
        stripped = query.strip()
        if _NDC_QUERY.fullmatch(stripped) and sum(char.isdigit() for char in stripped) >= 4:
            terms = [("ndc", stripped.replace("-", ""))]
        else:
            terms = [
                ("either" if word.isdigit() and len(word) >= 4 else "text", word)
                for word in search_words(stripped).split()
            ]
        if not terms or sum(len(word) for _, word in terms) < 2:
            return []
        exact = _exact_ndc11s(stripped)
        first_text = next((word for kind, word in terms if kind != "ndc"), None)
        with self._database.reading() as session:
            connection = session.connection()
            matching = self._hits().where(self._matching(connection, terms))
            order = self._ranking(connection, exact, first_text)
            if first_text and not exact:
                # Active names starting with the first word rank first: when they fill the page,
                # the other matches (tens of thousands for two letters) need not be ranked. A
                # name starting with the only word typed needs no index lookup to match it.
                candidates = matching if len(terms) > 1 else self._hits()
                rows = connection.execute(
                    candidates.where(
                        ~self._inactive(),
                        DrugProduct.search_name >= first_text,
                        DrugProduct.search_name < first_text[:-1] + chr(ord(first_text[-1]) + 1),
                        DrugProduct.search_name.like(f"{first_text}%"),
                    )
                    .order_by(*order)
                    .limit(limit)
                ).all()
                if len(rows) == limit:
                    return [_hit(row) for row in rows]
            rows = connection.execute(matching.order_by(*order).limit(limit)).all()
        return [_hit(row) for row in rows]

    def find_packages_by_ndc11(self, ndc11: str) -> list[CatalogueHit]:
        """Every package with this 11-digit NDC (more than one when listings share it)."""
        with self._database.reading() as session:
            rows = session.execute(
                self._hits()
                .where(DrugPackage.ndc11 == ndc11)
                .order_by(*self._ranking(session.connection(), frozenset(), None))
            ).all()
        return [_hit(row) for row in rows]

    def find_packages_by_ndc10_candidates(self, candidates: Iterable[Ndc]) -> list[CatalogueHit]:
        """The packages any of the readings of ten digits names; several is an honest ambiguity."""
        hyphenated = sorted({candidate.hyphenated for candidate in candidates})
        if not hyphenated:
            return []
        with self._database.reading() as session:
            rows = session.execute(
                self._hits()
                .where(DrugPackage.ndc.in_(hyphenated))
                .order_by(*self._ranking(session.connection(), frozenset(), None))
            ).all()
        return [_hit(row) for row in rows]

    def _ended(self) -> ColumnElement[bool]:
        """Discontinued, or past an end-marketing date (NULL-safe, so NOT works in WHERE)."""
        today = self._today()
        return or_(
            DrugProduct.discontinued,
            DrugPackage.discontinued,
            and_(
                DrugProduct.end_marketing_date.is_not(None), DrugProduct.end_marketing_date <= today
            ),
            and_(
                DrugPackage.end_marketing_date.is_not(None), DrugPackage.end_marketing_date <= today
            ),
        )

    def _inactive(self) -> ColumnElement[bool]:
        return or_(
            self._ended(),
            DrugProduct.ndc_exclude_flag != "N",
            DrugPackage.ndc_exclude_flag != "N",
        )

    def _hits(self) -> Select[*tuple[Any, ...]]:
        return select(
            DrugPackage.id,
            DrugProduct.id,
            DrugPackage.ndc,
            DrugPackage.ndc11,
            DrugProduct.proprietary_name,
            DrugProduct.proprietary_name_suffix,
            DrugProduct.nonproprietary_name,
            DrugProduct.strength,
            DrugProduct.strength_unit,
            DrugProduct.dosage_form,
            DrugProduct.labeler,
            DrugPackage.description,
            DrugPackage.billing_unit,
            DrugPackage.billing_quantity,
            DrugProduct.dea_schedule,
            or_(DrugProduct.ndc_exclude_flag != "N", DrugPackage.ndc_exclude_flag != "N"),
            DrugPackage.sample_package,
            self._ended(),
        ).join(DrugProduct, DrugProduct.id == DrugPackage.product_id)

    @staticmethod
    def _matching(connection: Connection, terms: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
        if connection.dialect.name == "sqlite":
            parts = []
            for kind, word in terms:
                text_part = f'search_text : "{word}"*'
                ndc_part = f'search_ndc : "{word}"*'
                parts.append(
                    {"text": text_part, "ndc": ndc_part}.get(kind, f"({text_part} OR {ndc_part})")
                )
            matched = text(
                "SELECT rowid FROM catalogue_search WHERE catalogue_search MATCH :match"
            ).bindparams(match=" AND ".join(parts))
            return DrugPackage.id.in_(matched.columns(column("rowid", Integer)))
        conditions = []
        for kind, word in terms:
            in_text = (literal(" ") + DrugPackage.search_text).like(f"% {word}%")
            in_ndc = (literal(" ") + DrugPackage.search_ndc).like(f"% {word}%")
            conditions.append({"text": in_text, "ndc": in_ndc}.get(kind, or_(in_text, in_ndc)))
        return and_(*conditions)

    def _ranking(
        self, connection: Connection, exact: frozenset[str], first_text: str | None
    ) -> list[Any]:
        order: list[Any] = []
        if exact:
            order.append(case((DrugPackage.ndc11.in_(sorted(exact)), 0), else_=1))
        order.append(case((self._inactive(), 1), else_=0))
        if first_text:
            order.append(case((DrugProduct.search_name.like(f"{first_text}%"), 0), else_=1))
        # Byte order on PostgreSQL, as SQLite sorts, whatever the server's locale.
        postgresql = connection.dialect.name == "postgresql"
        name = DrugProduct.search_name.collate("C") if postgresql else DrugProduct.search_name
        order.extend((name, DrugPackage.ndc, DrugPackage.id))
        return order


def _exact_ndc11s(query: str) -> frozenset[str]:
    """The NDC-11s the whole query can mean when it is a complete NDC in any form."""
    try:
        return frozenset(candidate.ndc11 for candidate in ndc_candidates(query))
    except NdcInvalid:
        return frozenset()


def _hit(row: Any) -> CatalogueHit:
    (
        package_id,
        product_id,
        ndc,
        ndc11,
        proprietary,
        suffix,
        generic,
        strength,
        strength_unit,
        form,
        labeler,
        description,
        billing_unit,
        billing_quantity,
        dea_schedule,
        excluded,
        sample,
        discontinued,
    ) = row
    name = f"{proprietary} {suffix}".strip() if proprietary else generic
    return CatalogueHit(
        package_id=package_id,
        product_id=product_id,
        ndc=ndc,
        ndc11=ndc11,
        display_name=name,
        generic_name=generic,
        strength=f"{strength} {strength_unit}".strip(),
        dosage_form=form,
        labeler=labeler,
        package_description=description,
        billing_unit=billing_unit,
        billing_quantity=billing_quantity,
        dea_schedule=dea_schedule,
        discontinued=bool(discontinued),
        excluded=bool(excluded),
        sample=bool(sample),
    )
