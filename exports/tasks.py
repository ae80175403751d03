"""Celery tasks of researcher exports (queue `exports`): thin wrappers around services.

Arguments are export ids only; the zip is on disk and its name in the
database, never in the result backend.
"""

import logging
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

from exports import services

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


@shared_task(bind=True, name="exports.build_export", max_retries=MAX_RETRIES, acks_late=True)
def build_export(self: Task[Any, Any], export_id: str) -> str | None:
    """Build an export's zip; idempotent (a repeated or redelivered run finds nothing to claim)."""
    try:
        export = services.export_build(export_id=export_id)
    except services.ExportError as error:
        services.export_fail(export_id=export_id, reason=str(error))
        return None
    except TRANSIENT as error:
        if self.request.retries >= MAX_RETRIES:
            services.export_fail(
                export_id=export_id,
                reason=_("The database could not be reached several times in a row. Try again later."),
            )
            raise
        raise self.retry(exc=error, countdown=min(300, 10 * 2**self.request.retries)) from error
    except Exception:
        # The log names the export and the error type only: never a figure or an answer.
        logger.exception("Building export %s failed.", export_id)
        services.export_fail(
            export_id=export_id,
            reason=_("The export could not be prepared because of an internal error. It has been logged for the team."),
        )
        raise
    return str(export.pk) if export is not None else None


@shared_task(name="exports.reset_stuck_exports", max_retries=3)
def reset_stuck_exports() -> list[str]:
    """Sweeper: exports stuck in RUNNING go back to the queue, and waiting ones are enqueued again."""
    services.exports_reset_stuck()
    export_ids = services.exports_pending_ids()
    for export_id in export_ids:
        build_export.delay(export_id)
    return export_ids


@shared_task(name="exports.delete_expired_exports", max_retries=3)
def delete_expired_exports() -> int:
    """Delete the files of exports that expired or used up their downloads."""
    return services.exports_delete_expired()
