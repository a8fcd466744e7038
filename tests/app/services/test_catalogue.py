"""Catalogue import (all or nothing, idempotent, never deleting) and search as you type."""

from __future__ import annotations

import os
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from app.bootstrap import Services
from app.catalogue.fda_directory import DirectoryUnreadable
from app.db.models import AuditEvent, CatalogueSnapshot, DrugPackage, DrugProduct
from app.domain.barcodes import interpret_scan, upc_a_for
from app.domain.ndc import Ndc, candidates_from_ndc10_digits
from app.errors import PermissionDenied
from app.services.catalogue import IMPORTED, _search_words_of_lines, search_words
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
            automerge = session.execute(
                text("SELECT v FROM catalogue_search_config WHERE k = 'automerge'")
            ).scalar()
            assert automerge == 4  # FTS5's own default, so later writes merge as before
            integrity = (
                "INSERT INTO catalogue_search(catalogue_search, rank) VALUES ('integrity-check', 1)"
            )
            session.execute(text(integrity))  # raises when the index and drug_packages differ


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
