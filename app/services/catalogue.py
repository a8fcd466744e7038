"""The drug catalogue: importing the FDA NDC Directory, and searching it as you type.

Audit rule for the import: one import is one unit of work and one audit event. Writing an audit
row for each of 370,000 products and packages is impossible within the time a pharmacy can
wait, so the products and packages are written as row tuples by the driver's executemany
(which the unit of work's ORM-flush tracking does not see) and the import writes ONE event on its
catalogue_snapshots/<id> record, carrying the counts added, updated and discontinued. Nothing
is ever deleted: a product the FDA drops, or whose end-marketing date has passed by the import
day, is marked discontinued and stays identifiable, searchable and ranked after active ones.

Products a pharmacist added from a scanned bottle (`source='pharmacy'`) are not the
directory's: they are keyed "PHARMACY-<NDC-11>", which no FDA PRODUCTID ("<product NDC>_<SPL
id>") can equal, so an import never matches, updates or merges into one, and it never marks
one or its packages discontinued for being absent from the directory. When a later directory
lists the same package NDC, both packages stay, each under its own product: searching or
scanning that NDC finds both, and a scan is then an honest ambiguity for the person to
resolve, never a silent choice.

Search: every product carries `search_text` (names, ingredients, strength, form, labeler folded
to lower-case ASCII words) and every package `search_ndc` (its 10- and 11-digit NDC). A query
word matches a package when a word of its product's text starts with it; an NDC fragment of 4+
digits matches anywhere in either NDC form. SQLite answers from two FTS5 tables,
`catalogue_search` (words, with a two-letter prefix index) and `catalogue_search_ndc` (trigrams,
queried with LIKE), PostgreSQL from trigram indexes on the same columns; both give the same hits
in the same order: exact NDC first, then active before discontinued or excluded, then names
starting with the first word typed before other matches, then by name (in byte order), NDC and
package id.
"""

from __future__ import annotations

import gc
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    column,
    false,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.catalogue.fda_directory import NdcDirectory, read_directory
from app.db.models import SEARCH_INDEX_TABLE, CatalogueSnapshot, DrugPackage, DrugProduct
from app.domain.ndc import Ndc, NdcInvalid, ndc_candidates
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database, require_role

IMPORTED = "catalogue.imported"
_IMPORT_CACHE_KIB = 256 * 1024
_FTS5_DEFAULT_AUTOMERGE = 4
FDA_SOURCE = "fda"
# The SQLite FTS5 tables: words of each product, trigrams of each package's NDC digits.
_NDC_INDEX_TABLE = f"{SEARCH_INDEX_TABLE}_ndc"
_FTS_TABLES = (SEARCH_INDEX_TABLE, _NDC_INDEX_TABLE)
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


def ndc_search_digits(ndc: str, ndc11: str) -> str:
    """The 10- and 11-digit forms of a package NDC, the text its NDC fragments are found in."""
    return f"{ndc.replace('-', '')} {ndc11}"


def product_name_line(proprietary: str, nonproprietary: str, suffix: str) -> str:
    """What a product's `search_name` is folded from: the name a hit displays."""
    return f"{proprietary or nonproprietary} {suffix}"


# What a product's `search_text` is folded from.
_WORDS_FROM = (
    "proprietary_name",
    "proprietary_name_suffix",
    "nonproprietary_name",
    "substance_name",
    "strength",
    "strength_unit",
    "dosage_form",
    "labeler",
)


def product_words_line(*values: str) -> str:
    """What a product's `search_text` is folded from: its `_WORDS_FROM` values."""
    return " ".join(values)


def index_for_search(session: Session, product: DrugProduct, package: DrugPackage) -> None:
    """Fill the search columns of a new product with its one new package (a pharmacist's) and
    enter them in the SQLite FTS5 indexes, which mirror the tables without triggers (triggers
    would slow the bulk import); on PostgreSQL the trigram indexes follow the columns."""
    session.flush()  # Their ids for the index; the columns left unset take their defaults.
    product.search_name = search_words(
        product_name_line(
            product.proprietary_name, product.nonproprietary_name, product.proprietary_name_suffix
        )
    )[:255]
    product.search_text = search_words(
        product_words_line(*(getattr(product, name) for name in _WORDS_FROM))
    )
    package.search_ndc = ndc_search_digits(package.ndc, package.ndc11)
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(f"INSERT INTO {SEARCH_INDEX_TABLE}(rowid, search_text) VALUES (:id, :words)"),
            {"id": product.id, "words": product.search_text},
        )
        session.execute(
            text(f"INSERT INTO {_NDC_INDEX_TABLE}(rowid, search_ndc) VALUES (:id, :digits)"),
            {"id": package.id, "digits": package.search_ndc},
        )


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
    "search_text",
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
    "search_ndc",
    "physical_description",
)
# Written when a package is added, never by a re-import: the pharmacy enters it.
_PACKAGE_ADDED_ONLY = frozenset({"physical_description"})
# A billing quantity a pharmacist corrected outlives every re-import.
_PACKAGE_BILLING = ("billing_unit", "billing_quantity", "billing_quantity_source")
# What a package description tells (app.catalogue.fda_directory.PackageQuantities).
_QUANTITY_COLUMNS = (
    "package_quantity",
    "package_unit",
    "billing_unit",
    "billing_quantity",
    "billing_quantity_source",
)


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


def _fitted(values: Sequence[Any], width: int) -> tuple[Sequence[Any], int]:
    """The values with text longer than `width` shortened ("…" at the end), and how many were.

    The FDA fills fixed fields with whatever the labeler wrote: one vaccine's proprietary name
    is its 367-character ingredient list. PostgreSQL would refuse it and fail the whole import;
    the full text stays searchable and in the non-proprietary name.
    """
    if max(map(len, filter(None, values)), default=0) <= width:
        return values, 0
    fitted = [
        value[: width - 1] + "…" if value and len(value) > width else value for value in values
    ]
    return fitted, sum(1 for value in values if value and len(value) > width)


def _rows(
    table: Table, columns: dict[str, Sequence[Any]], names: Sequence[str]
) -> tuple[list[tuple[Any, ...]], int]:
    """Row tuples of `names` from the columns, text fitted to the table's column lengths."""
    shortened = 0
    for name in names:
        kind = table.c[name].type
        if isinstance(kind, String) and kind.length:
            columns[name], count = _fitted(columns[name], kind.length)
            shortened += count
    return list(zip(*(columns[name] for name in names), strict=True)), shortened


@dataclass(frozen=True)
class _DriverValues:
    """Dates and quantities as the driver takes them: what SQLAlchemy's Date and Numeric bind.

    The rows go to the DBAPI cursor's executemany (or PostgreSQL's COPY) directly: SQLAlchemy's
    per-value processing would cost more than the database's own work.
    """

    day: Callable[[date], Any]
    quantity: Callable[[Decimal], Any]
    flag: Callable[[bool], Any]

    @classmethod
    def of(cls, connection: Connection) -> _DriverValues:
        if connection.dialect.name == "sqlite":
            # pysqlite stores what SQLAlchemy would: ISO text, a float, 0 or 1 (it binds an
            # int at once, a bool only after looking for an adapter).
            return cls(date.isoformat, float, int)
        return cls(_same, _same, _same)


def _same(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Decimal], Any], value: Decimal | None) -> Any:
    return None if value is None else convert(value)


def _on_conflict_sql(
    table: str,
    columns: Sequence[str],
    *,
    upsert_on: Sequence[str],
    added_only: frozenset[str] = frozenset(),
    keep_edited: Sequence[str] = (),
) -> str:
    """ON CONFLICT DO UPDATE (the same SQL on both backends)."""
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
    return f"ON CONFLICT ({', '.join(upsert_on)}) DO UPDATE SET {', '.join(updates)}"


def _store(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
) -> None:
    """Insert whole rows, or upsert them with `on_conflict`: by executemany on SQLite; by COPY
    on PostgreSQL (into a temporary table first when upserting), where executemany's statement
    per row costs several times as much."""
    names = ", ".join(columns)
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows
        )
        return
    target = f"incoming_{table}" if on_conflict else table
    if on_conflict:
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None, "a connection in a transaction is checked out"
    statement = f"COPY {target} ({names}) FROM STDIN"
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except driver_error as error:
        # As SQLAlchemy raises the driver's errors elsewhere (so faults are translated alike).
        raise DBAPIError.instance(statement, None, error, driver_error) from error
    if on_conflict:
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} {on_conflict}"
        )


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
    automerge = {
        index: connection.exec_driver_sql(
            f"SELECT v FROM {index}_config WHERE k = 'automerge'"
        ).scalar()
        for index in _FTS_TABLES
    }
    # Index pages for 370,000 rows in NDC order thrash SQLite's 2 MB default cache.
    connection.exec_driver_sql(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
    # FTS5 merges its index segments as it goes; building the whole index in one statement
    # with merging left to its "crisis" threshold costs a third less and searches as fast.
    # The setting is stored in the index, so it is put back in the same transaction.
    for index in _FTS_TABLES:
        connection.exec_driver_sql(f"INSERT INTO {index}({index}, rank) VALUES ('automerge', 0)")
    try:
        yield
        for index, value in automerge.items():
            connection.exec_driver_sql(
                f"INSERT INTO {index}({index}, rank) VALUES ('automerge', ?)",
                (_FTS5_DEFAULT_AUTOMERGE if value is None else value,),
            )
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {cache_size}")


@contextmanager
def _check_constraints_verified_once(
    connection: Connection, tables: Sequence[Table]
) -> Iterator[None]:
    """On SQLite, the tables' CHECK constraints verified by one query after a bulk insert
    instead of row by row; the rows must still pass them all before the import commits.

    SQLite evaluates `x IN ('a', 'b', 'c')` by building a temporary index each time a row is
    inserted, and drug_packages has two such checks: they cost more than storing the row. With
    `ignore_check_constraints` for the insert and one query over the tables after it, in the
    same transaction, a row that breaks a check fails the import as a per-row check would.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    for table in tables:
        checks = [check for check in table.constraints if isinstance(check, CheckConstraint)]
        if not checks:
            continue
        broken = " OR ".join(f"NOT ({check.sqltext})" for check in checks)
        statement = f"SELECT count(*) FROM {table.name} WHERE {broken}"
        count = connection.exec_driver_sql(statement).scalar()
        if count:
            # What a per-row check raises, as PostgreSQL's own checks do.
            failed = sqlite3.IntegrityError(f"CHECK constraint failed: {count} {table.name} rows")
            raise IntegrityError(statement, None, failed)


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
        """Import or refresh the catalogue from an FDA download, all or nothing; the products
        the pharmacy added stay as they are (the rule is in the module docstring)."""
        report_progress = progress or (lambda done, total: None)
        with self._database.unit_of_work(actor) as uow, _garbage_collection_paused():
            require_role(
                actor, Role.ADMINISTRATOR, Role.PHARMACIST, action="import the drug catalogue"
            )
            directory = read_directory(Path(path), snapshot_date=snapshot_date)
            total = directory.product_count + directory.package_count + 1
            report_progress(0, total)
            snapshot = CatalogueSnapshot(
                source_name=directory.source_name[:255],
                snapshot_date=directory.snapshot_date,
                product_count=directory.product_count,
                package_count=directory.package_count,
            )
            uow.session.add(snapshot)
            uow.session.flush()
            connection = uow.session.connection()
            catalogue = [cast(Table, DrugProduct.__table__), cast(Table, DrugPackage.__table__)]
            with (
                _sqlite_import_settings(connection),
                _check_constraints_verified_once(connection, catalogue),
            ):
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
        """Write the directory's rows: plainly into a catalogue without FDA products, else as
        upserts by PRODUCTID (which a pharmacy's own product never has: module docstring).

        Into a catalogue without FDA products (the first import, the one that takes long) the
        rows are inserted with the secondary indexes dropped, and the indexes are built again
        after the load, in the same transaction: sorting once is several times cheaper than
        updating five B-trees row by row. A re-import keeps its indexes and upserts, so the
        other workstations go on searching while it runs. The rows are built a column at a
        time, as the directory holds them (zip and map run in C; 370,000 attribute lookups in
        Python do not).
        """
        products = cast(Table, DrugProduct.__table__)
        packages = cast(Table, DrugPackage.__table__)
        driver = _DriverValues.of(connection)
        today = self._today()
        was_discontinued: dict[str, bool] = dict(
            connection.execute(
                select(products.c.fda_product_id, products.c.discontinued).where(
                    products.c.source == FDA_SOURCE
                )
            ).all()
        )
        first_import = not was_discontinued
        indexes = (
            _secondary_indexes(connection, [products.name, packages.name]) if first_import else []
        )
        for name, _ in indexes:
            connection.exec_driver_sql(
                f"DROP INDEX {connection.dialect.identifier_preparer.quote(name)}"
            )

        # Copies: the columns replaced here (days as the driver takes them…) stay the
        # directory's in it.
        product: dict[str, Sequence[Any]] = dict(directory.product_columns)
        package: dict[str, Sequence[Any]] = dict(directory.package_columns)
        product_count, package_count = directory.product_count, directory.package_count
        dates = ("start_marketing_date", "end_marketing_date")
        days = {None: None} | {
            day: driver.day(day)
            for day in set().union(
                *(product[name] for name in (*dates, "listing_certified_through")),
                *(package[name] for name in dates),
            )
            if day is not None
        }
        ended = {day: driver.flag(day is not None and day <= today) for day in days}
        folded = _search_words_of_lines(
            [
                *map(
                    product_name_line,
                    product["proprietary_name"],
                    product["nonproprietary_name"],
                    product["proprietary_name_suffix"],
                ),
                *map(product_words_line, *(product[name] for name in _WORDS_FROM)),
            ]
        )
        product["discontinued"] = list(map(ended.__getitem__, product["end_marketing_date"]))
        for name in (*dates, "listing_certified_through"):
            product[name] = list(map(days.__getitem__, product[name]))
        product["last_seen_snapshot_id"] = [snapshot_id] * product_count
        product["search_name"] = [name[:255] for name in folded[:product_count]]
        product["search_text"] = folded[product_count:]
        product_rows, shortened = _rows(products, product, _PRODUCT_COLUMNS)
        _store(
            connection,
            products.name,
            _PRODUCT_COLUMNS,
            product_rows,
            ""
            if first_import
            else _on_conflict_sql(products.name, _PRODUCT_COLUMNS, upsert_on=("fda_product_id",)),
        )
        progress(product_count, total)

        product_ids: dict[str, int] = dict(
            connection.execute(select(products.c.fda_product_id, products.c.id)).all()
        )
        package_was_discontinued = {
            (product_id, ndc): discontinued
            for product_id, ndc, discontinued in connection.execute(
                select(packages.c.product_id, packages.c.ndc, packages.c.discontinued)
            )
        }
        # Keyed by identity: packages with one description share one parsed value, and hashing
        # 244,000 dataclasses of Decimals costs more than the lookup saves.
        distinct = {id(parsed): parsed for parsed in package["quantities"]}
        quantities = {
            key: (
                _optional(driver.quantity, parsed.package_quantity),
                parsed.package_unit,
                parsed.billing_unit,
                _optional(driver.quantity, parsed.billing_quantity),
                parsed.billing_quantity_source,
            )
            for key, parsed in distinct.items()
        }
        package.update(
            zip(
                _QUANTITY_COLUMNS,
                zip(*map(quantities.__getitem__, map(id, package["quantities"])), strict=True)
                if package_count
                else [() for _ in _QUANTITY_COLUMNS],
                strict=True,
            )
        )
        package["product_id"] = list(map(product_ids.__getitem__, package["fda_product_id"]))
        package["discontinued"] = list(map(ended.__getitem__, package["end_marketing_date"]))
        for name in dates:
            package[name] = list(map(days.__getitem__, package[name]))
        package["sample_package"] = list(map(driver.flag, package["sample_package"]))
        package["last_seen_snapshot_id"] = [snapshot_id] * package_count
        package["search_ndc"] = list(map(ndc_search_digits, package["ndc"], package["ndc11"]))
        package["physical_description"] = [""] * package_count
        package_rows, shortened_packages = _rows(packages, package, _PACKAGE_COLUMNS)
        shortened += shortened_packages
        _store(
            connection,
            packages.name,
            _PACKAGE_COLUMNS,
            package_rows,
            ""
            if first_import
            else _on_conflict_sql(
                packages.name,
                _PACKAGE_COLUMNS,
                upsert_on=("product_id", "ndc"),
                added_only=_PACKAGE_ADDED_ONLY,
                keep_edited=_PACKAGE_BILLING,
            ),
        )
        progress(product_count + package_count, total)

        for _, create in indexes:
            connection.exec_driver_sql(create)
        if connection.dialect.name == "sqlite":
            for index in _FTS_TABLES:
                connection.exec_driver_sql(f"INSERT INTO {index}({index}) VALUES ('rebuild')")

        products_ended = sum(
            1
            for fda_product_id, now_ended in zip(
                product["fda_product_id"], product["discontinued"], strict=True
            )
            if now_ended and not was_discontinued.get(fda_product_id, False)
        )
        packages_ended = sum(
            1
            for key, now_ended in zip(
                zip(package["product_id"], package["ndc"], strict=True),
                package["discontinued"],
                strict=True,
            )
            if now_ended and not package_was_discontinued.get(key, False)
        )
        dropped_products = dropped_packages = 0
        if not first_import:
            fda_products = select(products.c.id).where(products.c.source == FDA_SOURCE)
            dropped_products = self._discontinue_unlisted(
                connection, products, snapshot_id, products.c.id.in_(fda_products)
            )
            dropped_packages = self._discontinue_unlisted(
                connection, packages, snapshot_id, packages.c.product_id.in_(fda_products)
            )
        packages_added = sum(
            1
            for key in zip(package["product_id"], package["ndc"], strict=True)
            if key not in package_was_discontinued
        )
        products_added = sum(1 for key in product["fda_product_id"] if key not in was_discontinued)
        return ImportReport(
            snapshot_id=snapshot_id,
            snapshot_date=directory.snapshot_date,
            source_name=directory.source_name,
            products=product_count,
            packages=package_count,
            products_added=products_added,
            products_updated=product_count - products_added,
            products_discontinued=products_ended + dropped_products,
            packages_added=packages_added,
            packages_updated=package_count - packages_added,
            packages_discontinued=packages_ended + dropped_packages,
            products_without_packages=directory.products_without_packages,
            package_rows_merged=directory.merged_package_rows,
            packages_billing_unknown=package["billing_quantity"].count(None),
            values_shortened=shortened,
        )

    @staticmethod
    def _discontinue_unlisted(
        connection: Connection, table: Table, snapshot_id: int, from_the_fda: ColumnElement[bool]
    ) -> int:
        """Mark discontinued what this directory no longer lists; return how many."""
        return connection.execute(
            update(table)
            .where(table.c.discontinued == false())
            .where(from_the_fda)
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
            if connection.dialect.name == "postgresql":
                # Parallel workers take longer to start than a search of a few thousand rows
                # takes (with them the 95th percentile of NDC fragments was 40% longer), and
                # the server's cores serve every workstation.
                connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            rows: Sequence[Any] = []
            if not exact:
                rows = self._first_active_in_name_order(connection, terms, limit)
            if len(rows) < limit:
                rows = connection.execute(
                    self._hits()
                    .where(self._matching(connection, terms))
                    .order_by(*self._ranking(connection, exact, first_text))
                    .limit(limit)
                ).all()
        return [_hit(row) for row in rows]

    def _first_active_in_name_order(
        self, connection: Connection, terms: Sequence[tuple[str, str]], limit: int
    ) -> Sequence[Any]:
        """Active packages whose name starts with the first word typed: they rank first, and
        when they fill the page the other matches (tens of thousands for two letters) need not
        be ranked. They come from the name index in name order, every term checked on the
        rows, so the walk stops at a full page."""
        first_text = next((word for kind, word in terms if kind != "ndc"), None)
        if first_text is None:
            return []
        name = self._name(connection)
        starts_with_first: list[ColumnElement[bool]] = [name.like(f"{first_text}%")]
        if connection.dialect.name == "sqlite":
            # SQLite's LIKE ignores case, so it cannot use the name index by itself; PostgreSQL
            # derives this range from LIKE in the "C" collation, and estimating the two
            # together as independent would make it sort every name in the range instead.
            after_first = first_text[:-1] + chr(ord(first_text[-1]) + 1)
            starts_with_first += [name >= first_text, name < after_first]
        named = self._hits().where(~self._inactive(), *starts_with_first)
        # A name starting with the only word typed needs no other check.
        if len(terms) > 1:
            named = named.where(self._matching(connection, terms, walked=True))
        order = self._name_order(connection)
        return connection.execute(named.order_by(*order).limit(limit)).all()

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
        return or_(self._ended_of(DrugProduct), self._ended_of(DrugPackage))

    def _inactive(self) -> ColumnElement[bool]:
        return or_(self._inactive_of(DrugProduct), self._inactive_of(DrugPackage))

    def _ended_of(self, record: type[DrugProduct] | type[DrugPackage]) -> ColumnElement[bool]:
        ends = record.end_marketing_date
        return or_(record.discontinued, and_(ends.is_not(None), ends <= self._today()))

    def _inactive_of(self, record: type[DrugProduct] | type[DrugPackage]) -> ColumnElement[bool]:
        return or_(self._ended_of(record), record.ndc_exclude_flag != "N")

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
    def _matching(
        connection: Connection, terms: Sequence[tuple[str, str]], *, walked: bool = False
    ) -> ColumnElement[bool]:
        """Every term matches: every text word starts a word of the product, every NDC
        fragment is in the package's NDC, every "either" number does one or the other.

        PostgreSQL's planner picks among the trigram indexes by their statistics. SQLite's
        cannot tell how many rows an FTS5 index returns and would start from the first: there
        the term with the longest word (as a rule the fewest matches) is looked up in its index
        and the others are checked on the rows it finds. `walked`: every term is checked on
        the rows, for a walk in the name index's order.
        """
        words = [word for kind, word in terms if kind == "text"]
        others = [(kind, word) for kind, word in terms if kind != "text"]
        sqlite = connection.dialect.name == "sqlite"
        conditions = [_words_in_row(words)] if words else []
        for kind, word in others:
            if kind == "ndc":
                conditions.append(_digits_in_row(word))
            elif sqlite:
                conditions.append(or_(_words_in_row([word]), _digits_in_row(word)))
            else:
                conditions.append(_word_or_digits_indexed(False, word))
        if not sqlite or walked:
            return and_(*conditions)
        lengths = ([max(map(len, words))] if words else []) + [len(word) for _, word in others]
        lead = lengths.index(max(lengths))
        if words and lead == 0:
            # One letter is no prefix the index holds: every word starting with it would be
            # merged. Such words are checked on the rows the longer ones find.
            indexed = [word for word in words if len(word) > 1] or words
            letters = [word for word in words if word not in indexed]
            conditions[0] = _words_indexed(indexed)
            if letters:
                conditions.append(_words_in_row(letters))
        else:
            kind, word = others[lead - (1 if words else 0)]
            conditions[lead] = (
                DrugPackage.id.in_(_digits_indexed(word))
                if kind == "ndc"
                else _word_or_digits_indexed(True, word)
            )
        return and_(*conditions)

    @staticmethod
    def _name(connection: Connection) -> ColumnElement[str]:
        """The search name compared in byte order, as SQLite compares it, whatever the
        PostgreSQL server's locale (its index is in that order too: revision 0006)."""
        if connection.dialect.name == "postgresql":
            return DrugProduct.search_name.collate("C")
        return DrugProduct.search_name.expression

    def _name_order(self, connection: Connection) -> list[Any]:
        return [self._name(connection), DrugPackage.ndc, DrugPackage.id]

    def _ranking(
        self, connection: Connection, exact: frozenset[str], first_text: str | None
    ) -> list[Any]:
        order: list[Any] = []
        if exact:
            order.append(case((DrugPackage.ndc11.in_(sorted(exact)), 0), else_=1))
        order.append(case((self._inactive(), 1), else_=0))
        if first_text:
            order.append(case((DrugProduct.search_name.like(f"{first_text}%"), 0), else_=1))
        order.extend(self._name_order(connection))
        return order


def _words_in_row(words: Sequence[str]) -> ColumnElement[bool]:
    """The product has, for every word, a word starting with it (trigram-indexed on PostgreSQL)."""
    text_words = literal(" ") + DrugProduct.search_text
    return and_(*(text_words.like(f"% {word}%") for word in words))


def _digits_in_row(digits: str) -> ColumnElement[bool]:
    """The package's 10- or 11-digit NDC holds the digits (trigram-indexed on PostgreSQL)."""
    return DrugPackage.search_ndc.like(f"%{digits}%")


def _words_indexed(words: Sequence[str]) -> ColumnElement[bool]:
    """`_words_in_row` answered by the SQLite FTS5 word index."""
    match = " AND ".join(f'"{word}"*' for word in words)
    matched = text(
        f"SELECT rowid FROM {SEARCH_INDEX_TABLE} WHERE {SEARCH_INDEX_TABLE} MATCH :words"
    ).bindparams(bindparam("words", match, unique=True))
    return DrugProduct.id.in_(matched.columns(column("rowid", Integer)))


def _digits_indexed(digits: str) -> Select[int]:
    """The packages of `_digits_in_row`, from the SQLite FTS5 trigram index (3+ digits)."""
    return (
        select(column("rowid", Integer))
        .select_from(text(_NDC_INDEX_TABLE))
        .where(column("search_ndc").like(f"%{digits}%"))
    )


def _word_or_digits_indexed(sqlite: bool, digits: str) -> ColumnElement[bool]:
    """A product word starting with the digits, or an NDC holding them, as one list of package
    ids: an OR of a product and a package condition could use neither table's index."""
    by_word = select(DrugPackage.id).join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
    by_word = by_word.where(_words_indexed([digits]) if sqlite else _words_in_row([digits]))
    by_digits = (
        _digits_indexed(digits) if sqlite else select(DrugPackage.id).where(_digits_in_row(digits))
    )
    return DrugPackage.id.in_(union_all(by_word, by_digits))


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
