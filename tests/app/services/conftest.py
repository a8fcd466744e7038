"""Service-test fixtures: the demo subset of the real FDA catalogue in the test database."""

from __future__ import annotations

import pytest

from app.bootstrap import Services
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.services.unit_of_work import Actor


@pytest.fixture
def catalogue(services: Services, admin: Actor) -> Services:
    """Load resources/demo/ndc-demo (about 80 real products) as the demo loader does."""
    load_catalogue_subset(services.database, admin, DEMO_CATALOGUE_DIR)
    return services
