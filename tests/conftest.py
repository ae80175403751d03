"""Shared fixtures: a coalition with the default sectors and instrument, an open wave."""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import TestCase

from surveys import attestation, services, submission
from surveys.models import Coalition, Instrument, Invitation, Member, Wave
from surveys.tokens import token_for_invitation
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import MemberFactory

requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (set DATABASE_URL)",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the real-worker tests in one pytest-xdist process, one after the other (`--dist loadgroup`).

    Each starts a Celery worker on the same broker queues: two at once would take each other's tasks.
    """
    for item in items:
        if item.get_closest_marker("worker") is not None:
            item.add_marker(pytest.mark.xdist_group("real-worker"))


@pytest.fixture(autouse=True)
def _forget_cached_waves() -> None:
    # Test databases reuse wave ids; production never does.
    submission.wave_context_forget()


@pytest.fixture
def instrument(db: Any) -> Instrument:
    instrument, _created = services.instrument_load_default()
    return instrument


@pytest.fixture
def coalition(db: Any) -> Coalition:
    return services.coalition_create(slug="riverside", name="Riverside Partnership")


def add_members(coalition: Coalition, count: int, sector_slug: str = "victim-services", **fields: Any) -> list[Member]:
    sector = coalition.sectors.get(slug=sector_slug)
    return [MemberFactory(coalition=coalition, sector=sector, **fields) for _ in range(count)]


@pytest.fixture
def roster(coalition: Coalition) -> list[Member]:
    """Twelve members: six in victim services, four in law enforcement, two survivor-leaders."""
    return (
        add_members(coalition, 6, "victim-services")
        + add_members(coalition, 4, "law-enforcement")
        + add_members(coalition, 2, "survivor-leaders", language="es")
    )


@dataclass
class OpenWave:
    wave: Wave
    tokens: dict[str, str]  # member email -> token

    def token_of(self, member: Member) -> str:
        return self.tokens[member.email]


def platform_admin() -> User:
    """The superuser of the tests: a second person who may confirm any roster."""
    return User.objects.get_or_create(username="platform-admin", defaults={"is_superuser": True, "is_staff": True})[0]


def attest(wave: Wave, by: User | None = None) -> None:
    """Confirm the wave's current roster, as a leader or admin must before it opens."""
    coalition = Coalition.objects.get(pk=wave.coalition_id)
    attestation.roster_attest(wave_id=wave.pk, by=by or platform_admin(), revision=coalition.roster_revision)


def open_wave_for(coalition: Coalition, instrument: Instrument, label: str = "2026 Q4") -> OpenWave:
    wave = services.wave_create(coalition=coalition, label=label, instrument=instrument)
    attest(wave)
    # Run the invitation emails queued on commit, as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        wave = services.wave_open(wave_id=wave.pk)
    tokens = {
        invitation.member.email: token_for_invitation(invitation.id)
        for invitation in Invitation.objects.filter(wave=wave).select_related("member")
    }
    return OpenWave(wave=wave, tokens=tokens)


@pytest.fixture
def open_wave(coalition: Coalition, roster: list[Member], instrument: Instrument) -> OpenWave:
    return open_wave_for(coalition, instrument)


@pytest.fixture
def table_names() -> list[str]:
    return connection.introspection.table_names()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, once per test module (the browser tests)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own
    # database calls are synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
