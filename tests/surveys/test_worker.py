"""Integration with a real Celery worker, Redis and the database (skipped without REDIS_URL).

Nothing is mocked: the test process enqueues through Redis, a separate
`celery worker` process runs the task against the same test database.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from surveys import services, tasks
from surveys.models import (
    Coalition,
    Instrument,
    Invitation,
    Member,
    PendingSubmission,
    Response,
    Wave,
    WaveReminder,
)
from surveys.tokens import token_for_invitation, token_hash
from tests.conftest import attest

ROOT = Path(__file__).resolve().parents[2]
requires_worker = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")


def _database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    return f"postgres://{user}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[None]:
    """Start a real worker on every queue against the test database; stop it afterwards."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "-Q", "default,email,analytics,exports", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("The Celery worker did not start: " + (tmp_path / "worker.log").read_text())
        yield
    finally:
        celery_app.conf.task_always_eager = previous
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


@requires_worker
@pytest.mark.worker
def test_a_worker_sends_invitations_enqueued_on_commit_and_closes_due_waves(
    worker: None, coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    wave = services.wave_create(coalition=coalition, label="2026 Q4", instrument=instrument)
    attest(wave)
    services.wave_open(wave_id=wave.pk)  # enqueues email.send_invitations on commit

    _wait_for(lambda: WaveReminder.objects.filter(wave=wave, day=0, recipients=12).exists())

    invitations = list(Invitation.objects.filter(wave=wave)[:3])
    for value, invitation in enumerate(invitations, start=1):
        services.response_submit(token_hash=token_hash(token_for_invitation(invitation.id)), answers={"power-1": value})
    Wave.objects.filter(pk=wave.pk).update(
        opens_at=timezone.now() - timedelta(days=21), closes_at=timezone.now() - timedelta(seconds=1)
    )

    closed = tasks.close_due_waves.delay().get(timeout=60)

    assert closed == [wave.pk]
    assert Wave.objects.get(pk=wave.pk).status == Wave.Status.CLOSED
    assert sorted(Response.objects.filter(wave=wave).values_list("answers__power-1", flat=True)) == [1, 2, 3]
    assert PendingSubmission.objects.count() == 0
