"""Shared fixtures. Real components are found or started here; a component that is
missing skips its tests on a developer's machine and fails them when
GESTALT_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

from tests.support.docker import objects  # noqa: F401  (fixture)
from tests.support.image import gestalt_image  # noqa: F401  (fixture)
from tests.support.services import *  # noqa: F401,F403  (fixtures)
