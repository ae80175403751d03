"""Sign-in fixtures: django-axes switched on (the test settings keep it off), an empty cache."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

PASSWORD = "Riverside-harbour-2026"


@pytest.fixture(autouse=True)
def _axes_enabled(settings: Any) -> None:
    settings.AXES_ENABLED = True


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # The reset-request counters live in the cache, which outlives a test's database.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def account(db: Any) -> User:
    """A staff account (the admin login accepts only staff)."""
    return User.objects.create_user(username="lee", email="lee@example.org", password=PASSWORD, is_staff=True)
