"""The D.0 segment structure: a fixed-width header, then segments of ID-prefixed fields.

On the wire (ASCII): the header, then each transmission-level segment as segment separator
0x1E, field separator 0x1C, "AM" + the two-digit segment ID (111-AM Segment Identification),
then each field as 0x1C + its two-character field ID + value. Each transaction group starts
with group separator 0x1D and holds that transaction's segments in the same form.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from app.domain.ncpdp.errors import (
    BadFieldValue,
    MalformedMessage,
    MissingSeparator,
    TruncatedMessage,
    UnknownSegment,
)
from app.domain.ncpdp.fields import FIELD_SEPARATOR, GROUP_SEPARATOR, SEGMENT_SEPARATOR

SEGMENT_ID_FIELD = "AM"


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its ID and its fields in order (a field ID repeats for repeating fields)."""

    segment_id: str
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, segment_id: str, fields: Iterable[tuple[str, str | None]]) -> Segment:
        """A segment without the fields whose value is None (D.0 omits unused fields)."""
        return cls(segment_id, tuple((fid, value) for fid, value in fields if value is not None))

    def first(self, field_id: str) -> str | None:
        return next((value for fid, value in self.fields if fid == field_id), None)

    def every(self, field_id: str) -> list[str]:
        return [value for fid, value in self.fields if fid == field_id]

    def required(self, field_id: str, name: str) -> str:
        value = self.first(field_id)
        if value is None or value == "":
            raise BadFieldValue(
                f"The {name} ({field_id}) is missing from segment {self.segment_id}.",
                field=field_id,
                segment=self.segment_id,
            )
        return value

    def encode(self) -> str:
        fields = "".join(FIELD_SEPARATOR + fid + value for fid, value in self.fields)
        return SEGMENT_SEPARATOR + FIELD_SEPARATOR + SEGMENT_ID_FIELD + self.segment_id + fields


@dataclass(frozen=True, slots=True)
class Transmission:
    """A decoded transmission: header text, transmission-level segments, transaction groups."""

    header: str
    segments: tuple[Segment, ...]
    groups: tuple[tuple[Segment, ...], ...]

    def segment(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.segment_id == segment_id), None)

    def encode(self) -> bytes:
        text = self.header + "".join(segment.encode() for segment in self.segments)
        for group in self.groups:
            text += GROUP_SEPARATOR + "".join(segment.encode() for segment in group)
        return text.encode("ascii")


def group_segment(group: tuple[Segment, ...], segment_id: str) -> Segment | None:
    return next((s for s in group if s.segment_id == segment_id), None)


def decode_transmission(
    data: bytes,
    *,
    header_length: int,
    transmission_ids: Collection[str],
    transaction_ids: Collection[str],
    kind: str,
) -> Transmission:
    """Split bytes into header, segments and groups; refuse anything that breaks the structure."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        raise MalformedMessage(
            f"The {kind} has a byte that is not ASCII at position {error.start}.",
            position=error.start,
        ) from None
    if len(text) < header_length:
        raise TruncatedMessage(
            f"The {kind} is {len(text)} characters long, shorter than its "
            f"{header_length}-character header.",
            length=len(text),
        )
    header, body = text[:header_length], text[header_length:]
    if any(separator in header for separator in (SEGMENT_SEPARATOR, GROUP_SEPARATOR)):
        raise TruncatedMessage(
            f"The {kind}'s {header_length}-character header is cut short by a separator."
        )
    if body and not body.startswith((SEGMENT_SEPARATOR, GROUP_SEPARATOR)):
        raise MissingSeparator(
            f"The {kind} has no segment separator (0x1E) after its header.", position=header_length
        )
    parts = body.split(GROUP_SEPARATOR)
    segments = _segments(parts[0], transmission_ids, kind, "transmission")
    groups = tuple(_segments(part, transaction_ids, kind, "transaction") for part in parts[1:])
    return Transmission(header, segments, groups)


def _segments(text: str, allowed: Collection[str], kind: str, level: str) -> tuple[Segment, ...]:
    if not text:
        return ()
    if not text.startswith(SEGMENT_SEPARATOR):
        raise MissingSeparator(
            f"A {level} group of the {kind} does not start with a segment separator (0x1E)."
        )
    return tuple(
        _segment(piece, allowed, kind, level) for piece in text.split(SEGMENT_SEPARATOR)[1:]
    )


def _segment(piece: str, allowed: Collection[str], kind: str, level: str) -> Segment:
    if not piece.startswith(FIELD_SEPARATOR):
        raise MissingSeparator(
            f"A segment of the {kind} does not start with a field separator (0x1C)."
        )
    raw_fields = piece[1:].split(FIELD_SEPARATOR)
    identification = raw_fields[0]
    if len(identification) != 4 or not identification.startswith(SEGMENT_ID_FIELD):
        raise BadFieldValue(
            f"A segment of the {kind} does not begin with its identification "
            f"(111-AM): “{identification[:10]}”.",
        )
    segment_id = identification[2:]
    if segment_id not in allowed:
        raise UnknownSegment(
            f"Segment {segment_id} is not a {level}-level segment of a {kind}.",
            segment=segment_id,
        )
    fields = []
    for raw in raw_fields[1:]:
        if len(raw) < 2:
            raise BadFieldValue(
                f"Segment {segment_id} of the {kind} has a field without its two-character ID.",
                segment=segment_id,
            )
        fields.append((raw[:2], raw[2:]))
    return Segment(segment_id, tuple(fields))
