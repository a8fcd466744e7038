"""The drug catalogue: importing the FDA NDC Directory, and searching it as you type.

Audit rule for the import: one import is one unit of work and one audit event. Writing an audit
row for each of 370,000 products and packages is impossible within the time a pharmacy can
wait, so the products and packages are written as row tuples by the driver's executemany
(which the unit of work's ORM-flush tracking does not see) and the import writes ONE event on its
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

import gc
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter, itemgetter
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
    or_,
    select,
    text,
    true,
    update,
)

from app.catalogue.fda_directory import NdcDirectory, read_directory
from app.db.models import CatalogueSnapshot, DrugPackage, DrugProduct
from app.domain.ndc import Ndc, NdcInvalid, ndc_candidates
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database, require_role

IMPORTED = "catalogue.imported"
_IMPORT_CACHE_KIB = 256 * 1024
_FTS5_DEFAULT_AUTOMERGE = 4
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


# Columns the import writes, in the order of its row tuples.
_PRODUCT_COLUMNS = (
    "fda_product_id",
    "product_ndc",
    "product_type",
    "proprietary_name",
    "proprietary_name_suffix",
    "nonproprietary_name",
    "dosage_form",
    "route",
    "start_marketing_date",
    "end_marketing_date",
    "marketing_category",
    "application_number",
    "labeler",
    "substance_name",
    "strength",
    "strength_unit",
    "pharm_classes",
    "dea_schedule",
    "ndc_exclude_flag",
    "listing_certified_through",
    "discontinued",
    "last_seen_snapshot_id",
    "search_name",
)
_PACKAGE_COLUMNS = (
    "product_id",
    "ndc",
    "ndc11",
    "description",
    "package_quantity",
    "package_unit",
    "billing_unit",
    "billing_quantity",
    "billing_quantity_source",
    "sample_package",
    "start_marketing_date",
    "end_marketing_date",
    "ndc_exclude_flag",
    "discontinued",
    "last_seen_snapshot_id",
    "search_text",
    "search_ndc",
    "physical_description",
)
# Written when a package is added, never by a re-import: the pharmacy enters it.
_PACKAGE_ADDED_ONLY = frozenset({"physical_description"})
# A billing quantity a pharmacist corrected outlives every re-import.
_PACKAGE_BILLING = ("billing_unit", "billing_quantity", "billing_quantity_source")


def _search_words_of_lines(values: Sequence[str]) -> list[str]:
    """`search_words` of many values without line breaks, folded in one pass over their text.

    Folding 256,000 names one call at a time is a second of the import. The fold works
    character by character, so folding the joined text and splitting it again gives the same
    words; only the few values that are not ASCII need the (slow) Unicode decomposition.
    """
    if not values:
        return []
    joined = "\n".join(
        value if value.isascii() else unicodedata.normalize("NFKD", value) for value in values
    )
    letters = joined.encode("ascii", "ignore").lower().translate(_WORD_BYTES)
    return [" ".join(line.split()) for line in letters.decode("ascii").split("\n")]


# Lower-case letters, digits and the line break stay; every other byte becomes a space.
_WORD_BYTES = bytes(
    byte if byte in b"abcdefghijklmnopqrstuvwxyz0123456789\n" else ord(" ") for byte in range(256)
)


def _width_limits(table: Table, columns: Sequence[str]) -> list[tuple[int, int]]:
    """(position in the row, length) of each column of `columns` limited in length."""
    limits = []
    for position, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, String) and kind.length:
            limits.append((position, kind.length))
    return limits


def _fit_to_columns(rows: list[tuple[Any, ...]], limits: list[tuple[int, int]]) -> int:
    """Shorten text longer than its column ("…" at the end); return how many were shortened.

    The FDA fills fixed fields with whatever the labeler wrote: one vaccine's proprietary name
    is its 367-character ingredient list. PostgreSQL would refuse it and fail the whole import;
    the full text stays searchable and in the non-proprietary name.
    """
    shortened = 0
    for position, width in limits:
        values = map(itemgetter(position), rows)
        if max(map(len, filter(None, values)), default=0) <= width:
            continue
        for index, row in enumerate(rows):
            value = row[position]
            if value and len(value) > width:
                rows[index] = (*row[:position], value[: width - 1] + "…", *row[position + 1 :])
                shortened += 1
    return shortened


@dataclass(frozen=True)
class _DriverValues:
    """Dates and quantities as the driver takes them: what SQLAlchemy's Date and Numeric bind.

    The rows go to the DBAPI cursor's executemany directly: SQLAlchemy's per-value processing
    would cost more than the database's own work.
    """

    placeholder: str
    day: Callable[[date], Any]
    quantity: Callable[[Decimal], Any]

    @classmethod
    def of(cls, connection: Connection) -> _DriverValues:
        if connection.dialect.name == "sqlite":
            # pysqlite stores what SQLAlchemy would: ISO text and a float.
            return cls("?", date.isoformat, float)
        return cls("%s", _same, _same)


def _same(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Decimal], Any], value: Decimal | None) -> Any:
    return None if value is None else convert(value)


def _insert_sql(
    driver: _DriverValues,
    table: str,
    columns: Sequence[str],
    *,
    upsert_on: Sequence[str] = (),
    added_only: frozenset[str] = frozenset(),
    keep_edited: Sequence[str] = (),
) -> str:
    """INSERT of whole rows; with `upsert_on`, ON CONFLICT DO UPDATE (same SQL on both backends)."""
    marks = ", ".join([driver.placeholder] * len(columns))
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    if not upsert_on:
        return statement
    updates = []
    for name in columns:
        if name in upsert_on or name in added_only:
            continue
        value = f"excluded.{name}"
        if name in keep_edited:
            value = (
                f"CASE WHEN {table}.billing_quantity_source = 'edited' "
                f"THEN {table}.{name} ELSE {value} END"
            )
        updates.append(f"{name} = {value}")
    return f"{statement} ON CONFLICT ({', '.join(upsert_on)}) DO UPDATE SET {', '.join(updates)}"


def _secondary_indexes(connection: Connection, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of each index on `tables` that no constraint owns."""
    names = ", ".join(f"'{table}'" for table in tables)
    if connection.dialect.name == "sqlite":
        # Constraint indexes (sqlite_autoindex_…) have no SQL of their own.
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            f"AND tbl_name IN ({names}) AND sql IS NOT NULL ORDER BY name"
        )
    else:
        query = (
            "SELECT index_class.relname, pg_get_indexdef(index_class.oid) "
            "FROM pg_index JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid "
            "JOIN pg_class table_class ON table_class.oid = pg_index.indrelid "
            f"WHERE table_class.relname IN ({names}) "
            "AND pg_table_is_visible(table_class.oid) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint "
            "WHERE pg_constraint.conindid = pg_index.indexrelid) "
            "ORDER BY index_class.relname"
        )
    return [(name, sql) for name, sql in connection.exec_driver_sql(query)]


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Building 370,000 rows sets off the cycle collector hundreds of times, for nothing: the
    rows hold no cycles. Pausing it for the import saves a third of the Python time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _sqlite_import_settings(connection: Connection) -> Iterator[None]:
    """Settings for one large write on SQLite, put back afterwards (never synchronous=OFF).

    No temp_store: SQLite refuses to change it inside a transaction, and the index builds sort
    within the raised cache without spilling to temporary files.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    cache_size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    automerge = connection.exec_driver_sql(
        "SELECT v FROM catalogue_search_config WHERE k = 'automerge'"
    ).scalar()
    # Index pages for 370,000 rows in NDC order thrash SQLite's 2 MB default cache.
    connection.exec_driver_sql(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
    # FTS5 merges its index segments as it goes; building the whole index in one statement
    # with merging left to its "crisis" threshold costs a third less and searches as fast.
    # The setting is stored in the index, so it is put back in the same transaction.
    connection.exec_driver_sql(
        "INSERT INTO catalogue_search(catalogue_search, rank) VALUES ('automerge', 0)"
    )
    try:
        yield
        connection.exec_driver_sql(
            "INSERT INTO catalogue_search(catalogue_search, rank) VALUES ('automerge', ?)",
            (_FTS5_DEFAULT_AUTOMERGE if automerge is None else automerge,),
        )
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {cache_size}")


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
        with self._database.unit_of_work(actor) as uow, _garbage_collection_paused():
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
            with _sqlite_import_settings(connection):
                report = self._write(connection, directory, snapshot.id, report_progress, total)
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
        """Write the directory's rows: plainly into an empty catalogue, else as upserts.

        Into an empty catalogue (the first import, the one that takes long) the rows are
        inserted with the secondary indexes dropped, and the indexes are built again after the
        load, in the same transaction: sorting once is several times cheaper than updating four
        B-trees row by row. A re-import keeps its indexes and upserts, so the other
        workstations go on searching while it runs.
        """
        products = cast(Table, DrugProduct.__table__)
        packages = cast(Table, DrugPackage.__table__)
        driver = _DriverValues.of(connection)
        today = self._today()
        was_discontinued: dict[str, bool] = dict(
            connection.execute(select(products.c.fda_product_id, products.c.discontinued)).all()
        )
        first_import = not was_discontinued
        indexes = (
            _secondary_indexes(connection, [products.name, packages.name]) if first_import else []
        )
        for name, _ in indexes:
            connection.exec_driver_sql(
                f"DROP INDEX {connection.dialect.identifier_preparer.quote(name)}"
            )

        records = directory.products
        days = {None: None} | {
            day: driver.day(day)
            for day in {
                *map(attrgetter("start_marketing_date"), records),
                *map(attrgetter("end_marketing_date"), records),
                *map(attrgetter("listing_certified_through"), records),
                *map(attrgetter("start_marketing_date"), directory.packages),
                *map(attrgetter("end_marketing_date"), directory.packages),
            }
            if day is not None
        }
        ended = {day: day is not None and day <= today for day in days}
        folded = _search_words_of_lines(
            [
                f"{record.proprietary_name or record.nonproprietary_name} "
                f"{record.proprietary_name_suffix}"
                for record in records
            ]
            + [
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
                for record in records
            ]
        )
        names, words = folded[: len(records)], folded[len(records) :]
        product_rows = [
            (
                record.fda_product_id,
                record.product_ndc,
                record.product_type,
                record.proprietary_name,
                record.proprietary_name_suffix,
                record.nonproprietary_name,
                record.dosage_form,
                record.route,
                days[record.start_marketing_date],
                days[record.end_marketing_date],
                record.marketing_category,
                record.application_number,
                record.labeler,
                record.substance_name,
                record.strength,
                record.strength_unit,
                record.pharm_classes,
                record.dea_schedule,
                record.ndc_exclude_flag,
                days[record.listing_certified_through],
                ended[record.end_marketing_date],
                snapshot_id,
                name[:255],
            )
            for record, name in zip(records, names, strict=True)
        ]
        shortened = _fit_to_columns(product_rows, _width_limits(products, _PRODUCT_COLUMNS))
        connection.exec_driver_sql(
            _insert_sql(
                driver,
                products.name,
                _PRODUCT_COLUMNS,
                upsert_on=() if first_import else ("fda_product_id",),
            ),
            product_rows,
        )
        progress(len(product_rows), total)

        product_ids: dict[str, int] = dict(
            connection.execute(select(products.c.fda_product_id, products.c.id)).all()
        )
        words_of = dict(zip(map(itemgetter(0), product_rows), words, strict=True))
        package_was_discontinued = {
            (product_id, ndc): discontinued
            for product_id, ndc, discontinued in connection.execute(
                select(packages.c.product_id, packages.c.ndc, packages.c.discontinued)
            )
        }
        # Keyed by identity: packages with one description share one parsed value, and hashing
        # 244,000 dataclasses of Decimals costs more than the lookup saves.
        parsed_quantities = {
            id(parsed): parsed for parsed in map(attrgetter("quantities"), directory.packages)
        }
        quantities = {
            key: (
                _optional(driver.quantity, parsed.package_quantity),
                parsed.package_unit,
                parsed.billing_unit,
                _optional(driver.quantity, parsed.billing_quantity),
                parsed.billing_quantity_source,
            )
            for key, parsed in parsed_quantities.items()
        }
        package_rows = [
            (
                product_ids[record.fda_product_id],
                record.ndc,
                record.ndc11,
                record.description,
                *quantities[id(record.quantities)],
                record.sample_package,
                days[record.start_marketing_date],
                days[record.end_marketing_date],
                record.ndc_exclude_flag,
                ended[record.end_marketing_date],
                snapshot_id,
                words_of[record.fda_product_id],
                ndc_search_tokens(record.ndc, record.ndc11),
                "",
            )
            for record in directory.packages
        ]
        shortened += _fit_to_columns(package_rows, _width_limits(packages, _PACKAGE_COLUMNS))
        connection.exec_driver_sql(
            _insert_sql(
                driver,
                packages.name,
                _PACKAGE_COLUMNS,
                upsert_on=() if first_import else ("product_id", "ndc"),
                added_only=_PACKAGE_ADDED_ONLY,
                keep_edited=_PACKAGE_BILLING,
            ),
            package_rows,
        )
        progress(len(product_rows) + len(package_rows), total)

        for _, create in indexes:
            connection.exec_driver_sql(create)
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "INSERT INTO catalogue_search(catalogue_search) VALUES ('rebuild')"
            )

        product_ended = itemgetter(_PRODUCT_COLUMNS.index("discontinued"))
        package_ended = itemgetter(_PACKAGE_COLUMNS.index("discontinued"))
        products_ended = sum(
            1
            for row in product_rows
            if product_ended(row) and not was_discontinued.get(row[0], False)
        )
        packages_ended = sum(
            1
            for row in package_rows
            if package_ended(row) and not package_was_discontinued.get((row[0], row[1]), False)
        )
        dropped_products = dropped_packages = 0
        if not first_import:
            dropped_products = self._discontinue_unlisted(connection, products, snapshot_id)
            dropped_packages = self._discontinue_unlisted(connection, packages, snapshot_id)
        packages_added = sum(
            1 for row in package_rows if (row[0], row[1]) not in package_was_discontinued
        )
        products_added = sum(1 for row in product_rows if row[0] not in was_discontinued)
        billing_quantity = itemgetter(_PACKAGE_COLUMNS.index("billing_quantity"))
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
                1 for row in package_rows if billing_quantity(row) is None
            ),
            values_shortened=shortened,
        )

    @staticmethod
    def _discontinue_unlisted(connection: Connection, table: Table, snapshot_id: int) -> int:
        """Mark discontinued what this directory no longer lists; return how many."""
        return connection.execute(
            update(table)
            .where(table.c.discontinued == false())
            .where(
                or_(
                    table.c.last_seen_snapshot_id.is_(None),
                    table.c.last_seen_snapshot_id != snapshot_id,
                )
            )
            .values(discontinued=true())
        ).rowcount

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
