"""Forms of the sign-in side."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.utils.crypto import salted_hmac

RESET_WINDOW_SECONDS = 60 * 60


def password_reset_request_count(email: str) -> int:
    """Count one more reset request for `email` in the current hour; return the count so far."""
    # A keyed hash: the cache never holds the address itself.
    digest = salted_hmac("accounts.password-reset", email.strip().casefold()).hexdigest()
    key = f"password-reset:{digest}"
    cache.add(key, 0, timeout=RESET_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=RESET_WINDOW_SECONDS)
        return 1


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most PASSWORD_RESET_REQUESTS_PER_HOUR emails per address.

    Requests over the limit find no account, so the page a visitor sees never changes: it
    reveals neither whether the address has an account nor whether the limit was reached.
    """

    def get_users(self, email: str) -> Iterable[Any]:
        if password_reset_request_count(email) > settings.PASSWORD_RESET_REQUESTS_PER_HOUR:
            return iter(())
        return super().get_users(email)
