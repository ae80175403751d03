"""Reads of the sign-in side."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken


def api_tokens_for_user(*, user: AbstractBaseUser) -> QuerySet[AuthToken]:
    """Return `user`'s unexpired API tokens, newest first."""
    unexpired = Q(expiry__gt=timezone.now()) | Q(expiry__isnull=True)
    tokens: QuerySet[AuthToken] = AuthToken.objects.filter(unexpired, user=user).order_by("-created")
    return tokens
