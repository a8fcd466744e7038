"""The real demo catalogue (about 80 FDA products) imported, so the drug search has real drugs."""

from __future__ import annotations

from app.bootstrap import Services
from app.demo import DEMO_CATALOGUE_DIR, DEMO_CATALOGUE_SNAPSHOT
from app.services.unit_of_work import Actor


def import_demo_catalogue(services: Services, admin: Actor) -> None:
    """Through the catalogue import, which also fills the search index the field queries."""
    services.catalogue.import_directory(
        admin, DEMO_CATALOGUE_DIR, snapshot_date=DEMO_CATALOGUE_SNAPSHOT
    )
