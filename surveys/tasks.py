"""Celery tasks of the collection side: thin wrappers around services.

Task arguments are wave ids only: never a token, member or answer.
"""

import logging
import smtplib

from celery import shared_task
from django.core.management import call_command
from django.db import OperationalError

from surveys import services
from surveys.models import Wave

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, ConnectionError, TimeoutError)
# A mail server that is down or refusing for a moment: try again later.
MAIL_TRANSIENT = (*TRANSIENT, smtplib.SMTPException, OSError)


@shared_task(name="surveys.open_due_waves", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def open_due_waves() -> list[int]:
    return services.waves_open_due()


@shared_task(name="surveys.close_due_waves", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def close_due_waves() -> list[int]:
    return services.waves_close_due()


@shared_task(name="surveys.release_pending_pools", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def release_pending_pools() -> int:
    return services.pending_release_all()


@shared_task(name="email.send_invitations", autoretry_for=MAIL_TRANSIENT, retry_backoff=True, max_retries=5)
def send_invitations(wave_id: int) -> int:
    try:
        return services.invitations_send(wave_id=wave_id)
    except Wave.DoesNotExist:
        logger.info("Wave %s no longer exists; no invitations sent.", wave_id)
        return 0


@shared_task(name="email.send_due_reminders", autoretry_for=MAIL_TRANSIENT, retry_backoff=True, max_retries=5)
def send_due_reminders() -> int:
    return services.reminders_send_due()


@shared_task(name="surveys.clear_expired_sessions", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def clear_expired_sessions() -> None:
    """Delete expired sessions, including abandoned survey sessions (they hold a token hash)."""
    call_command("clearsessions")
