"""Shared fixtures. Real components are found or started here; a component that is
missing skips its tests on a developer's machine and fails them when
GESTALT_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gestalt.model import entities
from tests.support.docker import objects  # noqa: F401  (fixture)
from tests.support.image import gestalt_image  # noqa: F401  (fixture)
from tests.support.services import *  # noqa: F401,F403  (fixtures)


@pytest.fixture(autouse=True)
def _shared_empty_containers_stay_empty() -> Iterator[None]:
    """Every entity and connection without labels, attrs... shares one empty dict and list,
    and those with the same sources one list of them (model/entities.py): anything that
    changed one in place would change them all."""
    yield
    assert entities.EMPTY_DICT == {} and entities.EMPTY_LIST == [], \
        "a shared empty container of model/entities.py was changed in place"
    assert all(list(names) == shared for names, shared in entities.SHARED_SOURCES.items()), \
        "a shared list of sources of model/entities.py was changed in place"
