"""django-axes hooks: two failure counters, the client address, the neutral lockout answer."""

import ipaddress
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

API_PREFIX = "/api/"


def lockout_message() -> str:
    """Return the lockout text: the same whether or not the username exists."""
    return _("Too many failed sign-in attempts. Try again in an hour, or reset your password.")


class LoginAttemptsHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes is untyped
    """Count failures per (username, address) and per username, each against its own limit.

    axes compares one number with AXES_FAILURE_LIMIT; the username counter is scaled onto that
    limit so that it locks at LOGIN_FAILURES_PER_USERNAME + 1 failures from any addresses.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        attempts = self.get_user_attempts(request, credentials)
        if len(attempts) != 2:
            raise ImproperlyConfigured('AXES_LOCKOUT_PARAMETERS must be [["username", "ip_address"], "username"].')
        per_address, per_username = (
            queryset.aggregate(total=Sum("failures_since_start"))["total"] or 0 for queryset in attempts
        )
        limit: int = settings.AXES_FAILURE_LIMIT
        username_limit: int = settings.LOGIN_FAILURES_PER_USERNAME + 1
        # Integer scaling: per_username * limit // username_limit reaches limit exactly when
        # per_username reaches username_limit.
        return max(per_address, per_username * limit // username_limit)


def client_ip_address(request: HttpRequest) -> str | None:
    """Return the client's address: REMOTE_ADDR, or the one seen by the outermost trusted proxy."""
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass  # Not an address: fall back to the connection's, never store garbage.
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """Answer a locked-out sign-in with 429: JSON on the API, the lockout page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"code": "locked_out", "detail": lockout_message()}, status=429)
    return render(request, "registration/lockout.html", status=429)
