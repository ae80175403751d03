"""Celery tasks of the analytics side (queue `analytics`): thin wrappers around services.

Arguments are wave ids only. Results never travel through the result
backend: the task returns the run id, the tables are in the database.
"""

import logging
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

from analytics import services
from surveys.models import Wave

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


@shared_task(bind=True, name="analytics.compute_breakdowns", max_retries=MAX_RETRIES, acks_late=True)
def compute_breakdowns(self: Task[Any, Any], wave_id: int) -> int | None:
    """Compute and store a closed wave's results; idempotent (a repeated run finds nothing to claim)."""
    try:
        run = services.breakdowns_compute(wave_id=wave_id)
    except Wave.DoesNotExist:
        logger.info("Wave %s no longer exists; no results computed.", wave_id)
        return None
    except services.AnalyticsError as error:
        services.run_fail(wave_id=wave_id, reason=str(error))
        return None
    except TRANSIENT as error:
        if self.request.retries >= MAX_RETRIES:
            services.run_fail(
                wave_id=wave_id,
                reason=_("The database could not be reached several times in a row. Try again later."),
            )
            raise
        raise self.retry(exc=error, countdown=min(300, 10 * 2**self.request.retries)) from error
    except Exception:
        # The log names the wave and the error type only: never a figure of the wave.
        logger.exception("Computing the results of wave %s failed.", wave_id)
        services.run_fail(
            wave_id=wave_id,
            reason=_(
                "The results could not be computed because of an internal error. It has been logged for the team."
            ),
        )
        raise
    return run.pk if run is not None else None


@shared_task(name="analytics.reset_stuck_runs", max_retries=3)
def reset_stuck_runs() -> list[int]:
    """Sweeper: runs stuck in RUNNING go back to the queue, and waiting runs are enqueued again."""
    services.runs_reset_stuck()
    wave_ids = services.runs_pending_wave_ids()
    for wave_id in wave_ids:
        compute_breakdowns.delay(wave_id)
    return wave_ids
