"""The pharmacy profile and the first-run set-up of an empty installation."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from app.db.models import Pharmacy, User, UserRole
from app.domain.identifiers import validate_dea, validate_ncpdp_id, validate_npi
from app.domain.roles import Role
from app.errors import ValidationFailed
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor, Database, require_role
from app.services.users import USERNAME_PATTERN, check_password_strength

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "PR",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "GU",
        "VI",
    ]
)


@dataclass(frozen=True)
class PharmacyProfile:
    name: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    npi: str
    ncpdp_id: str
    dea_number: str
    address_line2: str = ""

    def validated(self) -> PharmacyProfile:
        """Return a normalised copy, or raise naming the first field that is wrong."""
        for field, label, value in (
            ("name", "pharmacy name", self.name),
            ("address_line1", "street address", self.address_line1),
            ("city", "city", self.city),
            ("phone", "phone number", self.phone),
        ):
            if not value.strip():
                raise ValidationFailed(f"Enter the {label}.", field=field)
        state = self.state.strip().upper()
        if state not in US_STATES:
            raise ValidationFailed(
                f"“{self.state}” is not a US state or territory code.", field="state"
            )
        postal = self.postal_code.strip()
        if not re.fullmatch(r"\d{5}(-\d{4})?", postal):
            raise ValidationFailed(
                f"“{postal}” is not a ZIP code (12345 or 12345-6789).", field="postal_code"
            )
        digits = re.sub(r"\D", "", self.phone)
        if len(digits) != 10:
            raise ValidationFailed(
                f"“{self.phone}” is not a 10-digit US phone number.", field="phone"
            )
        return PharmacyProfile(
            name=self.name.strip(),
            address_line1=self.address_line1.strip(),
            address_line2=self.address_line2.strip(),
            city=self.city.strip(),
            state=state,
            postal_code=postal,
            phone=f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            npi=validate_npi(self.npi),
            ncpdp_id=validate_ncpdp_id(self.ncpdp_id),
            dea_number=validate_dea(self.dea_number),
        )


def _profile_of(row: Pharmacy) -> PharmacyProfile:
    return PharmacyProfile(
        name=row.name,
        address_line1=row.address_line1,
        address_line2=row.address_line2,
        city=row.city,
        state=row.state,
        postal_code=row.postal_code,
        phone=row.phone,
        npi=row.npi,
        ncpdp_id=row.ncpdp_id,
        dea_number=row.dea_number,
    )


class PharmacyService:
    def __init__(self, database: Database, hasher: SecretHasher, workstation: str) -> None:
        self._db = database
        self._hasher = hasher
        self._workstation = workstation

    def needs_first_run(self) -> bool:
        """True for an installation with no users yet: the set-up dialog must run."""
        with self._db.reading() as session:
            return not session.scalar(select(func.count()).select_from(User))

    def profile(self) -> PharmacyProfile | None:
        with self._db.reading() as session:
            row = session.scalars(select(Pharmacy)).first()
            return _profile_of(row) if row else None

    def save_profile(self, actor: Actor, profile: PharmacyProfile) -> PharmacyProfile:
        require_role(
            actor, Role.ADMINISTRATOR, Role.PHARMACIST, action="change the pharmacy profile"
        )
        clean = profile.validated()
        with self._db.unit_of_work(actor) as uow:
            row = uow.session.scalars(select(Pharmacy)).first()
            before = asdict(_profile_of(row)) if row else None
            if row is None:
                row = Pharmacy(**asdict(clean))
                uow.session.add(row)
            else:
                for key, value in asdict(clean).items():
                    setattr(row, key, value)
            uow.audit("pharmacy.profile_saved", row, before=before, after=asdict(clean))
        return clean

    def first_run(
        self,
        profile: PharmacyProfile,
        *,
        admin_username: str,
        admin_full_name: str,
        admin_password: str,
    ) -> Actor:
        """Create the pharmacy and its first administrator-pharmacist; only on an empty system."""
        clean = profile.validated()
        username = admin_username.strip().lower()
        if not USERNAME_PATTERN.fullmatch(username):
            raise ValidationFailed("Choose a user name of lower-case letters and digits.")
        if not admin_full_name.strip():
            raise ValidationFailed("Enter the administrator's full name.")
        check_password_strength(admin_password)
        setup_actor = Actor(None, "first-run", "First-run set-up", frozenset(), self._workstation)
        with self._db.unit_of_work(setup_actor) as uow:
            if uow.session.scalar(select(func.count()).select_from(User)):
                raise ValidationFailed("RxBench is already set up: sign in instead.")
            user = User(
                username=username,
                full_name=admin_full_name.strip(),
                password_hash=self._hasher.hash(admin_password),
                roles=[
                    UserRole(role=Role.ADMINISTRATOR.value),
                    UserRole(role=Role.PHARMACIST.value),
                ],
            )
            pharmacy = uow.session.scalars(select(Pharmacy)).first() or Pharmacy(**asdict(clean))
            for key, value in asdict(clean).items():
                setattr(pharmacy, key, value)
            uow.session.add_all([user, pharmacy])
            uow.audit(
                "user.created", user, after={"username": username, "roles": sorted(user.role_names)}
            )
            uow.audit("pharmacy.profile_saved", pharmacy, after=asdict(clean))
            return Actor(
                user.id,
                user.username,
                user.full_name,
                frozenset({Role.ADMINISTRATOR, Role.PHARMACIST}),
                self._workstation,
            )
