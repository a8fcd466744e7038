"""Cut the demo pharmacy's drug catalogue out of an FDA NDC Directory download.

The demo needs real NDCs that a technician recognises, not the whole directory: this keeps a
few common outpatient products (several labelers per generic, controlled substances in every
schedule) with all their packages, in the FDA's own layout (tab-separated, Windows-1252, CRLF,
header row) so the catalogue importer reads the subset exactly as it reads the full directory.

    python scripts/make_demo_catalogue.py [NDCTEXT_ZIP] [OUTPUT_DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared/data/fda-ndc-directory-2019-04-29/ndctext.zip"
DEFAULT_OUTPUT = REPO / "resources/demo/ndc-demo"
ENCODING = "cp1252"

# Manufacturers first, in this order; repackagers are left out so each NDC is the maker's own.
MANUFACTURERS = (
    "Teva",
    "Mylan",
    "Aurobindo",
    "Lupin",
    "Sandoz",
    "Zydus",
    "Amneal",
    "Actavis",
    "Sun Pharmaceutical",
    "Dr. Reddy",
    "Camber",
    "Cipla",
    "Solco",
    "Accord",
    "Apotex",
    "Greenstone",
    "Lannett",
    "Par Pharmaceutical",
    "SpecGx",
    "Rhodes",
    "KVK",
    "Upsher-Smith",
    "Glenmark",
    "Torrent",
    "Unichem",
    "Heritage",
    "Ascend",
    "Northstar",
    "West-Ward",
    "Hi-Tech",
    "Pharmaceutical Associates",
    "Tris Pharma",
    "Taro",
    "E. Fougera",
    "Parke-Davis",
    "Pfizer",
    "Merck",
    "GlaxoSmithKline",
    "Eli Lilly",
    "sanofi-aventis",
    "Novo Nordisk",
    "Allergan",
)


@dataclass(frozen=True)
class Pick:
    """One generic in one form: up to `labelers` makers, each with the listed strengths."""

    substance: str
    dosage_forms: tuple[str, ...]
    strengths: tuple[str, ...]
    labelers: int = 2
    route: str = ""


PICKS = (
    Pick("LISINOPRIL", ("TABLET",), ("10", "20"), labelers=3),
    Pick("ATORVASTATIN CALCIUM", ("TABLET, FILM COATED",), ("20", "40"), labelers=3),
    Pick("METFORMIN HYDROCHLORIDE", ("TABLET",), ("500", "1000")),
    Pick("AMLODIPINE BESYLATE", ("TABLET",), ("5", "10")),
    Pick("LEVOTHYROXINE SODIUM", ("TABLET",), ("50", "100")),
    Pick("LOSARTAN POTASSIUM", ("TABLET, FILM COATED",), ("50",)),
    Pick("HYDROCHLOROTHIAZIDE", ("TABLET",), ("25",)),
    Pick("SERTRALINE HYDROCHLORIDE", ("TABLET, FILM COATED",), ("50", "100")),
    Pick("OMEPRAZOLE", ("CAPSULE, DELAYED RELEASE",), ("20",)),
    Pick("GABAPENTIN", ("CAPSULE",), ("300",), labelers=3),
    Pick("MONTELUKAST SODIUM", ("TABLET, FILM COATED",), ("10",)),
    Pick("PREDNISONE", ("TABLET",), ("20",)),
    Pick("AMOXICILLIN", ("CAPSULE",), ("500",)),
    Pick("AMOXICILLIN", ("POWDER, FOR SUSPENSION",), ("400",)),
    Pick("CEPHALEXIN", ("CAPSULE",), ("500",)),
    Pick("AZITHROMYCIN MONOHYDRATE", ("TABLET, FILM COATED",), ("250",)),
    Pick("ALBUTEROL SULFATE", ("AEROSOL, METERED",), ("90", "108"), labelers=3),
    Pick("FLUTICASONE PROPIONATE", ("SPRAY, METERED",), ("50",), route="NASAL"),
    Pick("INSULIN GLARGINE", ("INJECTION, SOLUTION",), ("100",), labelers=1),
    Pick("INSULIN LISPRO", ("INJECTION, SOLUTION",), ("100",), labelers=1),
    Pick("MUPIROCIN", ("OINTMENT",), ("20",)),
    # Controlled substances, CII to CV.
    Pick("OXYCODONE HYDROCHLORIDE", ("TABLET",), ("5", "10")),
    Pick("HYDROCODONE BITARTRATE; ACETAMINOPHEN", ("TABLET",), ("5; 325", "10; 325"), labelers=3),
    Pick("METHYLPHENIDATE HYDROCHLORIDE", ("TABLET",), ("10",)),
    Pick("ACETAMINOPHEN; CODEINE PHOSPHATE", ("TABLET",), ("300; 30",)),
    Pick("ALPRAZOLAM", ("TABLET",), ("0.5", ".5", "1")),
    Pick("ZOLPIDEM TARTRATE", ("TABLET, FILM COATED",), ("10",)),
    Pick("TRAMADOL HYDROCHLORIDE", ("TABLET",), ("50",)),
    Pick("PREGABALIN", ("CAPSULE",), ("75",), labelers=1),
    Pick(
        "PROMETHAZINE HYDROCHLORIDE; CODEINE PHOSPHATE",
        ("SYRUP", "SOLUTION"),
        ("6.25; 10",),
        labelers=3,
    ),
)


def _manufacturer_rank(labeler: str) -> int | None:
    for rank, prefix in enumerate(MANUFACTURERS):
        if labeler.lower().startswith(prefix.lower()):
            return rank
    return None


def _wanted(pick: Pick, row: dict[str, str]) -> bool:
    return (
        row["SUBSTANCENAME"] == pick.substance
        and row["DOSAGEFORMNAME"] in pick.dosage_forms
        and row["ACTIVE_NUMERATOR_STRENGTH"] in pick.strengths
        and pick.route in row["ROUTENAME"]
        and row["PRODUCTTYPENAME"] == "HUMAN PRESCRIPTION DRUG"
        and not row["ENDMARKETINGDATE"]
        and row["NDC_EXCLUDE_FLAG"] == "N"
        and _manufacturer_rank(row["LABELERNAME"]) is not None
    )


def select_products(products: list[dict[str, str]], packaged: set[str]) -> list[str]:
    """PRODUCTIDs chosen by the picks: for each, the best-ranked makers' packaged products."""
    chosen: list[str] = []
    for pick in PICKS:
        candidates = [
            row for row in products if row["PRODUCTID"] in packaged and _wanted(pick, row)
        ]
        if not candidates:
            raise SystemExit(f"no product in the directory matches {pick}")
        makers = sorted(
            {row["LABELERNAME"] for row in candidates},
            key=lambda name: (_manufacturer_rank(name), name),
        )[: pick.labelers]
        chosen.extend(
            row["PRODUCTID"]
            for row in sorted(candidates, key=lambda row: row["PRODUCTID"])
            if row["LABELERNAME"] in makers
        )
    return list(dict.fromkeys(chosen))


def _read_lines(archive: zipfile.ZipFile, name: str) -> list[bytes]:
    return archive.read(name).split(b"\r\n")


def _parse(lines: list[bytes]) -> tuple[list[str], list[tuple[bytes, dict[str, str]]]]:
    header = lines[0].decode(ENCODING).split("\t")
    rows = []
    for raw in lines[1:]:
        if raw:
            text = raw.decode(ENCODING)
            values = next(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
            rows.append((raw, dict(zip(header, values, strict=False))))
    return header, rows


def make_subset(source: Path, output_dir: Path) -> tuple[int, int]:
    """Write product.txt and package.txt for the chosen products, byte-for-byte as the FDA's."""
    with zipfile.ZipFile(source) as archive:
        product_lines = _read_lines(archive, "product.txt")
        package_lines = _read_lines(archive, "package.txt")
    _, products = _parse(product_lines)
    _, packages = _parse(package_lines)
    # Some listings have no package at all in the directory; the demo cannot stock those.
    packaged = {row["PRODUCTID"] for _, row in packages}
    chosen = set(select_products([row for _, row in products], packaged))
    product_out = [raw for raw, row in products if row["PRODUCTID"] in chosen]
    package_out = [raw for raw, row in packages if row["PRODUCTID"] in chosen]
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, header, body in (
        ("product.txt", product_lines[0], product_out),
        ("package.txt", package_lines[0], package_out),
    ):
        (output_dir / name).write_bytes(b"".join(line + b"\r\n" for line in [header, *body]))
    return len(product_out), len(package_out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("output_dir", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    product_count, package_count = make_subset(args.source, args.output_dir)
    print(f"wrote {product_count} products and {package_count} packages to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
