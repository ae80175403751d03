"""The demo coalition: results for every closed wave, the planted differences flagged, closing the open wave."""

import io

import pytest
from django.core.management import call_command
from django.test import TestCase
from rest_framework.test import APIClient

from analytics.models import AnalyticsRun
from surveys import services
from surveys.models import Wave

pytestmark = pytest.mark.django_db


def load_demo() -> None:
    """Load the demo, running what its commit queues (the results of the four closed waves), as a commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())


# docs/demo-data.md: (table, group, area) of the planted differences of 0.7 or more, and their sign.
PLANTED = [
    ("sector", "survivor-leaders", "power", -1),
    ("sector", "survivor-leaders", "survivor-inclusion", -1),
    ("sector", "victim-services", "enforcement-services", -1),
    ("financial", "just-getting-by", "resources", -1),
    ("race-ethnicity", "alone:white", "race-gender", 1),  # white respondents vs. respondents of colour
    ("pay-status", "volunteer", "capacity", -1),
    ("sector", "advocacy", "values", -1),
]


def test_the_demo_publishes_every_closed_wave_and_flags_the_planted_differences() -> None:
    load_demo()
    client = APIClient()
    client.login(username="leader", password="demo-leader-2026")  # noqa: S106 (the documented demo login)

    runs = AnalyticsRun.objects.filter(wave__coalition__slug="demo").order_by("wave__opens_at")
    assert [(run.wave.label, run.status) for run in runs] == [
        ("2025 Q4", "succeeded"),
        ("2026 Q1", "succeeded"),
        ("2026 Q2", "succeeded"),
        ("2026 Q3", "succeeded"),
    ]
    latest = Wave.objects.get(coalition__slug="demo", label="2026 Q3")
    flagged = {}
    for dimension, group, area, sign in PLANTED:
        body = client.get(f"/api/v1/waves/{latest.pk}/breakdowns/?dimension={dimension}&area={area}").json()
        cell = next(cell for cell in body["cells"] if cell["groups"] == [group])
        flagged[(group, area)] = (cell["flag"], (cell["gap"] or 0) * sign >= 0.5)
    assert flagged == {(group, area): (True, True) for _dimension, group, area, _sign in PLANTED}


def test_closing_the_demos_open_wave_computes_its_results() -> None:
    load_demo()
    wave = Wave.objects.get(coalition__slug="demo", status=Wave.Status.OPEN)

    with TestCase.captureOnCommitCallbacks(execute=True):
        services.wave_close(wave_id=wave.pk)

    run = AnalyticsRun.objects.get(wave=wave)
    assert (run.status, run.progress) == (AnalyticsRun.Status.SUCCEEDED, 100)
    client = APIClient()
    client.login(username="leader", password="demo-leader-2026")  # noqa: S106
    overall = client.get(f"/api/v1/waves/{wave.pk}/breakdowns/?dimension=overall&area=overall").json()["cells"]
    assert [(cell["n"], cell["suppressed"]) for cell in overall] == [(106, False)]
