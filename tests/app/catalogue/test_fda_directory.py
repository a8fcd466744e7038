"""Reading the FDA NDC Directory: billing quantities, merge rules, and refusing what is not it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.catalogue.fda_directory import (
    DirectoryUnreadable,
    parse_package_description,
    read_directory,
)
from app.domain.ndc import Ndc
from tests.app.catalogue.fda_files import (
    PACKAGE_HEADER,
    PRODUCT_HEADER,
    lines_to_bytes,
    package,
    product,
    write_zip,
)

# Real PACKAGEDESCRIPTIONs from the 2019-04-29 directory, with what a pharmacy bills.
DESCRIPTIONS = [
    ("100 TABLET in 1 BOTTLE (0002-4184-02) ", "EA", "100"),
    ("100 CAPSULE in 1 BOTTLE (0781-2613-01) ", "EA", "100"),
    (
        "2 BLISTER PACK in 1 CARTON (0002-4462-34)  > 15 TABLET, FILM COATED in 1 BLISTER PACK "
        "(0002-4462-79) ",
        "EA",
        "30",
    ),
    ("1 INHALER in 1 CARTON > 8.5 g in 1 INHALER", "GM", "8.5"),
    ("1 CANISTER in 1 CARTON (0037-6822-10)  > 10 g in 1 CANISTER", "GM", "10"),
    ("1 TUBE in 1 CARTON (0009-3331-01)  > 60 g in 1 TUBE", "GM", "60"),
    ("226.8 g in 1 JAR (0067-2067-08) ", "GM", "226.8"),
    ("20 mL in 1 BOTTLE, PLASTIC (0003-0249-15) ", "ML", "20"),
    ("1 BOTTLE, GLASS in 1 CARTON (0004-0039-09)  > 100 mL in 1 BOTTLE, GLASS", "ML", "100"),
    ("1 VIAL in 1 CARTON (0002-0800-01)  > 10 mL in 1 VIAL", "ML", "10"),
    ("1 VIAL, SINGLE-DOSE in 1 CARTON (0003-0293-05)  > 1 mL in 1 VIAL, SINGLE-DOSE", "ML", "1"),
    (
        "10 TRAY in 1 CASE (0121-0431-30)  > 10 CUP, UNIT-DOSE in 1 TRAY > 30 mL in 1 CUP, "
        "UNIT-DOSE",
        "ML",
        "3000",
    ),
    (".025 L in 1 BOTTLE, DROPPER (0078-0517-16) ", "ML", "25"),
    (
        "1 VIAL, SINGLE-USE in 1 CARTON (0003-0371-13)  > 1 INJECTION, POWDER, LYOPHILIZED, FOR "
        "SOLUTION in 1 VIAL, SINGLE-USE",
        "EA",
        "1",
    ),
    (
        "5 POUCH in 1 CARTON (0378-9119-98)  > 1 PATCH in 1 POUCH (0378-9119-16)  > 72 h in 1 "
        "PATCH",
        "EA",
        "5",
    ),
    ("5 BLISTER PACK in 1 CARTON (0009-0827-03)  > 1 SUPPOSITORY in 1 BLISTER PACK", "EA", "5"),
    (
        "1 KIT in 1 KIT (0002-8031-01)  *  1 mL in 1 VIAL (0002-7529-01)  *  1 mL in 1 SYRINGE "
        "(0002-7530-01) ",
        "EA",
        "1",
    ),
    (
        "1 KIT in 1 KIT (0295-4807-28)  *  3 PACKET in 1 KIT > 3000 mg in 1 PACKET *  1 BOTTLE "
        "in 1 KIT > 240 g in 1 BOTTLE",
        "EA",
        "1",
    ),
    # What the description does not tell is unknown, for a pharmacist to enter.
    ("1 INHALER in 1 CARTON (0037-7590-12)  > 120 AEROSOL, METERED in 1 INHALER", "EA", None),
    ("1 SYRUP in 1 BOTTLE (0067-8132-08) ", "EA", None),
    ("12 [hp_X] in 1 TUBE (0220-0043-41) ", "EA", None),
    (
        "1 KIT in 1 CARTON (0002-7335-11)  *  5 mL in 1 VIAL (0002-7349-01)  *  5 mL in 1 VIAL "
        "(0002-7336-01) ",
        "EA",
        "1",
    ),
    ("0 TABLET in 1 BOTTLE (35356-822-00) ", "EA", None),
    ("20 PATCH in 1 BOX (28691-0010-2)  > .054 mg in 1 PATCH", "EA", "20"),
]


@pytest.mark.parametrize(("description", "unit", "quantity"), DESCRIPTIONS)
def test_billing_quantity_from_real_package_descriptions(
    description: str, unit: str, quantity: str | None
) -> None:
    parsed = parse_package_description(description)
    assert parsed.billing_unit == unit
    assert parsed.billing_quantity == (Decimal(quantity) if quantity else None)
    assert parsed.billing_quantity_source == ("parsed" if quantity else "unknown")


def test_package_quantity_is_the_outer_level() -> None:
    parsed = parse_package_description(
        "2 BLISTER PACK in 1 CARTON (0002-4462-34)  > 15 TABLET, FILM COATED in 1 BLISTER PACK"
    )
    assert (parsed.package_quantity, parsed.package_unit) == (Decimal(2), "BLISTER PACK")


def _small_directory(tmp_path: Path) -> Path:
    return write_zip(
        tmp_path / "ndctext.zip",
        [
            product("0781-2613", "Amoxicillin", form="CAPSULE", labeler="Sandoz Inc"),
            product("29500-907", "Café Tablets", labeler="Personal Care"),
            product("29500-9077", "Other Tablets"),
            product("11111-222", "No Packages Here"),
        ],
        [
            package("0781-2613-01", "100 CAPSULE in 1 BOTTLE (0781-2613-01) "),
            package("0781-2613-05", "500 CAPSULE in 1 BOTTLE (0781-2613-05) ", end="20190101"),
            package("0781-2613-05", "500 CAPSULE in 1 BOTTLE (0781-2613-05) ", end="20200101"),
            package("29500-907-77", "30 TABLET in 1 BOTTLE (29500-907-77) "),
            package("29500-9077-7", "1 BOTTLE in 1 CARTON > 60 TABLET in 1 BOTTLE"),
            package("29500-9077-7", "1 BOTTLE in 1 CARTON > 90 TABLET in 1 BOTTLE"),
        ],
    )


def test_reads_products_packages_and_the_snapshot_date(tmp_path: Path) -> None:
    directory = read_directory(_small_directory(tmp_path))
    assert directory.snapshot_date == date(2019, 4, 29)
    assert len(directory.products) == 4
    assert directory.products_without_packages == 1
    assert directory.merged_package_rows == 2
    assert [record.ndc for record in directory.packages] == [
        "0781-2613-01",
        "0781-2613-05",
        "29500-907-77",
        "29500-9077-7",
    ]
    assert directory.products[1].proprietary_name == "Café Tablets"
    ndc11s = {record.ndc: record.ndc11 for record in directory.packages}
    assert ndc11s["29500-907-77"] == "29500090777"
    assert ndc11s["29500-9077-7"] == "29500907707"
    for record in directory.packages:
        assert record.ndc11 == Ndc(*record.ndc.split("-")).ndc11


def test_duplicate_package_rows_merge_by_the_documented_rule(tmp_path: Path) -> None:
    packages = {
        record.ndc: record for record in read_directory(_small_directory(tmp_path)).packages
    }
    ended = packages["0781-2613-05"]
    assert ended.end_marketing_date == date(2020, 1, 1)
    assert ended.quantities.billing_quantity == Decimal(500)
    disagreeing = packages["29500-9077-7"]
    assert disagreeing.description == "1 BOTTLE in 1 CARTON > 60 TABLET in 1 BOTTLE"
    assert disagreeing.quantities.billing_quantity is None


def test_snapshot_date_given_overrides_the_zip_date(tmp_path: Path) -> None:
    path = _small_directory(tmp_path)
    assert read_directory(path, snapshot_date=date(2019, 5, 1)).snapshot_date == date(2019, 5, 1)


def test_a_folder_with_the_two_files_reads_too(tmp_path: Path) -> None:
    (tmp_path / "product.txt").write_bytes(
        lines_to_bytes(PRODUCT_HEADER, [product("0781-2613", "Amoxicillin")])
    )
    (tmp_path / "package.txt").write_bytes(
        lines_to_bytes(PACKAGE_HEADER, [package("0781-2613-01", "100 CAPSULE in 1 BOTTLE")])
    )
    directory = read_directory(tmp_path, snapshot_date=date(2019, 4, 29))
    assert [record.ndc for record in directory.packages] == ["0781-2613-01"]


GOOD_PRODUCTS = [product("0781-2613", "Amoxicillin"), product("0002-0800", "Diluent")]
GOOD_PACKAGES = [
    package("0781-2613-01", "100 CAPSULE in 1 BOTTLE"),
    package("0002-0800-01", "1 VIAL in 1 CARTON > 10 mL in 1 VIAL"),
]


def _raw(header: str, rows: list[str]) -> bytes:
    return lines_to_bytes(header, rows)


BROKEN = {
    "bad header": (
        _raw(PRODUCT_HEADER.replace("PROPRIETARYNAME\t", "BRANDNAME\t", 1), GOOD_PRODUCTS),
        None,
        "product.txt",
        1,
        "header",
    ),
    "short row": (
        None,
        _raw(PACKAGE_HEADER, [GOOD_PACKAGES[0], GOOD_PACKAGES[1].rsplit("\t", 2)[0]]),
        "package.txt",
        3,
        "6 fields",
    ),
    "truncated": (
        _raw(PRODUCT_HEADER, GOOD_PRODUCTS)[:-30],
        None,
        "product.txt",
        3,
        "truncated",
    ),
    "UTF-16": (
        "".join(f"{line}\r\n" for line in [PRODUCT_HEADER, *GOOD_PRODUCTS]).encode("utf-16"),
        None,
        "product.txt",
        1,
        "byte-order mark",
    ),
    "UTF-16 without BOM": (
        "".join(f"{line}\r\n" for line in [PRODUCT_HEADER, *GOOD_PRODUCTS]).encode("utf-16-le"),
        None,
        "product.txt",
        1,
        "NUL",
    ),
    "UTF-8 BOM": (
        b"\xef\xbb\xbf" + _raw(PRODUCT_HEADER, GOOD_PRODUCTS),
        None,
        "product.txt",
        1,
        "byte-order mark",
    ),
    "UTF-8": (
        "".join(
            f"{line}\r\n"
            for line in [PRODUCT_HEADER, GOOD_PRODUCTS[0], product("0002-0800", "Café")]
        ).encode("utf-8"),
        None,
        "product.txt",
        3,
        "UTF-8",
    ),
    "invalid cp1252 byte": (
        None,
        _raw(PACKAGE_HEADER, GOOD_PACKAGES).replace(b"10 mL", b"10 \x81L"),
        "package.txt",
        3,
        "0x81",
    ),
    "LF line ends": (
        _raw(PRODUCT_HEADER, GOOD_PRODUCTS).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n", 1),
        None,
        "product.txt",
        2,
        "CR LF",
    ),
    "bad date": (
        _raw(PRODUCT_HEADER, [GOOD_PRODUCTS[0], GOOD_PRODUCTS[1].replace("20100101", "2010-1-1")]),
        None,
        "product.txt",
        3,
        "STARTMARKETINGDATE",
    ),
    "package of an unknown product": (
        None,
        _raw(PACKAGE_HEADER, [*GOOD_PACKAGES, package("12345-678-90", "1 BOTTLE")]),
        "package.txt",
        4,
        "not in product.txt",
    ),
    "bad NDC": (
        None,
        _raw(PACKAGE_HEADER, [GOOD_PACKAGES[0].replace("0781-2613-01", "0781-26130-1")]),
        "package.txt",
        2,
        "NDCPACKAGECODE",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_file_that_is_not_the_fda_directory_names_file_and_line(
    tmp_path: Path, case: str
) -> None:
    products, packages, file, line, words = BROKEN[case]
    path = write_zip(tmp_path / "broken.zip", products or GOOD_PRODUCTS, packages or GOOD_PACKAGES)
    with pytest.raises(DirectoryUnreadable, match=words) as refused:
        read_directory(path)
    assert refused.value.facts["file"] == file
    assert refused.value.facts["line"] == line
    assert f"{file}, line {line}" in str(refused.value)


def test_the_earliest_broken_line_is_reported_whatever_rule_it_breaks(tmp_path: Path) -> None:
    products = [
        GOOD_PRODUCTS[0],
        GOOD_PRODUCTS[1].replace("20100101", "2010-1-1"),
        product("0002-0801", "Short", dea="CII").rsplit("\t", 1)[0],
        product("0002-0802", "Bad Schedule", dea="C2"),
    ]
    path = write_zip(tmp_path / "broken.zip", products, GOOD_PACKAGES)
    with pytest.raises(DirectoryUnreadable, match="STARTMARKETINGDATE") as refused:
        read_directory(path)
    assert refused.value.facts["line"] == 3
    path = write_zip(tmp_path / "broken.zip", [*products[:1], *products[2:]], GOOD_PACKAGES)
    with pytest.raises(DirectoryUnreadable, match="19 fields") as refused:
        read_directory(path)
    assert refused.value.facts["line"] == 3
    repeated = [GOOD_PRODUCTS[0], products[3], GOOD_PRODUCTS[0]]
    path = write_zip(tmp_path / "broken.zip", repeated, GOOD_PACKAGES)
    with pytest.raises(DirectoryUnreadable, match="DEASCHEDULE") as refused:
        read_directory(path)
    assert refused.value.facts["line"] == 3


def test_a_zip_without_package_txt_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "half.zip", GOOD_PRODUCTS, None)
    with pytest.raises(DirectoryUnreadable, match=r"package\.txt is missing"):
        read_directory(path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ndctext.zip"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DirectoryUnreadable, match="not a readable zip"):
        read_directory(path)
