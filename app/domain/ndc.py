"""National Drug Codes: the 10-digit FDA forms, the 11-digit billing form and the 12-digit form.

An NDC has three segments — labeler, product, package. Until 2033 the FDA assigns 10 digits in
one of three configurations (4-4-2, 5-3-2, 5-4-1); claims and the FDA directory's users pad every
segment to 5-4-2 ("NDC-11", no hyphens). The final rule of 2026-03-05 (effective 2033-03-07) makes
every NDC 12 digits, 6-4-2, converting existing NDCs by left-padding each segment with zeros, so
the NDC-12 of a 10-digit NDC is its NDC-11 with one more leading zero.

Removing hyphens loses information: the same ten digits read three ways, and an NDC-11 maps back
to one 10-digit NDC per segment that starts with a pad zero. Those functions return every
reading; the catalogue decides which one exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from app.errors import ValidationFailed


class NdcConfiguration(StrEnum):
    """Segment lengths, labeler-product-package, as the FDA writes them."""

    L4_P4_K2 = "4-4-2"
    L5_P3_K2 = "5-3-2"
    L5_P4_K1 = "5-4-1"
    L6_P4_K2 = "6-4-2"


_CONFIGURATION_BY_LENGTHS = {
    tuple(int(part) for part in configuration.value.split("-")): configuration
    for configuration in NdcConfiguration
}
_TEN_DIGIT_CONFIGURATIONS = (
    NdcConfiguration.L4_P4_K2,
    NdcConfiguration.L5_P3_K2,
    NdcConfiguration.L5_P4_K1,
)
_HYPHENATED = re.compile(r"(\d{4,6})-(\d{3,4})-(\d{1,2})", re.ASCII)


class NdcInvalid(ValidationFailed):
    """Text that is not an NDC in any of the forms we know."""

    code = "ndc-invalid"


class NdcAmbiguous(ValidationFailed):
    """Digits without hyphens that read as more than one NDC; `facts["candidates"]` lists them."""

    code = "ndc-ambiguous"


class NdcNotExpressible(ValidationFailed):
    """An NDC-12 asked for a form it does not have (10 digits, or 11 with a 6-digit labeler)."""

    code = "ndc-not-expressible"


@dataclass(frozen=True, slots=True)
class Ndc:
    """One NDC, kept as its three segments exactly as assigned.

    Two readings of the same NDC-11 (0002-0800-01 and 00002-800-01) are different values: the
    hyphen position is what the FDA assigned, and only the catalogue knows which one exists.
    """

    labeler: str
    product: str
    package: str

    def __post_init__(self) -> None:
        segments = (self.labeler, self.product, self.package)
        lengths = tuple(len(segment) for segment in segments)
        if not all(segment.isascii() and segment.isdigit() for segment in segments) or (
            lengths not in _CONFIGURATION_BY_LENGTHS
        ):
            raise NdcInvalid(
                f"“{'-'.join(segments)}” is not an NDC: the segments must be digits in a 4-4-2, "
                "5-3-2, 5-4-1 or 6-4-2 configuration.",
                segments=segments,
            )

    @property
    def configuration(self) -> NdcConfiguration:
        return _CONFIGURATION_BY_LENGTHS[(len(self.labeler), len(self.product), len(self.package))]

    @property
    def is_ndc12(self) -> bool:
        """True for an NDC assigned (or typed) in the 12-digit 6-4-2 form."""
        return self.configuration is NdcConfiguration.L6_P4_K2

    @property
    def hyphenated(self) -> str:
        """The FDA's hyphenated form: 10 digits as assigned, or 6-4-2 for an NDC-12."""
        return f"{self.labeler}-{self.product}-{self.package}"

    @property
    def ndc10_digits(self) -> str:
        """The ten digits without hyphens; an NDC-12 has none (it was never a 10-digit NDC)."""
        if self.is_ndc12:
            raise NdcNotExpressible(
                f"NDC {self.hyphenated} is a 12-digit NDC and has no 10-digit form.",
                ndc=self.hyphenated,
            )
        return self.labeler + self.product + self.package

    @property
    def ndc11(self) -> str:
        """The 5-4-2 billing form without hyphens.

        An NDC-12 has one only when its labeler starts with 0 (the 0 is dropped): a labeler with
        six significant digits cannot be written in 11 digits, and guessing would bill the wrong
        drug, so that raises `NdcNotExpressible`.
        """
        if self.is_ndc12:
            if self.labeler[0] != "0":
                raise NdcNotExpressible(
                    f"NDC {self.hyphenated} has a 6-digit labeler code and no 11-digit form: "
                    "use its 12-digit NDC.",
                    ndc=self.hyphenated,
                )
            return self.labeler[1:] + self.product + self.package
        return self.labeler.zfill(5) + self.product.zfill(4) + self.package.zfill(2)

    @property
    def ndc12(self) -> str:
        """The 6-4-2 form without hyphens: every segment left-padded, as the 2026 rule converts."""
        return self.labeler.zfill(6) + self.product.zfill(4) + self.package.zfill(2)

    def __str__(self) -> str:
        return self.hyphenated


def _only_digits(text: str, length: int, form: str) -> str:
    if len(text) != length or not (text.isascii() and text.isdigit()):
        raise NdcInvalid(f"An {form} has exactly {length} digits; “{text}” does not.", text=text)
    return text


def candidates_from_ndc10_digits(digits: str) -> list[Ndc]:
    """The three readings of ten digits without hyphens, in 4-4-2, 5-3-2, 5-4-1 order.

    All three are always well formed; they have three different NDC-11s.
    """
    _only_digits(digits, 10, "NDC without hyphens")
    return [
        Ndc(digits[:4], digits[4:8], digits[8:]),
        Ndc(digits[:5], digits[5:8], digits[8:]),
        Ndc(digits[:5], digits[5:9], digits[9:]),
    ]


def candidates_from_ndc11(digits: str) -> list[Ndc]:
    """Every NDC whose 11-digit form is `digits`, 10-digit readings in 4-4-2, 5-3-2, 5-4-1 order.

    A 10-digit NDC padded to 5-4-2 has a zero at the head of exactly the segment it padded, so
    each segment starting with 0 gives one reading. With no such zero no 10-digit NDC pads to
    these digits; the only NDC left is the 12-digit one whose labeler starts with 0.
    """
    _only_digits(digits, 11, "11-digit NDC")
    labeler, product, package = digits[:5], digits[5:9], digits[9:]
    readings = []
    if labeler[0] == "0":
        readings.append(Ndc(labeler[1:], product, package))
    if product[0] == "0":
        readings.append(Ndc(labeler, product[1:], package))
    if package[0] == "0":
        readings.append(Ndc(labeler, product, package[1:]))
    return readings or [Ndc("0" + labeler, product, package)]


def ndc_candidates(text: str) -> list[Ndc]:
    """Every NDC a person may have meant by `text`, typed in any form we accept.

    Hyphenated 10-digit and 6-4-2 forms name one NDC; 5-4-2 (with or without hyphens) and ten
    bare digits may name several. Twelve bare digits are refused: they collide with UPC-A, so an
    NDC-12 must be typed with its hyphens.
    """
    value = text.strip()
    match = _HYPHENATED.fullmatch(value)
    if match:
        labeler, product, package = match.groups()
        if (len(labeler), len(product), len(package)) == (5, 4, 2):
            return candidates_from_ndc11(labeler + product + package)
        if (len(labeler), len(product), len(package)) in _CONFIGURATION_BY_LENGTHS:
            return [Ndc(labeler, product, package)]
    elif value.isascii() and value.isdigit():
        if len(value) == 10:
            return candidates_from_ndc10_digits(value)
        if len(value) == 11:
            return candidates_from_ndc11(value)
        if len(value) == 12:
            raise NdcInvalid(
                f"“{value}” has 12 digits without hyphens: type a 12-digit NDC with its hyphens "
                "(6-4-2, e.g. 012345-6789-01).",
                text=value,
            )
    raise NdcInvalid(
        f"“{value}” is not an NDC: type it as printed on the package, e.g. 0002-8215-01, "
        "12345-678-90 or 12345-6789-0.",
        text=value,
    )


def parse_ndc(text: str) -> Ndc:
    """The one NDC `text` names; raises `NdcAmbiguous` when digits without hyphens read several."""
    candidates = ndc_candidates(text)
    if len(candidates) > 1:
        raise NdcAmbiguous(
            f"“{text.strip()}” can be read as "
            + ", ".join(candidate.hyphenated for candidate in candidates)
            + ": type the NDC with its hyphens as printed on the package.",
            candidates=candidates,
        )
    return candidates[0]


def ndc_from_ndc12_digits(digits: str) -> Ndc:
    """The 6-4-2 NDC written as twelve digits, where nothing else can be meant (GS1 AI 715)."""
    _only_digits(digits, 12, "NDC-12")
    return Ndc(digits[:6], digits[6:10], digits[10:])
