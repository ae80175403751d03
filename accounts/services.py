"""Writes of the sign-in side: API tokens, lockouts, expired records."""

from datetime import datetime

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings


class TokenLimitReached(Exception):
    """The user already holds as many unexpired API tokens as allowed."""


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """Create an API token for `user`; return the row (a digest only) and the token, shown once."""
    # Lock the user's row so that two concurrent requests cannot both pass the limit.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    now = timezone.now()
    AuthToken.objects.filter(user=user, expiry__lte=now).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and AuthToken.objects.filter(user=user).count() >= limit:
        raise TokenLimitReached
    created: tuple[AuthToken, str] = AuthToken.objects.create(user=user)
    return created


def api_token_revoke(*, user: AbstractBaseUser, digest: str) -> int:
    """Delete `user`'s token with this digest; return how many rows went (0 or 1)."""
    deleted: int = AuthToken.objects.filter(user=user, digest=digest).delete()[0]
    return deleted


def api_tokens_revoke_all(*, user: AbstractBaseUser) -> int:
    """Delete every API token of `user` (after a password change or reset: a stolen password's tokens die too)."""
    deleted: int = AuthToken.objects.filter(user=user).delete()[0]
    return deleted


def login_lockout_clear(*, username: str) -> int:
    """Forget every failed sign-in for `username` (after a password reset proves who they are)."""
    cleared: int = axes_reset(username=username)
    return cleared


def sign_in_records_delete_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Delete failed-sign-in records older than the cool-off and expired API tokens."""
    now = now or timezone.now()
    attempts, _attempts_by_model = AccessAttempt.objects.filter(
        attempt_time__lte=now - settings.AXES_COOLOFF_TIME
    ).delete()
    tokens, _tokens_by_model = AuthToken.objects.filter(expiry__lte=now).delete()
    return {"login_attempts": attempts, "api_tokens": tokens}
