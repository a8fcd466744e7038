"""Small handmade NDC Directory downloads in the FDA layout (cp1252, CRLF, tab-separated)."""

from __future__ import annotations

import zipfile
from pathlib import Path

PRODUCT_HEADER = (
    "PRODUCTID\tPRODUCTNDC\tPRODUCTTYPENAME\tPROPRIETARYNAME\tPROPRIETARYNAMESUFFIX\t"
    "NONPROPRIETARYNAME\tDOSAGEFORMNAME\tROUTENAME\tSTARTMARKETINGDATE\tENDMARKETINGDATE\t"
    "MARKETINGCATEGORYNAME\tAPPLICATIONNUMBER\tLABELERNAME\tSUBSTANCENAME\t"
    "ACTIVE_NUMERATOR_STRENGTH\tACTIVE_INGRED_UNIT\tPHARM_CLASSES\tDEASCHEDULE\tNDC_EXCLUDE_FLAG\t"
    "LISTING_RECORD_CERTIFIED_THROUGH"
)
PACKAGE_HEADER = (
    "PRODUCTID\tPRODUCTNDC\tNDCPACKAGECODE\tPACKAGEDESCRIPTION\tSTARTMARKETINGDATE\t"
    "ENDMARKETINGDATE\tNDC_EXCLUDE_FLAG\tSAMPLE_PACKAGE"
)


def product(
    product_ndc: str,
    name: str,
    *,
    generic: str = "",
    form: str = "TABLET",
    labeler: str = "Acme Labs",
    substance: str = "",
    strength: str = "10",
    unit: str = "mg/1",
    dea: str = "",
    exclude: str = "N",
    end: str = "",
    suffix: str = "",
) -> str:
    generic = generic or name
    return "\t".join(
        [
            f"{product_ndc}_id",
            product_ndc,
            "HUMAN PRESCRIPTION DRUG",
            name,
            suffix,
            generic,
            form,
            "ORAL",
            "20100101",
            end,
            "ANDA",
            "ANDA012345",
            labeler,
            substance or generic.upper(),
            strength,
            unit,
            "",
            dea,
            exclude,
            "20191231",
        ]
    )


def package(ndc: str, description: str, *, end: str = "", sample: str = "N") -> str:
    product_ndc = ndc.rsplit("-", 1)[0]
    return "\t".join(
        [f"{product_ndc}_id", product_ndc, ndc, description, "20100101", end, "N", sample]
    )


def lines_to_bytes(header: str, rows: list[str], encoding: str = "cp1252") -> bytes:
    return "".join(f"{line}\r\n" for line in [header, *rows]).encode(encoding)


def write_zip(
    path: Path,
    products: list[str] | bytes,
    packages: list[str] | bytes | None,
    *,
    date_time: tuple[int, int, int, int, int, int] = (2019, 4, 29, 15, 15, 0),
) -> Path:
    """A zip like the FDA's; rows as text lines, or bytes to write as they are."""
    members = {
        "product.txt": products
        if isinstance(products, bytes)
        else lines_to_bytes(PRODUCT_HEADER, products),
    }
    if packages is not None:
        members["package.txt"] = (
            packages if isinstance(packages, bytes) else lines_to_bytes(PACKAGE_HEADER, packages)
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=date_time), data)
    return path


def merge_directories(target: Path, *sources: Path) -> Path:
    """One FDA-layout directory holding the rows of several (whose products do not overlap)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("product.txt", "package.txt"):
        header, rows = b"", []
        for source in sources:
            lines = (source / name).read_bytes().split(b"\r\n")
            header = lines[0]
            rows.extend(line for line in lines[1:] if line)
        (target / name).write_bytes(b"\r\n".join([header, *rows]) + b"\r\n")
    return target
