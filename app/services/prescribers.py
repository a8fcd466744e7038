"""Prescribers: create, update and search, with NPI and DEA registration checks.

A DEA number whose second letter is not the initial of the prescriber's last name is a warning,
never a refusal: mid-level practitioners, people who changed their name by marriage and
institutional registrations (a hospital DEA with a suffix) all legitimately differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import Prescriber
from app.domain.identifiers import validate_dea, validate_npi
from app.domain.roles import Role
from app.errors import NotFound, StaleRecord, ValidationFailed
from app.services import contact
from app.services.unit_of_work import Actor, Database, require_role

ALL_ROLES = tuple(Role)
DEA_SCHEDULES = ("2", "2N", "3", "3N", "4", "5")


@dataclass(frozen=True)
class PrescriberDraft:
    last_name: str
    first_name: str
    npi: str
    credentials: str = ""
    dea_number: str = ""
    dea_schedules: frozenset[str] = frozenset()
    dea_expires_on: date | None = None
    state_license: str = ""
    phone: str = ""
    fax: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""

    def validated(self) -> PrescriberDraft:
        """A normalised copy, or `ValidationFailed` naming the first wrong field."""
        schedules = frozenset(value.strip().upper() for value in self.dea_schedules)
        unknown = sorted(schedules - set(DEA_SCHEDULES))
        if unknown:
            raise ValidationFailed(
                f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not DEA "
                f"registration schedules: use {', '.join(DEA_SCHEDULES)}.",
                field="dea_schedules",
                unknown=unknown,
            )
        dea = ""
        if self.dea_number.strip():
            try:
                dea = validate_dea(self.dea_number)
            except ValidationFailed as refused:
                raise ValidationFailed(refused.message, field="dea_number") from None
        elif schedules or self.dea_expires_on:
            raise ValidationFailed(
                "Enter the DEA number the schedules and expiry belong to.", field="dea_number"
            )
        try:
            npi = validate_npi(self.npi)
        except ValidationFailed as refused:
            raise ValidationFailed(refused.message, field="npi") from None
        return replace(
            self,
            last_name=contact.required(self.last_name, field="last_name", label="last name"),
            first_name=contact.required(self.first_name, field="first_name", label="first name"),
            npi=npi,
            credentials=contact.limited(
                self.credentials, field="credentials", label="credentials", max_length=32
            ),
            dea_number=dea,
            dea_schedules=schedules,
            state_license=contact.limited(
                self.state_license, field="state_license", label="state license", max_length=32
            ),
            phone=contact.phone(self.phone),
            fax=contact.phone(self.fax, field="fax", label="fax number"),
            address_line1=contact.limited(
                self.address_line1, field="address_line1", label="address", max_length=200
            ),
            address_line2=contact.limited(
                self.address_line2, field="address_line2", label="address", max_length=200
            ),
            city=contact.limited(self.city, field="city", label="city", max_length=100),
            state=contact.state_code(self.state),
            postal_code=contact.zip_code(self.postal_code),
        )


@dataclass(frozen=True)
class PrescriberSummary:
    id: int
    display_name: str
    last_name: str
    first_name: str
    credentials: str
    npi: str
    dea_number: str
    dea_schedules: frozenset[str]
    dea_expires_on: date | None
    state_license: str
    phone: str
    fax: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    version: int


@dataclass(frozen=True)
class PrescriberSaved:
    """The saved prescriber and the warnings the person saving should read."""

    prescriber: PrescriberSummary
    warnings: tuple[str, ...]


def schedules_text(schedules: frozenset[str]) -> str:
    """The stored form: comma-separated, in DEA order."""
    return ",".join(value for value in DEA_SCHEDULES if value in schedules)


def parse_schedules(stored: str) -> frozenset[str]:
    return frozenset(value for value in stored.split(",") if value)


def dea_warnings(draft: PrescriberDraft, today: date) -> tuple[str, ...]:
    """What is odd but lawful about a validated draft's DEA registration."""
    if not draft.dea_number:
        return ()
    found = []
    second = draft.dea_number[1]
    initial = draft.last_name[0].upper()
    if second != initial:
        found.append(
            f"The DEA number's second letter {second} is not the initial of the last name "
            f"({initial}). Mid-level practitioners, a name changed by marriage, or an "
            "institutional registration can explain it: check it against the registration."
        )
    if not draft.dea_schedules:
        found.append(
            "No DEA schedules are recorded: controlled-substance prescriptions from this "
            "prescriber will be refused until they are."
        )
    if draft.dea_expires_on is None:
        found.append(
            "No DEA expiry date is recorded: controlled-substance prescriptions from this "
            "prescriber will be refused until it is."
        )
    elif draft.dea_expires_on < today:
        found.append(
            f"The DEA registration expired on {draft.dea_expires_on:%m/%d/%Y}: "
            "controlled-substance prescriptions from this prescriber will be refused."
        )
    return tuple(found)


def _summary(row: Prescriber) -> PrescriberSummary:
    return PrescriberSummary(
        id=row.id,
        display_name=row.display_name,
        last_name=row.last_name,
        first_name=row.first_name,
        credentials=row.credentials,
        npi=row.npi,
        dea_number=row.dea_number or "",
        dea_schedules=parse_schedules(row.dea_schedules),
        dea_expires_on=row.dea_expires_on,
        state_license=row.state_license,
        phone=row.phone,
        fax=row.fax,
        address_line1=row.address_line1,
        address_line2=row.address_line2,
        city=row.city,
        state=row.state,
        postal_code=row.postal_code,
        version=row.version,
    )


def _columns(draft: PrescriberDraft) -> dict[str, Any]:
    values = asdict(draft)
    values["dea_schedules"] = schedules_text(draft.dea_schedules)
    values["dea_number"] = draft.dea_number or None
    return values


def _facts(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, date) else value
        for key, value in values.items()
    }


def _like_prefix(column: Any, text: str) -> ColumnElement[bool]:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"{escaped}%", escape="\\")


class PrescriberService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today

    def create_prescriber(self, actor: Actor, *, draft: PrescriberDraft) -> PrescriberSaved:
        require_role(actor, *ALL_ROLES, action="add prescribers")
        clean = draft.validated()
        with self._db.unit_of_work(actor) as uow:
            _refuse_duplicate_npi(uow.session, clean.npi, keep=None)
            row = Prescriber(**_columns(clean))
            uow.session.add(row)
            uow.session.flush()
            uow.audit("prescriber.created", row, after=_facts(_columns(clean)))
            return PrescriberSaved(_summary(row), dea_warnings(clean, self._today()))

    def update_prescriber(
        self, actor: Actor, prescriber_id: int, *, expected_version: int, draft: PrescriberDraft
    ) -> PrescriberSaved:
        require_role(actor, *ALL_ROLES, action="change prescribers")
        clean = draft.validated()
        with self._db.unit_of_work(actor) as uow:
            row = uow.session.get(Prescriber, prescriber_id)
            if row is None:
                raise NotFound(
                    f"There is no prescriber with id {prescriber_id}.", prescriber_id=prescriber_id
                )
            if row.version != expected_version:
                raise _stale()
            _refuse_duplicate_npi(uow.session, clean.npi, keep=row.id)
            new = _columns(clean)
            before = {key: getattr(row, key) for key in new}
            changed = [key for key in new if before[key] != new[key]]
            for key in changed:
                setattr(row, key, new[key])
            if changed:
                try:
                    uow.session.flush()
                except StaleDataError:
                    raise _stale() from None
                uow.audit(
                    "prescriber.updated",
                    row,
                    before=_facts({key: before[key] for key in changed}),
                    after=_facts({key: new[key] for key in changed}),
                )
            return PrescriberSaved(_summary(row), dea_warnings(clean, self._today()))

    def get(self, actor: Actor, prescriber_id: int) -> PrescriberSummary:
        require_role(actor, *ALL_ROLES, action="look up prescribers")
        with self._db.reading() as session:
            row = session.get(Prescriber, prescriber_id)
            if row is None:
                raise NotFound(
                    f"There is no prescriber with id {prescriber_id}.", prescriber_id=prescriber_id
                )
            return _summary(row)

    def search(self, actor: Actor, text: str, *, limit: int = 50) -> list[PrescriberSummary]:
        """By NPI (10 digits), DEA number (2 letters, 7 digits), or name as patients are."""
        require_role(actor, *ALL_ROLES, action="search prescribers")
        query = text.strip()
        condition: ColumnElement[bool]
        if re.fullmatch(r"\d{10}", query):
            condition = Prescriber.npi == query
        elif re.fullmatch(r"[A-Za-z][A-Za-z9]\d{7}(-\w+)?", query):
            condition = func.upper(Prescriber.dea_number).like(f"{query.upper()}%")
        elif "," in query:
            last, _, first = (part.strip() for part in query.partition(","))
            if not last:
                return []
            condition = _like_prefix(Prescriber.last_name, last)
            if first:
                condition = and_(condition, _like_prefix(Prescriber.first_name, first))
        else:
            words = query.split()
            if not words:
                return []
            if len(words) == 1:
                condition = _like_prefix(Prescriber.last_name, words[0])
            else:
                first, last = words[0], " ".join(words[1:])
                condition = or_(
                    and_(
                        _like_prefix(Prescriber.first_name, first),
                        _like_prefix(Prescriber.last_name, last),
                    ),
                    and_(
                        _like_prefix(Prescriber.last_name, first),
                        _like_prefix(Prescriber.first_name, last),
                    ),
                )
        with self._db.reading() as session:
            rows = session.scalars(
                select(Prescriber)
                .where(condition)
                .order_by(Prescriber.last_name, Prescriber.first_name, Prescriber.id)
                .limit(limit)
            ).all()
            return [_summary(row) for row in rows]


def _stale() -> StaleRecord:
    return StaleRecord(
        "This prescriber was changed by another workstation since you opened it; reopen it and "
        "enter your change again."
    )


def _refuse_duplicate_npi(session: Session, npi: str, *, keep: int | None) -> None:
    other = session.scalars(select(Prescriber).where(Prescriber.npi == npi)).first()
    if other is not None and other.id != keep:
        raise ValidationFailed(
            f"NPI {npi} already belongs to {other.display_name}: open that prescriber instead.",
            field="npi",
            prescriber_id=other.id,
        )
