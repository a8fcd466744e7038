"""Reading the FDA NDC Directory download (product.txt + package.txt) into plain values.

Pure reading, no database: the whole download is checked before anything is returned, so a
file that is not the FDA layout, is truncated or is in another encoding raises
`DirectoryUnreadable` naming the file and line, and the importer imports nothing.

Rules the directory forces on us (each counted in `NdcDirectory` so the import report says so):
- Products are keyed by PRODUCTID: PRODUCTNDC is not unique.
- A product with no package rows is kept as a product without packages.
- The same package NDC listed twice under one product is merged into one package: the first
  row's description, the earliest start date, the latest end date (none if any row has none),
  and a billing quantity only when every row agrees on it (else unknown).

Billing quantity (NCPDP billing units EA, GM, ML) comes from PACKAGEDESCRIPTION, a chain of
levels "Q UNIT in 1 CONTAINER" joined by ">" from the outside in. The billing level is the
outermost level counted in dose units (tablets, capsules, patches…) or kits, which bill EA;
failing that, the innermost level measured in mL, L or µL (billed ML) or g, kg or mg (billed
GM), after skipping trailing levels that measure something else (homeopathic potency, cm²).
The quantity is the product of the quantities down to the billing level, so "10 BLISTER PACK
in 1 CARTON > 10 TABLET in 1 BLISTER PACK" is 100 EA and "1 INHALER in 1 CARTON > 8.5 g in 1
INHALER" is 8.5 GM. Anything else — metered sprays and puffs, liquids counted as "1 SYRUP", a
container with no stated content, several components joined by "*" that are not one kit, a
quantity of zero or finer than 0.001 — is "unknown", to be entered by a pharmacist.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

from app.errors import ValidationFailed

PRODUCT_FILE = "product.txt"
PACKAGE_FILE = "package.txt"
PRODUCT_COLUMNS = (
    "PRODUCTID",
    "PRODUCTNDC",
    "PRODUCTTYPENAME",
    "PROPRIETARYNAME",
    "PROPRIETARYNAMESUFFIX",
    "NONPROPRIETARYNAME",
    "DOSAGEFORMNAME",
    "ROUTENAME",
    "STARTMARKETINGDATE",
    "ENDMARKETINGDATE",
    "MARKETINGCATEGORYNAME",
    "APPLICATIONNUMBER",
    "LABELERNAME",
    "SUBSTANCENAME",
    "ACTIVE_NUMERATOR_STRENGTH",
    "ACTIVE_INGRED_UNIT",
    "PHARM_CLASSES",
    "DEASCHEDULE",
    "NDC_EXCLUDE_FLAG",
    "LISTING_RECORD_CERTIFIED_THROUGH",
)
PACKAGE_COLUMNS = (
    "PRODUCTID",
    "PRODUCTNDC",
    "NDCPACKAGECODE",
    "PACKAGEDESCRIPTION",
    "STARTMARKETINGDATE",
    "ENDMARKETINGDATE",
    "NDC_EXCLUDE_FLAG",
    "SAMPLE_PACKAGE",
)
DEA_SCHEDULES = frozenset({"CI", "CII", "CIII", "CIV", "CV"})


class DirectoryUnreadable(ValidationFailed):
    """The download is not a complete FDA NDC Directory; `facts` name the file and line."""

    code = "catalogue-file-unreadable"

    def __init__(self, reason: str, *, file: str, line: int | None = None) -> None:
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(
            f"The NDC Directory cannot be imported ({where}): {reason}. Nothing was imported.",
            file=file,
            line=line,
            reason=reason,
        )


# --- package descriptions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageQuantities:
    """What a package description tells: the outer count and the billing quantity inside."""

    package_quantity: Decimal | None
    package_unit: str
    billing_unit: str
    billing_quantity: Decimal | None

    @property
    def billing_quantity_source(self) -> str:
        return "parsed" if self.billing_quantity is not None else "unknown"


_UNKNOWN = PackageQuantities(None, "", "EA", None)
_LEVEL = re.compile(r"\s*(\d*\.?\d+)\s+(?:(.*?)\s+)?in\s+(\d+)\s+(.+?)\s*")
_CODE = re.compile(r"\((?:GS1:)?[0-9A-Za-z-]+\)")
_MEASURED = {
    "mL": ("ML", Decimal(1)),
    "L": ("ML", Decimal(1000)),
    "uL": ("ML", Decimal("0.001")),
    "g": ("GM", Decimal(1)),
    "kg": ("GM", Decimal(1000)),
    "mg": ("GM", Decimal("0.001")),
}
# Dose units counted one by one (NCPDP "each"); matched on the text before the first comma.
_COUNTED = frozenset(
    {
        "TABLET",
        "CAPSULE",
        "PELLET",
        "LOZENGE",
        "KIT",
        "PATCH",
        "SUPPOSITORY",
        "GUM",
        "SWAB",
        "CLOTH",
        "STRIP",
        "FILM",
        "INSERT",
        "IMPLANT",
        "DISC",
        "PILL",
        "PASTILLE",
        "BAR",
        "STICK",
        "INTRAUTERINE DEVICE",
        "DRESSING",
        "PLASTER",
        "TROCHE",
        "RING",
        "WAFER",
        "SPONGE",
        "TAPE",
        "GLOBULE",
        "POULTICE",
        "LIPSTICK",
        "SOAP",
        "CHEWABLE GEL",
        "TAMPON",
        "GRANULE",
    }
)
# Levels that measure something other than the amount dispensed: time, potency, area, length.
_NOT_AN_AMOUNT = re.compile(r"^(?:h|d|mm|cm|cm2|Ci|mCi|\[[^\]]*\])?$")
_MILLI = Decimal("0.001")
_MAX_QUANTITY = Decimal("999999999.999")


def _billing_unit_of(unit: str) -> str | None:
    if unit in _MEASURED:
        return _MEASURED[unit][0]
    head = unit.split(",", 1)[0]
    if head in _COUNTED or unit.startswith("INJECTION, POWDER"):
        return "EA"
    return None


def parse_package_description(description: str) -> PackageQuantities:
    """Package and billing quantities from PACKAGEDESCRIPTION (rule in the module docstring)."""
    # Without the NDCs in brackets most descriptions repeat ("100 TABLET in 1 BOTTLE").
    return _parse_without_codes(_CODE.sub(" ", description))


@lru_cache(maxsize=65536)
def _parse_without_codes(description: str) -> PackageQuantities:
    components = description.split("*")
    first = components[0]
    if not first.strip():
        return _UNKNOWN
    levels = []
    for text in first.split(">"):
        match = _LEVEL.fullmatch(text)
        if match is None:
            return _UNKNOWN
        levels.append((Decimal(match.group(1)), match.group(2) or "", match.group(3)))
    package_quantity, package_unit = levels[0][0], levels[0][1]
    if any(count != "1" for _, _, count in levels):
        return PackageQuantities(package_quantity, package_unit, "EA", None)
    counted_at = next(
        (index for index, (_, unit, _) in enumerate(levels) if _billing_unit_of(unit) == "EA"),
        None,
    )
    if counted_at is not None:
        levels = levels[: counted_at + 1]
    elif len(components) > 1:
        return PackageQuantities(package_quantity, package_unit, "EA", None)
    else:
        while len(levels) > 1 and _NOT_AN_AMOUNT.match(levels[-1][1]):
            levels = levels[:-1]
    innermost = levels[-1][1]
    billing_unit = _billing_unit_of(innermost)
    if billing_unit is None:
        return PackageQuantities(package_quantity, package_unit, "EA", None)
    quantity = Decimal(1)
    for level_quantity, _, _ in levels:
        quantity *= level_quantity
    if innermost in _MEASURED:
        quantity *= _MEASURED[innermost][1]
    if quantity != quantity.quantize(_MILLI) or not 0 < quantity <= _MAX_QUANTITY:
        return PackageQuantities(package_quantity, package_unit, billing_unit, None)
    return PackageQuantities(package_quantity, package_unit, billing_unit, quantity)


# --- records ----------------------------------------------------------------------------------


class ProductRecord(NamedTuple):
    """One product.txt row, as `NdcDirectory.products` gives it."""

    fda_product_id: str
    product_ndc: str
    product_type: str
    proprietary_name: str
    proprietary_name_suffix: str
    nonproprietary_name: str
    dosage_form: str
    route: str
    start_marketing_date: date | None
    end_marketing_date: date | None
    marketing_category: str
    application_number: str
    labeler: str
    substance_name: str
    strength: str
    strength_unit: str
    pharm_classes: str
    dea_schedule: str | None
    ndc_exclude_flag: str
    listing_certified_through: date | None


class PackageRecord(NamedTuple):
    """One package of package.txt, repeated rows merged (rule in the module docstring)."""

    fda_product_id: str
    ndc: str
    ndc11: str
    description: str
    start_marketing_date: date | None
    end_marketing_date: date | None
    ndc_exclude_flag: str
    sample_package: bool
    quantities: PackageQuantities


Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class NdcDirectory:
    """One complete, checked directory download, a list of values per record field.

    Kept by column because the importer writes it by column: 370,000 record objects built here
    and taken apart again there cost about 0.4 s of a first import. `products` and `packages`
    give the same rows as records.
    """

    source_name: str
    snapshot_date: date
    product_columns: Columns
    package_columns: Columns
    merged_package_rows: int
    products_without_packages: int

    @property
    def product_count(self) -> int:
        return len(self.product_columns["fda_product_id"])

    @property
    def package_count(self) -> int:
        return len(self.package_columns["fda_product_id"])

    @cached_property
    def products(self) -> tuple[ProductRecord, ...]:
        return tuple(map(ProductRecord, *self.product_columns.values()))

    @cached_property
    def packages(self) -> tuple[PackageRecord, ...]:
        return tuple(map(PackageRecord, *self.package_columns.values()))


# --- reading ----------------------------------------------------------------------------------


def _decode(data: bytes, file: str) -> str:
    """Windows-1252 text; a UTF-8 or UTF-16 file would decode into mojibake, so refuse it."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise DirectoryUnreadable(
            "it starts with a Unicode byte-order mark; the FDA file is Windows-1252 text",
            file=file,
            line=1,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DirectoryUnreadable(
            "it contains NUL bytes (UTF-16 or binary?); the FDA file is Windows-1252 text",
            file=file,
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise DirectoryUnreadable(
            f"byte 0x{data[error.start]:02X} is not Windows-1252 text",
            file=file,
            line=data.count(b"\n", 0, error.start) + 1,
        ) from error
    if not text.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return text
        first = next(index for index, char in enumerate(text) if not char.isascii())
        raise DirectoryUnreadable(
            "it is UTF-8 encoded; the FDA file is Windows-1252 text",
            file=file,
            line=text.count("\n", 0, first) + 1,
        )
    return text


_BARE_LINE_END = re.compile(r"(?<!\r)\n|\r(?!\n)")


class _Problems:
    """The first broken line of a file, found by checking each column's distinct values at once.

    Checking 370,000 rows one by one costs seconds; most columns hold a few thousand distinct
    values. A rule breaks on the first row holding a value it refused; of several, the file is
    reported at the earliest line (and, on one line, by the rule checked first), as a reader
    going down the file would.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self._found: list[tuple[int, int, str]] = []

    def note(self, index: int, reason: str) -> None:
        self._found.append((index, len(self._found), reason))

    def refused(
        self, column: Sequence[str], refused: Collection[str], reason: Callable[[str], str]
    ) -> None:
        if refused:
            index = next((i for i, value in enumerate(column) if value in refused), None)
            if index is not None:
                self.note(index, reason(column[index]))

    def raise_first(self) -> None:
        if self._found:
            index, _, reason = min(self._found)
            raise DirectoryUnreadable(reason, file=self.file, line=index + 2)


def _columns(text: str, file: str, columns: tuple[str, ...]) -> tuple[list[list[str]], _Problems]:
    """The values of each column (row i is line i + 2), after checking header and line ends.

    A row of the wrong width is noted in the problems returned, with the rows from it on left
    out, so the caller checks the rows above it before reporting the first broken line. Rows
    of the right width are split as one text and dealt into columns by slicing, with no list
    per row to build and transpose again.
    """
    line_ends = text.count("\r\n")
    if text.count("\r") != line_ends or text.count("\n") != line_ends:
        bare = _BARE_LINE_END.search(text)
        raise DirectoryUnreadable(
            "a line ends without CR LF: not the FDA layout",
            file=file,
            line=text.count("\n", 0, bare.start()) + 1 if bare else None,
        )
    if not text.endswith("\r\n"):
        raise DirectoryUnreadable(
            "the last line does not end with CR LF: the file is truncated",
            file=file,
            line=text.count("\n") + 1,
        )
    lines = text[:-2].split("\r\n")
    header = tuple(lines[0].split("\t"))
    if header != columns:
        raise DirectoryUnreadable(
            f"the header is not the FDA layout: expected {', '.join(columns)}", file=file, line=1
        )
    rows = lines[1:]
    problems = _Problems(file)
    width = len(columns)
    tabs = list(map(str.count, rows, repeat("\t")))
    if any(count != width - 1 for count in set(tabs)):
        index = next(i for i, count in enumerate(tabs) if count != width - 1)
        problems.note(index, f"{tabs[index] + 1} fields where the FDA layout has {width}")
        # The rows above it are checked too: the earliest broken line is the one reported.
        del rows[index:]
    fields = "\t".join(rows).split("\t") if rows else []
    return [fields[position::width] for position in range(width)], problems


def _yyyymmdd(value: str) -> date:
    if len(value) != 8:
        raise ValueError(value)
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def _dates(*columns: Sequence[str]) -> tuple[dict[str, date | None], set[str]]:
    """The dates the distinct values of date columns hold, and the values that are none."""
    dates: dict[str, date | None] = {"": None}
    refused = set()
    for value in set().union(*columns) - {""}:
        try:
            dates[value] = _yyyymmdd(value)
        except ValueError:
            refused.add(value)
    return dates, refused


def _first_empty_or_repeated(values: Sequence[str]) -> int:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if not value or value in seen:
            return index
        seen.add(value)
    raise ValueError("every value is set and unique")


def _not_a_date(column: str) -> Callable[[str], str]:
    return lambda value: f"{column} “{value}” is not a YYYYMMDD date"


def _products(text: str) -> Columns:
    columns, problems = _columns(text, PRODUCT_FILE, PRODUCT_COLUMNS)
    ids, schedules, flags = columns[0], columns[17], columns[18]
    unique = set(ids)
    if len(unique) != len(ids) or "" in unique:
        index = _first_empty_or_repeated(ids)
        problems.note(index, f"PRODUCTID “{ids[index]}” is empty or repeated")
    problems.refused(
        schedules,
        set(schedules) - DEA_SCHEDULES - {""},
        lambda value: f"DEASCHEDULE “{value}” is not CI to CV",
    )
    dates, not_dates = _dates(columns[8], columns[9], columns[19])
    for position in (8, 9, 19):
        problems.refused(columns[position], not_dates, _not_a_date(PRODUCT_COLUMNS[position]))
    problems.raise_first()
    exclude_flags = {flag: flag[:1] or "N" for flag in set(flags)}
    fields: list[list[Any]] = [*columns]
    for position in (8, 9, 19):
        fields[position] = list(map(dates.__getitem__, columns[position]))
    fields[17] = [schedule or None for schedule in schedules]
    fields[18] = list(map(exclude_flags.__getitem__, flags))
    return dict(zip(ProductRecord._fields, fields, strict=True))


# The FDA's three 10-digit configurations. app.domain.ndc.Ndc validates the same, but building
# 244,000 of them costs seconds of the import; the tests check both agree on every NDC. All the
# NDCs are checked at once, one per line: matching them one by one costs twice as much.
_NDC10 = re.compile(
    r"[0-9]{4}-[0-9]{4}-[0-9]{2}|[0-9]{5}-[0-9]{3}-[0-9]{2}|[0-9]{5}-[0-9]{4}-[0-9]"
)
_NDC10_LINES = re.compile(f"(?:(?:{_NDC10.pattern})\n)*")


def _ndc11(value: str) -> str:
    """The 5-4-2 digits of a hyphenated 10-digit NDC."""
    labeler, product, package = value.split("-")
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def _merge(first: PackageRecord, again: PackageRecord) -> PackageRecord:
    ends = (first.end_marketing_date, again.end_marketing_date)
    starts = [day for day in (first.start_marketing_date, again.start_marketing_date) if day]
    quantities = first.quantities
    if quantities != again.quantities:
        quantities = PackageQuantities(
            quantities.package_quantity, quantities.package_unit, quantities.billing_unit, None
        )
    return PackageRecord(
        fda_product_id=first.fda_product_id,
        ndc=first.ndc,
        ndc11=first.ndc11,
        description=first.description,
        start_marketing_date=min(starts) if starts else None,
        end_marketing_date=None if None in ends else max(day for day in ends if day),
        ndc_exclude_flag=first.ndc_exclude_flag,
        sample_package=first.sample_package or again.sample_package,
        quantities=quantities,
    )


def _packages(text: str, product_ids: Collection[str]) -> tuple[Columns, int]:
    columns, problems = _columns(text, PACKAGE_FILE, PACKAGE_COLUMNS)
    products, _, ndcs, descriptions, starts, ends, flags, samples = columns
    problems.refused(
        products,
        set(products).difference(product_ids),
        lambda value: f"PRODUCTID “{value}” is not in {PRODUCT_FILE}",
    )
    problems.refused(
        samples,
        set(samples) - {"Y", "N"},
        lambda value: f"SAMPLE_PACKAGE “{value}” is not Y or N",
    )
    if _NDC10_LINES.fullmatch("\n".join(ndcs) + "\n") is None:
        problems.refused(
            ndcs,
            {ndc for ndc in set(ndcs) if _NDC10.fullmatch(ndc) is None},
            lambda value: f"NDCPACKAGECODE “{value}” is not a hyphenated 10-digit NDC",
        )
    dates, not_dates = _dates(starts, ends)
    problems.refused(starts, not_dates, _not_a_date("STARTMARKETINGDATE"))
    problems.refused(ends, not_dates, _not_a_date("ENDMARKETINGDATE"))
    problems.raise_first()
    # Without the NDCs in brackets most descriptions repeat: parse each distinct one once.
    without_codes = _CODE.sub(" ", "\n".join(descriptions)).split("\n")
    parsed = {text: _parse_without_codes(text) for text in set(without_codes)}
    exclude_flags = {flag: flag[:1] or "N" for flag in set(flags)}
    fields: Columns = dict(
        zip(
            PackageRecord._fields,
            (
                products,
                ndcs,
                list(map(_ndc11, ndcs)),
                list(map(str.strip, descriptions)),
                list(map(dates.__getitem__, starts)),
                list(map(dates.__getitem__, ends)),
                list(map(exclude_flags.__getitem__, flags)),
                list(map({"Y": True, "N": False}.__getitem__, samples)),
                list(map(parsed.__getitem__, without_codes)),
            ),
            strict=True,
        )
    )
    keys = list(zip(products, ndcs, strict=True))
    # The row each (product, NDC) is first listed on; the rows repeating it merge into it.
    first_rows = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
    repeats = sorted(set(range(len(keys))).difference(first_rows.values()))
    for index in repeats:
        first = first_rows[keys[index]]
        merged = _merge(_package_at(fields, first), _package_at(fields, index))
        for values, value in zip(fields.values(), merged, strict=True):
            values[first] = value
    for values in fields.values():
        for index in reversed(repeats):
            del values[index]
    return fields, len(repeats)


def _package_at(fields: Columns, index: int) -> PackageRecord:
    return PackageRecord(*(values[index] for values in fields.values()))


def _member(archive: zipfile.ZipFile, name: str, source: str) -> zipfile.ZipInfo:
    for info in archive.infolist():
        if info.filename.rsplit("/", 1)[-1].lower() == name:
            return info
    raise DirectoryUnreadable(f"{name} is missing from the zip file", file=f"{source}:{name}")


def _read_zip(path: Path) -> tuple[bytes, bytes, date]:
    try:
        with zipfile.ZipFile(path) as archive:
            product = _member(archive, PRODUCT_FILE, path.name)
            package = _member(archive, PACKAGE_FILE, path.name)
            stamp = max(product.date_time, package.date_time)
            return (archive.read(product), archive.read(package), date(*stamp[:3]))
    except (zipfile.BadZipFile, EOFError) as error:
        raise DirectoryUnreadable(f"not a readable zip file ({error})", file=path.name) from error


def _read_folder(path: Path) -> tuple[bytes, bytes, date]:
    files = [path / PRODUCT_FILE, path / PACKAGE_FILE]
    for file in files:
        if not file.is_file():
            raise DirectoryUnreadable(f"{file.name} is missing from the folder", file=str(file))
    stamp = max(file.stat().st_mtime for file in files)
    return files[0].read_bytes(), files[1].read_bytes(), datetime.fromtimestamp(stamp).date()


def read_directory(path: Path, *, snapshot_date: date | None = None) -> NdcDirectory:
    """Read and check a directory download: the FDA zip, or a folder holding its two files.

    The snapshot date is `snapshot_date` when given, else the date of the newer of the two
    files (zip member date or file time) — the FDA stamps the files when it publishes them.
    """
    try:
        product_bytes, package_bytes, stamped = (
            _read_folder(path) if path.is_dir() else _read_zip(path)
        )
    except OSError as error:
        raise DirectoryUnreadable(f"it cannot be read ({error.strerror})", file=str(path)) from None
    products = _products(_decode(product_bytes, PRODUCT_FILE))
    product_ids = set(products["fda_product_id"])
    packages, merged = _packages(_decode(package_bytes, PACKAGE_FILE), product_ids)
    return NdcDirectory(
        source_name=path.name,
        snapshot_date=snapshot_date or stamped,
        product_columns=products,
        package_columns=packages,
        merged_package_rows=merged,
        products_without_packages=len(product_ids) - len(set(packages["fda_product_id"])),
    )


__all__ = [
    "DirectoryUnreadable",
    "NdcDirectory",
    "PackageQuantities",
    "PackageRecord",
    "ProductRecord",
    "parse_package_description",
    "read_directory",
]
