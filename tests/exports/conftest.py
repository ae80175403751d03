"""A closed wave with published results, a researcher with a grant and an accepted agreement."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import TestCase
from rest_framework.test import APIClient

from analytics import services as analytics_services
from exports import services
from surveys.models import Coalition, Instrument, Wave
from tests.analytics.conftest import Person, closed_wave_with


def people() -> list[Person]:
    """60 respondents in four sectors, two genders; every class of sector × gender holds 5 or more."""
    result = [Person("victim-services", ("woman",), "no", "comfortable") for _ in range(18)]
    result += [Person("victim-services", ("man",), "no", "struggling") for _ in range(8)]
    result += [Person("law-enforcement", ("man",), "no", "comfortable") for _ in range(10)]
    result += [Person("law-enforcement", ("woman",), "no", "comfortable") for _ in range(6)]
    result += [Person("survivor-leaders", ("woman",), "yes", "struggling") for _ in range(11)]
    result += [Person("advocacy", ("woman",), "no", "struggling") for _ in range(6)]
    # One person answers "don't know" and "no working relationship": both have codes of their own.
    result.append(Person("advocacy", ("woman",), "no", "struggling", extra={"power-2": "na", "pair:funders": "none"}))
    return result


@dataclass
class Setup:
    coalition: Coalition
    wave: Wave
    researcher: User
    client: APIClient


@pytest.fixture
def exports_root(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORTS_ROOT = tmp_path / "exports"
    return Path(settings.EXPORTS_ROOT)


def published_wave(coalition: Coalition, instrument: Instrument, **options: Any) -> Wave:
    wave = closed_wave_with(coalition, instrument, people(), **options)
    analytics_services.breakdowns_compute(wave_id=wave.pk)
    return wave


def researcher_with_grant(coalition: Coalition, username: str = "ana", *, accept: bool = True) -> User:
    researcher = User.objects.create_user(username=username, password="x-unused-password")  # noqa: S106
    # A platform admin asks and a second admin approves: two people, as every grant needs.
    requester = User.objects.get_or_create(username="admin-of-" + coalition.slug, defaults={"is_superuser": True})[0]
    approver = User.objects.get_or_create(username="second-admin", defaults={"is_superuser": True})[0]
    grant = services.grant_request(researcher=researcher, coalition=coalition, by=requester)
    services.grant_approve(grant=grant, by=approver)
    if accept:
        # A transactional test (the real worker's) empties the tables, the migration's agreement included.
        agreement = services.agreement_ensure_default()
        services.agreement_accept(user=researcher, version=agreement.version)
    return researcher


@pytest.fixture
def setup(coalition: Coalition, instrument: Instrument, exports_root: Path) -> Setup:
    wave = published_wave(coalition, instrument)
    researcher = researcher_with_grant(coalition)
    client = APIClient()
    client.force_authenticate(researcher)
    return Setup(coalition=coalition, wave=wave, researcher=researcher, client=client)


def request_export(client: APIClient, wave_ids: list[int]) -> Any:
    """POST an export and run what the commit enqueues (the job, in-process or on the worker)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/api/v1/exports/", {"waves": wave_ids}, format="json")
