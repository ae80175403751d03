"""Celery tasks of the sign-in side: thin wrappers around services."""

from celery import shared_task
from django.db import OperationalError

from accounts import services

TRANSIENT = (OperationalError, ConnectionError, TimeoutError)


@shared_task(name="accounts.delete_expired_login_attempts", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def delete_expired_login_attempts() -> dict[str, int]:
    """Delete failed-sign-in records (they hold addresses) once the cool-off is over, and expired tokens."""
    return services.sign_in_records_delete_expired()
