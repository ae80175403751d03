"""Closed waves with chosen respondents, for the job, the results API and the attacks on it."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.contrib.auth.models import User

from surveys import services
from surveys.models import Coalition, Instrument, Member, Response, Wave
from tests.factories import MemberFactory

SCALE_ITEMS_CACHE: dict[int, list[str]] = {}


@dataclass(frozen=True)
class Person:
    """A respondent: sector and social location; every scale item is answered."""

    sector: str
    gender: tuple[str, ...] = ()
    lived: str | None = None
    financial: str | None = None
    score: int | None = None  # every item's answer; drawn when None
    extra: dict[str, Any] = field(default_factory=dict)

    def answers(self, items: Sequence[str], rng: np.random.Generator) -> dict[str, Any]:
        answers: dict[str, Any] = {
            item: int(self.score if self.score is not None else rng.integers(1, 6)) for item in items
        }
        if self.gender:
            answers["gender"] = list(self.gender)
        if self.lived is not None:
            answers["lived-experience"] = self.lived
        if self.financial is not None:
            answers["financial"] = self.financial
        answers.update(self.extra)
        return answers


def scale_items(instrument: Instrument) -> list[str]:
    if instrument.pk not in SCALE_ITEMS_CACHE:
        SCALE_ITEMS_CACHE[instrument.pk] = [
            item["slug"]
            for section in instrument.definition["sections"]
            for item in section["items"]
            if item["type"] == "scale"
        ]
    return SCALE_ITEMS_CACHE[instrument.pk]


def closed_wave_with(
    coalition: Coalition,
    instrument: Instrument,
    people: Sequence[Person],
    *,
    label: str = "2026 Q3",
    opens_at: datetime | None = None,
    seed: int = 7,
) -> Wave:
    """Return a closed wave of `coalition` holding one response per person (no results computed yet)."""
    opens_at = opens_at or datetime(2026, 7, 1, tzinfo=UTC)
    wave = services.wave_create(
        coalition=coalition, label=label, instrument=instrument, opens_at=opens_at, closes_at=opens_at + timedelta(21)
    )
    wave.status = Wave.Status.CLOSED
    wave.sectors_snapshot = [
        {"slug": sector.slug, "names": sector.names, "is_sensitive": sector.is_sensitive}
        for sector in coalition.sectors.filter(is_active=True).order_by("position", "slug")
    ]
    wave.save(update_fields=["status", "sectors_snapshot"])
    rng = np.random.default_rng(seed)
    items = scale_items(instrument)
    Response.objects.bulk_create(
        Response(wave=wave, sector=person.sector, answers=person.answers(items, rng)) for person in people
    )
    return wave


def login_with_role(coalition: Coalition, role: str, username: str) -> User:
    """Return a user holding `role` in `coalition` (a roster member with a login)."""
    user = User.objects.create_user(username=username, password="x-unused-password")  # noqa: S106
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="other"), role=role, user=user)
    return user


def all_cells(client: Any, wave: Wave, query: str = "") -> list[dict[str, Any]]:
    """Return every cell of the breakdowns endpoint, following its pages."""
    cells: list[dict[str, Any]] = []
    page = 1
    while True:
        separator = "&" if query else ""
        response = client.get(f"/api/v1/waves/{wave.pk}/breakdowns/?{query}{separator}page={page}")
        assert response.status_code == 200, response.content
        body = response.json()
        cells += body["cells"]
        if page >= body["pages"]:
            return cells
        page += 1


__all__ = ["Member", "Person", "all_cells", "closed_wave_with", "login_with_role", "scale_items"]
