"""Products a pharmacist adds to the catalogue from a scanned bottle the NDC Directory lacks.

A bottle whose valid code names no catalogue package is a stop (`unknown`) and is never
accepted blind: a pharmacist reads the package and enters what the directory would list, the
product goes into the catalogue marked `source='pharmacy'`, indexed for search as an imported
one is, and the bottle is scanned again, so the ordinary verdict rules judge it against the
prescription. Nothing here accepts a bottle or touches a fill. A catalogue import never marks
such a product discontinued.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import cast

from sqlalchemy import String, Table, or_, select

from app.db.models import DrugPackage, DrugProduct
from app.domain.barcodes import ScanError, ScanKind
from app.domain.ndc import Ndc, parse_ndc
from app.domain.verdicts import StrengthUnreadable, normalise_strength
from app.errors import ValidationFailed
from app.services.catalogue import index_for_search
from app.services.dispensing import CONTROLLED_SCHEDULES
from app.services.identify import packages_by_id, resolve_scan
from app.services.unit_of_work import UnitOfWork

SOURCE = "pharmacy"
PRODUCT_ADDED = "catalogue.product_added"
PACKAGE_ADDED = "catalogue.package_added"
BILLING_UNITS = ("EA", "GM", "ML")
_MAX_BILLING_QUANTITY = Decimal("999999999.999")
_MILLI = Decimal("0.001")
# Field → what the pharmacist is asked for when it is blank.
_REQUIRED = {
    "ndc": "the package NDC, with its hyphens as printed on the package",
    "proprietary_name": "the proprietary name (the name on the label)",
    "nonproprietary_name": "the non-proprietary (generic) name",
    "strength": "the strength",
    "strength_unit": "the strength unit (mg, mcg, mg/5mL…)",
    "dosage_form": "the dosage form (TABLET, CAPSULE, SOLUTION…)",
    "labeler": "the labeler (the manufacturer or distributor on the label)",
}


class ProductRefused(ValidationFailed):
    """The product cannot be added as entered; `facts["field"]` names the field at fault."""

    code = "pharmacy-product-refused"


class ProductAlreadyInCatalogue(ProductRefused):
    """The bottle's code (or the NDC entered) is in the catalogue already: scan it again."""

    code = "product-already-in-catalogue"


@dataclass(frozen=True)
class PharmacyProductDraft:
    """What a pharmacist reads off the package, in the NDC Directory's terms.

    Several active ingredients, with one strength and unit each, are separated by ";"
    ("HYDROCODONE BITARTRATE; ACETAMINOPHEN", "5; 325", "mg; mg"), as the directory writes
    them; without ingredients the non-proprietary name stands for the one ingredient.
    """

    ndc: str
    proprietary_name: str
    nonproprietary_name: str
    strength: str
    strength_unit: str
    dosage_form: str
    labeler: str
    billing_unit: str
    billing_quantity: Decimal | None
    route: str = ""
    dea_schedule: str | None = None
    package_description: str = ""
    active_ingredients: str = ""


@dataclass(frozen=True)
class AddedProduct:
    product_id: int
    package_id: int
    ndc: str
    label: str  # names, strength, form, labeler and NDC, as verdict messages show them


def _column_length(table: Table, name: str) -> int | None:
    kind = table.c[name].type
    return kind.length if isinstance(kind, String) else None


def _refuse_too_long(draft: PharmacyProductDraft) -> None:
    products = cast(Table, DrugProduct.__table__)
    for name in ("proprietary_name", "dosage_form", "route", "labeler"):
        limit = _column_length(products, name)
        if limit is not None and len(getattr(draft, name)) > limit:
            raise ProductRefused(f"At most {limit} characters fit here.", field=name, limit=limit)


def _per_unit(unit: str) -> str:
    """ "mg" as the directory writes it: "mg/1" (an amount per dosage unit)."""
    return unit if "/" in unit else f"{unit}/1"


def _strengths(draft: PharmacyProductDraft) -> tuple[str, str, str]:
    """(ingredients, strengths, units) joined as the directory joins them, each checked."""
    ingredients = [
        name.strip().upper()
        for name in (draft.active_ingredients or draft.nonproprietary_name).split(";")
    ]
    values = [value.strip() for value in draft.strength.split(";")]
    units = [_per_unit(unit.strip()) for unit in draft.strength_unit.split(";")]
    if not all(ingredients):
        raise ProductRefused(
            "An active ingredient is blank: separate several with “;”.",
            field="active_ingredients",
        )
    if len(values) != len(ingredients):
        raise ProductRefused(
            f"Give one strength per active ingredient ({len(ingredients)}), separated by “;”.",
            field="strength",
        )
    if len(units) != len(values):
        raise ProductRefused(
            f"Give one unit per strength ({len(values)}), separated by “;”.",
            field="strength_unit",
        )
    for value, unit in zip(values, units, strict=True):
        for field, written in (("strength", "1"), ("strength_unit", unit)):
            try:
                normalise_strength(value, written)
            except StrengthUnreadable as refusal:
                raise ProductRefused(refusal.message, field=field) from None
    return "; ".join(ingredients), "; ".join(values), "; ".join(units)


def validated(draft: PharmacyProductDraft) -> tuple[PharmacyProductDraft, Ndc, str]:
    """The draft trimmed and written as the directory writes it, with its NDC and NDC-11; or
    the refusal naming the first field at fault."""
    for name, what in _REQUIRED.items():
        if not str(getattr(draft, name)).strip():
            raise ProductRefused(f"Enter {what}.", field=name)
    draft = replace(
        draft,
        ndc=draft.ndc.strip(),
        proprietary_name=draft.proprietary_name.strip(),
        nonproprietary_name=draft.nonproprietary_name.strip(),
        dosage_form=" ".join(draft.dosage_form.upper().split()),
        route=" ".join(draft.route.upper().split()),
        labeler=draft.labeler.strip(),
        billing_unit=draft.billing_unit.strip().upper(),
        dea_schedule=(draft.dea_schedule or "").strip().upper() or None,
        package_description=" ".join(draft.package_description.split()),
    )
    _refuse_too_long(draft)
    try:
        ndc = parse_ndc(draft.ndc)
        ndc11 = ndc.ndc11  # a 6-digit labeler has none: the catalogue cannot hold it yet
    except ValidationFailed as refusal:
        raise ProductRefused(refusal.message, field="ndc") from None
    ingredients, strength, unit = _strengths(draft)
    if draft.dea_schedule is not None and draft.dea_schedule not in CONTROLLED_SCHEDULES:
        raise ProductRefused(
            f"“{draft.dea_schedule}” is not a DEA schedule dispensed on prescription: choose "
            f"{', '.join(CONTROLLED_SCHEDULES)}, or none.",
            field="dea_schedule",
        )
    if draft.billing_unit not in BILLING_UNITS:
        raise ProductRefused(
            f"The billing unit is one of {', '.join(BILLING_UNITS)} (each, gram, millilitre).",
            field="billing_unit",
        )
    quantity = draft.billing_quantity
    if quantity is None or not quantity.is_finite() or quantity <= 0:
        raise ProductRefused(
            f"Enter how many {draft.billing_unit} one package holds (more than 0).",
            field="billing_quantity",
        )
    if quantity > _MAX_BILLING_QUANTITY or quantity != quantity.quantize(_MILLI):
        raise ProductRefused(
            "The billing quantity has at most three decimals and nine digits before them.",
            field="billing_quantity",
        )
    cleaned = replace(
        draft,
        active_ingredients=ingredients,
        strength=strength,
        strength_unit=unit,
        ndc=ndc.hyphenated,
    )
    return cleaned, ndc, ndc11


def add_pharmacy_product(
    uow: UnitOfWork, draft: PharmacyProductDraft, *, scanned_text: str, fill_id: int, rx: str
) -> AddedProduct:
    """Add the product and package of a scanned bottle the catalogue lacks, audited with the
    NDC and the fill the bottle was scanned for; all or nothing.

    Refused unless the scan is a stock package code the catalogue does not know, and unless
    the NDC entered is what a new scan of that code will find (so the rescan is judged).
    """
    clean, ndc, ndc11 = validated(draft)
    session = uow.session
    resolved = resolve_scan(session, scanned_text)
    scan = resolved.scan
    if isinstance(resolved.scan_or_error, ScanError) or scan is None:
        raise ProductRefused(
            "The scan cannot be used to add a product: scan the bottle again first.",
            field="ndc",
        )
    if scan.kind is ScanKind.RX_LABEL:
        raise ProductRefused(
            "That is an Rx label, not a stock package: scan the manufacturer's barcode.",
            field="ndc",
        )
    if resolved.found:
        known = resolved.found[0]
        raise ProductAlreadyInCatalogue(
            f"This bottle's code is already in the drug catalogue ({known.facts.label}): scan "
            "the bottle again.",
            field="ndc",
            ndc=known.facts.package_ndc,
        )
    existing = session.scalar(
        select(DrugPackage.ndc)
        .where(or_(DrugPackage.ndc == ndc.hyphenated, DrugPackage.ndc11 == ndc11))
        .limit(1)
    )
    if existing is not None:
        raise ProductAlreadyInCatalogue(
            f"NDC {existing} is already in the drug catalogue: check the NDC on the package, "
            "then scan the bottle again.",
            field="ndc",
            ndc=existing,
        )
    product = DrugProduct(
        fda_product_id=f"PHARMACY-{ndc11}",
        product_ndc=f"{ndc.labeler}-{ndc.product}",
        proprietary_name=clean.proprietary_name,
        proprietary_name_suffix="",
        nonproprietary_name=clean.nonproprietary_name,
        dosage_form=clean.dosage_form,
        route=clean.route,
        labeler=clean.labeler,
        substance_name=clean.active_ingredients,
        strength=clean.strength,
        strength_unit=clean.strength_unit,
        dea_schedule=clean.dea_schedule,
        source=SOURCE,
    )
    package = DrugPackage(
        product=product,
        ndc=ndc.hyphenated,
        ndc11=ndc11,
        description=clean.package_description,
        billing_unit=clean.billing_unit,
        billing_quantity=clean.billing_quantity,
        billing_quantity_source="edited",
    )
    session.add_all([product, package])
    index_for_search(session, product, package)
    rescanned = resolve_scan(session, scanned_text)
    if [found.package_id for found in rescanned.found] != [package.id]:
        readings = ", ".join(candidate.hyphenated for candidate in scan.candidates)
        raise ProductRefused(
            f"NDC {ndc.hyphenated} is not the code on this bottle, which reads as {readings}: "
            "enter the NDC printed on the package.",
            field="ndc",
            readings=[candidate.hyphenated for candidate in scan.candidates],
        )
    label = packages_by_id(session, {package.id})[package.id].facts.label
    uow.audit(
        PRODUCT_ADDED,
        product,
        source=SOURCE,
        ndc=ndc.hyphenated,
        fill_id=fill_id,
        rx=rx,
        scan_kind=scan.kind.value,
        product=label,
        dea_schedule=clean.dea_schedule,
    )
    uow.audit(
        PACKAGE_ADDED,
        package,
        source=SOURCE,
        ndc=ndc.hyphenated,
        product_id=product.id,
        fill_id=fill_id,
        billing_unit=clean.billing_unit,
        billing_quantity=str(clean.billing_quantity),
    )
    return AddedProduct(
        product_id=product.id, package_id=package.id, ndc=ndc.hyphenated, label=label
    )
