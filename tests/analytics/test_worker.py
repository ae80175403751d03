"""Closing a wave on a real Celery worker computes its results there (PostgreSQL or SQLite + Redis + a worker).

Skipped without REDIS_URL; `.ci/run` runs it against the real services.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import AnalyticsRun
from surveys import services, tasks
from surveys.models import Coalition, Instrument, Invitation, Member, Wave
from surveys.tokens import token_for_invitation
from tests.analytics.conftest import login_with_role
from tests.conftest import attest
from tests.surveys.test_worker import _wait_for, requires_worker, worker  # noqa: F401 (the fixture)


@requires_worker
@pytest.mark.worker
@pytest.mark.usefixtures("worker")
def test_a_wave_closed_by_the_worker_gets_its_results_from_the_worker(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    wave = services.wave_create(coalition=coalition, label="2026 Q4", instrument=instrument)
    attest(wave)
    services.wave_open(wave_id=wave.pk)
    for invitation in Invitation.objects.filter(wave=wave):
        token_hash = services.submission_token_hash(token_for_invitation(invitation.id))
        services.response_submit(token_hash=token_hash, answers={"power-1": 2, "gender": ["woman"]})
    Wave.objects.filter(pk=wave.pk).update(
        opens_at=timezone.now() - timedelta(days=21), closes_at=timezone.now() - timedelta(seconds=1)
    )

    assert tasks.close_due_waves.delay().get(timeout=60) == [wave.pk]
    # wave_close queued analytics.compute_breakdowns on commit; the worker takes it from the analytics queue.
    _wait_for(lambda: AnalyticsRun.objects.filter(wave=wave, status=AnalyticsRun.Status.SUCCEEDED).exists(), 120)

    client = APIClient()
    client.force_authenticate(login_with_role(coalition, "leader", "leader"))
    body = client.get(f"/api/v1/waves/{wave.pk}/breakdowns/?dimension=overall&area=power-1").json()
    assert body["results"]["status"] == "succeeded"
    assert [(cell["n"], cell["mean"], cell["suppressed"]) for cell in body["cells"]] == [(12, 2.0, False)]
