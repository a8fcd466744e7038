"""Catalogue import (all or nothing, idempotent, never deleting) and search as you type."""

from __future__ import annotations

import os
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

import app.services.catalogue as catalogue_module
from app.bootstrap import Services, build_services
from app.catalogue.fda_directory import DirectoryUnreadable, PackageQuantities, read_directory
from app.config import Settings
from app.db import migrate
from app.db.engine import create_database_engine
from app.db.models import AuditEvent, CatalogueSnapshot, DrugPackage, DrugProduct
from app.domain.barcodes import interpret_scan, upc_a_for
from app.domain.ndc import Ndc, candidates_from_ndc10_digits, parse_ndc
from app.domain.roles import Role
from app.errors import PermissionDenied
from app.services.catalogue import (
    IMPORTED,
    _search_words_of_lines,
    index_for_search,
    search_words,
)
from app.services.unit_of_work import Actor
from tests.app.catalogue.fda_files import package, product, write_zip

FULL_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")

PRODUCTS = [
    product("0781-2613", "Amoxicillin", form="CAPSULE", labeler="Sandoz Inc", strength="500"),
    product("0093-2270", "Amoxicillin and Clavulanate Potassium", strength="875; 125"),
    product("52427-438", "Zestril", generic="Lisinopril", labeler="Almatica", strength="10"),
    product("0143-9714", "Lisinopril", labeler="West-Ward", strength="10"),
    product("0143-9715", "Lisinopril", labeler="West-Ward", strength="20", exclude="E"),
    product("0591-0405", "Lisinopril", labeler="Actavis", strength="10", end="20010101"),
    product("0406-0552", "Oxycodone Hydrochloride", strength="5", dea="CII"),
    product("29500-907", "Cafe Nasal", labeler="Personal Care"),
    product("29500-9077", "Cafe Nasal Extra", labeler="Personal Care"),
    product("0173-0682", "Ventolin HFA", generic="Albuterol Sulfate", form="AEROSOL, METERED"),
    product("11111-222", "No Packages"),
]
PACKAGES = [
    package("0781-2613-01", "100 CAPSULE in 1 BOTTLE (0781-2613-01) "),
    package("0781-2613-05", "500 CAPSULE in 1 BOTTLE (0781-2613-05) "),
    package("0093-2270-34", "20 TABLET, FILM COATED in 1 BOTTLE (0093-2270-34) "),
    package("52427-438-90", "90 TABLET in 1 BOTTLE (52427-438-90) "),
    package("0143-9714-01", "100 TABLET in 1 BOTTLE (0143-9714-01) "),
    package("0143-9715-01", "100 TABLET in 1 BOTTLE (0143-9715-01) "),
    package("0591-0405-01", "100 TABLET in 1 BOTTLE (0591-0405-01) "),
    package("0406-0552-01", "100 TABLET in 1 BOTTLE (0406-0552-01) "),
    package("29500-907-77", "30 TABLET in 1 BOTTLE (29500-907-77) "),
    package("29500-9077-7", "30 TABLET in 1 BOTTLE (29500-9077-7) "),
    package("0173-0682-20", "1 INHALER in 1 CARTON > 8.5 g in 1 INHALER", sample="Y"),
]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "ndctext.zip", PRODUCTS, PACKAGES)


def _count(services: Services, model: type) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _ndcs(hits: list) -> list[str]:
    return [hit.ndc for hit in hits]


def test_import_loads_everything_and_writes_one_audit_event(
    services: Services, pharmacist: Actor, directory: Path
) -> None:
    report = services.catalogue.import_directory(pharmacist, directory)
    assert (report.products, report.packages) == (11, 11)
    assert (report.products_added, report.packages_added) == (11, 11)
    assert report.products_without_packages == 1
    assert report.products_discontinued == 1  # the Actavis end date of 2001
    assert report.packages_billing_unknown == 0
    assert _count(services, DrugProduct) == 11
    assert _count(services, DrugPackage) == 11
    with services.database.reading() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == IMPORTED)).all()
        inhaler = session.scalars(
            select(DrugPackage).where(DrugPackage.ndc == "0173-0682-20")
        ).one()
    assert len(events) == 1
    assert events[0].entity_type == "catalogue_snapshots"
    assert events[0].entity_id == str(report.snapshot_id)
    assert events[0].summary["counts"]["products_added"] == 11
    assert (inhaler.billing_unit, inhaler.billing_quantity) == ("GM", Decimal("8.5"))
    assert inhaler.billing_quantity_source == "parsed"
    snapshot = services.catalogue.snapshot()
    assert snapshot is not None and snapshot.snapshot_date == date(2019, 4, 29)


def test_reimport_is_idempotent(services: Services, admin: Actor, directory: Path) -> None:
    services.catalogue.import_directory(admin, directory)
    again = services.catalogue.import_directory(admin, directory, snapshot_date=date(2019, 5, 6))
    assert (again.products_added, again.packages_added) == (0, 0)
    assert (again.products_updated, again.packages_updated) == (11, 11)
    assert (again.products_discontinued, again.packages_discontinued) == (0, 0)
    assert _count(services, DrugProduct) == 11
    assert _count(services, DrugPackage) == 11
    assert _count(services, CatalogueSnapshot) == 2
    assert services.catalogue.snapshot().snapshot_date == date(2019, 5, 6)  # type: ignore[union-attr]


def test_a_product_dropped_by_the_fda_is_discontinued_not_deleted(
    services: Services, admin: Actor, directory: Path, tmp_path: Path
) -> None:
    services.catalogue.import_directory(admin, directory)
    newer = write_zip(
        tmp_path / "newer.zip",
        [row for row in PRODUCTS if not row.startswith("0406-0552")],
        [row for row in PACKAGES if not row.startswith("0406-0552")],
    )
    report = services.catalogue.import_directory(admin, newer)
    assert (report.products_discontinued, report.packages_discontinued) == (1, 1)
    assert _count(services, DrugProduct) == 11
    [hit] = services.catalogue.search(admin, "oxycodone")
    assert hit.discontinued and hit.dea_schedule == "CII"
    # It comes back when the FDA lists it again.
    services.catalogue.import_directory(admin, directory)
    [hit] = services.catalogue.search(admin, "oxycodone")
    assert not hit.discontinued


def test_an_edited_billing_quantity_survives_a_reimport(
    services: Services, admin: Actor, directory: Path
) -> None:
    services.catalogue.import_directory(admin, directory)
    with services.database.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE drug_packages SET billing_quantity = 99, billing_quantity_source = 'edited'"
                " WHERE ndc = '0781-2613-01'"
            )
        )
    services.catalogue.import_directory(admin, directory)
    [hit] = services.catalogue.search(admin, "0781-2613-01")
    assert hit.billing_quantity == Decimal(99)


def test_a_name_longer_than_its_column_is_shortened_not_refused(
    services: Services, admin: Actor, tmp_path: Path
) -> None:
    ingredients = "CLOSTRIDIUM TETANI TOXOID ANTIGEN (FORMALDEHYDE INACTIVATED), " * 6
    path = write_zip(
        tmp_path / "long.zip",
        [product("50090-1079", ingredients.strip(" ,"), form="INJECTION, SUSPENSION")],
        [package("50090-1079-0", "1 SYRINGE in 1 CARTON > .5 mL in 1 SYRINGE")],
    )
    report = services.catalogue.import_directory(admin, path)
    assert report.values_shortened == 1
    [hit] = services.catalogue.search(admin, "tetani toxoid")
    assert len(hit.display_name) == 255 and hit.display_name.endswith("…")
    assert hit.generic_name == ingredients.strip(" ,")


def test_a_technician_cannot_import(services: Services, technician: Actor, directory: Path) -> None:
    with pytest.raises(PermissionDenied):
        services.catalogue.import_directory(technician, directory)
    assert _count(services, DrugProduct) == 0
    assert services.catalogue.snapshot() is None


def test_a_broken_file_imports_nothing(
    services: Services, admin: Actor, directory: Path, tmp_path: Path
) -> None:
    services.catalogue.import_directory(admin, directory)
    broken = write_zip(
        tmp_path / "broken.zip",
        [*PRODUCTS, product("0002-0800", "New Product")],
        [*PACKAGES, "0002-0800_id\t0002-0800\t0002-0800-01"],
    )
    with pytest.raises(DirectoryUnreadable) as refused:
        services.catalogue.import_directory(admin, broken)
    assert refused.value.facts == {
        "file": "package.txt",
        "line": 13,
        "reason": "3 fields where the FDA layout has 8",
    }
    assert _count(services, DrugProduct) == 11
    assert _count(services, CatalogueSnapshot) == 1


def test_a_failure_after_reading_rolls_everything_back(
    services: Services, admin: Actor, directory: Path
) -> None:
    def fail(done: int, total: int) -> None:
        if done == total - 1 or done > 11:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        services.catalogue.import_directory(admin, directory, progress=fail)
    assert _count(services, DrugProduct) == 0
    assert _count(services, DrugPackage) == 0
    assert services.catalogue.snapshot() is None


def _catalogue_indexes(services: Services) -> list[tuple[str, str]]:
    with services.database.reading() as session:
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            query = (
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name IN ('drug_products', 'drug_packages') ORDER BY name"
            )
        else:
            query = (
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename IN ('drug_products', 'drug_packages') ORDER BY indexname"
            )
        return [(name, sql) for name, sql in connection.exec_driver_sql(query)]


def test_a_first_import_builds_the_same_indexes_again_and_leaves_settings_as_they_were(
    services: Services, admin: Actor, directory: Path
) -> None:
    before = _catalogue_indexes(services)
    services.catalogue.import_directory(admin, directory)
    assert _catalogue_indexes(services) == before
    if services.database.engine.dialect.name == "sqlite":
        with services.database.reading() as session:
            for index in ("catalogue_search", "catalogue_search_ndc"):
                automerge = session.execute(
                    text(f"SELECT v FROM {index}_config WHERE k = 'automerge'")
                ).scalar()
                assert automerge == 4  # FTS5's own default, so later writes merge as before
                # Raises when the index and the table it mirrors differ.
                session.execute(
                    text(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
                )


def test_a_failed_first_import_keeps_the_indexes(
    services: Services, admin: Actor, directory: Path
) -> None:
    before = _catalogue_indexes(services)

    def fail(done: int, total: int) -> None:
        if done == total - 1:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        services.catalogue.import_directory(admin, directory, progress=fail)
    assert _catalogue_indexes(services) == before


@given(st.lists(st.text(st.characters(exclude_characters="\n"), max_size=40), max_size=20))
def test_folding_many_values_at_once_gives_the_words_of_each(values: list[str]) -> None:
    assert _search_words_of_lines(values) == [search_words(value) for value in values]


SEARCHES = [
    ("0781-2613-01", ["0781-2613-01"]),
    ("0781261301", ["0781-2613-01"]),
    ("00781261301", ["0781-2613-01"]),
    ("00781-2613-01", ["0781-2613-01"]),
    ("2613", ["0781-2613-01", "0781-2613-05"]),
    ("78126", ["0781-2613-01", "0781-2613-05"]),
    ("lisinopril", ["0143-9714-01", "52427-438-90", "0143-9715-01", "0591-0405-01"]),
    ("lisin 10", ["0143-9714-01", "52427-438-90", "0591-0405-01"]),
    ("zestril", ["52427-438-90"]),
    ("amox", ["0781-2613-01", "0781-2613-05", "0093-2270-34"]),
    ("clav", ["0093-2270-34"]),
    ("AMOXICILLIN clavulanate 875", ["0093-2270-34"]),
    ("albuterol", ["0173-0682-20"]),
    ("ventolin hfa", ["0173-0682-20"]),
    ("caf", ["29500-907-77", "29500-9077-7"]),
    ("2950090777", ["29500-907-77", "29500-9077-7"]),
    ("29500-9077-7", ["29500-9077-7", "29500-907-77"]),
    ("sandoz", ["0781-2613-01", "0781-2613-05"]),
    ("west ward", ["0143-9714-01", "0143-9715-01"]),
    ("li", ["0143-9714-01", "52427-438-90", "0143-9715-01", "0591-0405-01"]),
    ("x", []),
    ("nothing like it", []),
]


@pytest.mark.parametrize(("query", "expected"), SEARCHES)
def test_search_finds_and_ranks_the_same_on_every_backend(
    services: Services,
    admin: Actor,
    technician: Actor,
    directory: Path,
    query: str,
    expected: list[str],
) -> None:
    services.catalogue.import_directory(admin, directory)
    assert _ndcs(services.catalogue.search(technician, query)) == expected


def test_search_flags_status(services: Services, admin: Actor, directory: Path) -> None:
    services.catalogue.import_directory(admin, directory)
    hits = {hit.ndc: hit for hit in services.catalogue.search(admin, "lisinopril")}
    assert not hits["0143-9714-01"].discontinued and not hits["0143-9714-01"].excluded
    assert hits["0143-9715-01"].excluded and not hits["0143-9715-01"].discontinued
    assert hits["0591-0405-01"].discontinued
    [inhaler] = services.catalogue.search(admin, "ventolin")
    assert inhaler.sample and inhaler.display_name == "Ventolin HFA"
    assert inhaler.generic_name == "Albuterol Sulfate"


def test_search_limit(services: Services, admin: Actor, directory: Path) -> None:
    services.catalogue.import_directory(admin, directory)
    assert len(services.catalogue.search(admin, "lisinopril", limit=2)) == 2


def test_search_needs_a_role(services: Services, admin: Actor, directory: Path) -> None:
    services.catalogue.import_directory(admin, directory)
    nobody = Actor(None, "ghost", "Ghost", frozenset(), "test-workstation")
    with pytest.raises(PermissionDenied):
        services.catalogue.search(nobody, "amox")


def test_ndc_lookups_for_the_identify_command(
    services: Services, admin: Actor, directory: Path
) -> None:
    services.catalogue.import_directory(admin, directory)
    assert _ndcs(services.catalogue.find_packages_by_ndc11("29500090777")) == ["29500-907-77"]
    both = services.catalogue.find_packages_by_ndc10_candidates(
        candidates_from_ndc10_digits("2950090777")
    )
    assert _ndcs(both) == ["29500-907-77", "29500-9077-7"]
    assert services.catalogue.find_packages_by_ndc10_candidates([]) == []


# Enough names, ties, labelers and inactive rows for every way the search finds its page.
MORE_PRODUCTS = [
    *PRODUCTS,
    product("0781-2020", "Amoxicillin", form="TABLET", labeler="Sandoz Inc", strength="875"),
    product("0093-3109", "Amoxicillin", form="CAPSULE", labeler="Teva", strength="250"),
    product(
        "0093-3107", "Amoxicillin", form="CAPSULE", labeler="Teva", strength="500", exclude="E"
    ),
    product("65862-015", "Amoxicillin", labeler="Aurobindo", strength="500", end="20150101"),
    product("43598-223", "Amox-Clav", generic="Amoxicillin and Clavulanate", strength="500; 125"),
    product("0378-1812", "Lisinopril and Hydrochlorothiazide", labeler="Mylan", strength="20"),
    product("68180-513", "Lisinopril", labeler="Lupin", strength="40"),
    product("0378-1000", "Amlodipine Besylate", labeler="Mylan", strength="1000"),
]
MORE_PACKAGES = [
    *PACKAGES,
    package("0781-2020-01", "100 TABLET in 1 BOTTLE"),
    package("0781-2020-05", "500 TABLET in 1 BOTTLE", end="20100601"),
    package("0093-3109-01", "100 CAPSULE in 1 BOTTLE"),
    package("0093-3109-05", "500 CAPSULE in 1 BOTTLE"),
    package("0093-3107-01", "100 CAPSULE in 1 BOTTLE"),
    package("65862-015-01", "100 TABLET in 1 BOTTLE"),
    package("43598-223-20", "20 TABLET in 1 BOTTLE"),
    package("0378-1812-01", "100 TABLET in 1 BOTTLE"),
    package("68180-513-01", "100 TABLET in 1 BOTTLE"),
    package("68180-513-02", "1000 TABLET in 1 BOTTLE"),
    package("0378-1000-77", "90 TABLET in 1 BOTTLE"),
]
PAGED_QUERIES = [
    "amox",
    "amoxicillin",
    "amox 500",
    "amox teva",
    "a",
    "am",
    "lisinopril",
    "li",
    "lisin 20",
    "l h",
    "sandoz",
    "tablet",
    "0781",
    "0093-31",
    "1000",
    "amlo 1000",
    "0378 1000",
    "2613",
    "0093-3109-05",
    "00093310905",
]


@pytest.mark.parametrize("query", PAGED_QUERIES)
def test_every_page_size_gives_the_start_of_the_whole_ranking(
    services: Services, admin: Actor, tmp_path: Path, query: str
) -> None:
    """A short page is found by shortcuts (names in order, active products first) that must
    give exactly the first rows of the ranking of every match."""
    directory = write_zip(tmp_path / "more.zip", MORE_PRODUCTS, MORE_PACKAGES)
    services.catalogue.import_directory(admin, directory)
    ranked = _ndcs(services.catalogue.search(admin, query, limit=1000))
    assert len(ranked) < 1000
    for limit in range(1, len(ranked) + 2):
        assert _ndcs(services.catalogue.search(admin, query, limit=limit)) == ranked[:limit]


def _add_pharmacy_product(services: Services, admin: Actor, ndc: str, name: str) -> int:
    """A product entered from a scanned bottle, as the verification service enters it."""
    read = parse_ndc(ndc)
    with services.database.unit_of_work(admin) as uow:
        added = DrugProduct(
            fda_product_id=f"PHARMACY-{read.ndc11}",
            product_ndc=f"{read.labeler}-{read.product}",
            proprietary_name=name,
            nonproprietary_name=name,
            dosage_form="TABLET",
            labeler="Local Compounding",
            substance_name=name.upper(),
            strength="5",
            strength_unit="mg/1",
            source="pharmacy",
        )
        bottle = DrugPackage(
            product=added,
            ndc=read.hyphenated,
            ndc11=read.ndc11,
            description="30 TABLET in 1 BOTTLE",
            billing_unit="EA",
            billing_quantity=Decimal(30),
            billing_quantity_source="edited",
        )
        uow.session.add_all([added, bottle])
        index_for_search(uow.session, added, bottle)
        uow.audit("catalogue.product_added", added)
        uow.audit("catalogue.package_added", bottle)
        return added.id


def _product_state(services: Services, product_id: int) -> tuple[str, str, bool, int | None]:
    with services.database.reading() as session:
        found = session.get(DrugProduct, product_id)
        assert found is not None
        return (
            found.source,
            found.proprietary_name,
            found.discontinued,
            found.last_seen_snapshot_id,
        )


def test_an_import_never_discontinues_or_changes_a_product_the_pharmacy_added(
    services: Services, admin: Actor, directory: Path
) -> None:
    added = _add_pharmacy_product(services, admin, "12345-6789-1", "Compounded Zinc Lozenge")
    services.catalogue.import_directory(admin, directory)  # the first: no FDA product yet
    report = services.catalogue.import_directory(admin, directory, snapshot_date=date(2019, 5, 6))
    assert (report.products_discontinued, report.packages_discontinued) == (0, 0)
    assert _product_state(services, added) == ("pharmacy", "Compounded Zinc Lozenge", False, None)
    with services.database.reading() as session:
        [bottle] = session.scalars(select(DrugPackage).where(DrugPackage.product_id == added))
        assert not bottle.discontinued
    for query in ("zinc loz", "compounded", "6789", "123456789"):
        assert _ndcs(services.catalogue.search(admin, query)) == ["12345-6789-1"]


def test_a_package_ndc_the_pharmacy_added_and_a_later_directory_lists_is_found_twice(
    services: Services, admin: Actor, directory: Path, tmp_path: Path
) -> None:
    services.catalogue.import_directory(admin, directory)
    added = _add_pharmacy_product(services, admin, "0002-0800-01", "Sterile Diluent")
    newer = write_zip(
        tmp_path / "newer.zip",
        [*PRODUCTS, product("0002-0800", "Sterile Diluent", generic="Water", labeler="Eli Lilly")],
        [*PACKAGES, package("0002-0800-01", "1 VIAL in 1 CARTON > 10 mL in 1 VIAL")],
    )
    report = services.catalogue.import_directory(admin, newer)
    assert (report.products_added, report.packages_added) == (1, 1)
    assert _product_state(services, added)[:3] == ("pharmacy", "Sterile Diluent", False)
    both = services.catalogue.find_packages_by_ndc11("00002080001")
    assert sorted(hit.labeler for hit in both) == ["Eli Lilly", "Local Compounding"]
    for query in ("0002-0800-01", "00002080001", "sterile diluent", "020800"):
        hits = services.catalogue.search(admin, query)
        assert {hit.package_id for hit in hits} == {hit.package_id for hit in both}
    # The FDA's package may go again; the pharmacy's stays as it is.
    report = services.catalogue.import_directory(admin, directory)
    assert (report.products_discontinued, report.packages_discontinued) == (1, 1)
    assert _product_state(services, added)[:3] == ("pharmacy", "Sterile Diluent", False)
    found = services.catalogue.search(admin, "0002-0800-01")
    assert [(hit.labeler, hit.discontinued) for hit in found] == [
        ("Local Compounding", False),
        ("Eli Lilly", True),
    ]


@pytest.mark.parametrize("first_import", [True, False])
def test_a_row_that_breaks_a_check_constraint_fails_the_import(
    services: Services,
    admin: Actor,
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    first_import: bool,
) -> None:
    """SQLite checks the constraints once after its bulk insert: still all or nothing."""
    if not first_import:
        services.catalogue.import_directory(admin, directory)
    read = read_directory(directory)
    read.package_columns["quantities"][0] = PackageQuantities(Decimal(1), "BOX", "XX", Decimal(1))
    with monkeypatch.context() as patched:
        patched.setattr(catalogue_module, "read_directory", lambda *args, **kwargs: read)
        with pytest.raises(IntegrityError):
            services.catalogue.import_directory(admin, directory, snapshot_date=date(2019, 5, 6))
    assert _count(services, CatalogueSnapshot) == (0 if first_import else 1)
    services.catalogue.import_directory(admin, directory)
    with services.database.reading() as session:
        units = set(session.scalars(select(DrugPackage.billing_unit)))
    assert units == {"EA", "GM"}
    # The checks hold again for every later write.
    with pytest.raises(IntegrityError), services.database.engine.begin() as connection:
        connection.execute(text("UPDATE drug_packages SET billing_unit = 'XX'"))


def _suffix_tokens(ndc: str, ndc11: str) -> str:
    """Revision 0005's search_ndc: every 4+ digit suffix of both NDC forms."""
    forms = (ndc.replace("-", ""), ndc11)
    return " ".join(dict.fromkeys(form[start:] for form in forms for start in range(len(form) - 3)))


def test_a_catalogue_imported_before_revision_0006_is_found_after_the_upgrade(
    empty_database_url: str, tmp_path: Path
) -> None:
    engine = create_database_engine(empty_database_url)
    with engine.begin() as connection:
        command.upgrade(migrate._alembic_config(connection), "0005")
        # As revision 0005's importer left a catalogue: the product's words on each package.
        for product_id, (ndc, name, words) in enumerate(
            [
                ("0781-2613-01", "amoxicillin", "amoxicillin amoxicillin 500 mg capsule sandoz"),
                ("0143-9714-01", "lisinopril", "lisinopril lisinopril 10 mg tablet west ward"),
            ],
            start=1,
        ):
            ndc11 = parse_ndc(ndc).ndc11
            connection.execute(
                text(
                    "INSERT INTO drug_products (id, fda_product_id, product_ndc, product_type, "
                    "proprietary_name, proprietary_name_suffix, nonproprietary_name, dosage_form,"
                    " route, marketing_category, application_number, labeler, substance_name, "
                    "strength, strength_unit, pharm_classes, ndc_exclude_flag, discontinued, "
                    "search_name) VALUES (:id, :fda, :product_ndc, '', :name, '', :generic, "
                    "'CAPSULE', '', '', '', 'Labs', '', '10', 'mg/1', '', 'N', false, :search)"
                ),
                {
                    "id": product_id,
                    "fda": f"{ndc}_id",
                    "product_ndc": ndc.rsplit("-", 1)[0],
                    "name": name.title(),
                    "generic": name.title(),
                    "search": name,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO drug_packages (id, product_id, ndc, ndc11, description, "
                    "package_unit, billing_unit, sample_package, ndc_exclude_flag, "
                    "search_text, search_ndc) VALUES (:id, :id, :ndc, :ndc11, '', '', 'EA', "
                    "false, 'N', :words, :tokens)"
                ),
                {
                    "id": product_id,
                    "ndc": ndc,
                    "ndc11": ndc11,
                    "words": words,
                    "tokens": _suffix_tokens(ndc, ndc11),
                },
            )
        if engine.dialect.name == "sqlite":
            connection.execute(
                text("INSERT INTO catalogue_search(catalogue_search) VALUES ('rebuild')")
            )
    engine.dispose()
    services = build_services(
        Settings(
            database_url=empty_database_url,
            workstation="test-workstation",
            config_dir=tmp_path / "config",
            data_dir=tmp_path / "data",
        )
    )
    try:
        technician = Actor(None, "tess", "Tess", frozenset({Role.TECHNICIAN}), "test-workstation")
        assert _ndcs(services.catalogue.search(technician, "sandoz")) == ["0781-2613-01"]
        assert _ndcs(services.catalogue.search(technician, "west ward 10")) == ["0143-9714-01"]
        assert _ndcs(services.catalogue.search(technician, "261301")) == ["0781-2613-01"]
        assert _ndcs(services.catalogue.search(technician, "00143")) == ["0143-9714-01"]
    finally:
        services.close()


@pytest.mark.slow
@pytest.mark.skipif(not FULL_DIRECTORY.exists(), reason=f"{FULL_DIRECTORY} is not on this machine")
def test_the_full_2019_directory(services: Services, admin: Actor) -> None:
    report = services.catalogue.import_directory(admin, FULL_DIRECTORY)
    assert report.products == 128_241
    # 243,960 package rows less 9 repeated (product, NDC) rows merged by the documented rule.
    assert report.package_rows_merged == 9
    assert report.packages == 243_960 - 9
    assert report.products_without_packages == 288
    assert report.values_shortened == 1  # the Tdap vaccine named by its 367-character ingredients
    assert _count(services, DrugPackage) == report.packages
    with services.database.reading() as session:
        ndcs = [ndc for (ndc,) in session.execute(select(DrugPackage.ndc))]
    by_ten_digits: dict[str, set[str]] = {}
    for ndc in ndcs:
        by_ten_digits.setdefault(ndc.replace("-", ""), set()).add(ndc)
    known = set(ndcs)
    for ndc in ndcs:
        scan = interpret_scan(upc_a_for(Ndc(*ndc.split("-"))))
        readings = {candidate.hyphenated for candidate in scan.candidates} & known
        assert ndc in readings
        assert readings == by_ten_digits[ndc.replace("-", "")]
    assert by_ten_digits["2950090777"] == {"29500-907-77", "29500-9077-7"}
    for ndc in random.Random(int(os.environ.get("PYTHONHASHSEED", "0") or 0)).sample(ndcs, 200):
        scan = interpret_scan(upc_a_for(Ndc(*ndc.split("-"))))
        found = services.catalogue.find_packages_by_ndc10_candidates(scan.candidates)
        assert ndc in _ndcs(found)
