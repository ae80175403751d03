"""Invitation tokens.

A token is derived from the invitation's random id with a server-side key
(HMAC-SHA256), so reminders can repeat a member's link without the database
ever holding a token: only SHA-256 of each token is stored. Someone holding a
database dump but not the key can neither read nor recompute a token.
"""

import base64
import hashlib
import hmac
import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TOKEN_LENGTH = 43


def _key() -> bytes:
    key = settings.INVITATION_TOKEN_KEY
    if not key:
        raise ImproperlyConfigured("INVITATION_TOKEN_KEY is not set.")
    return str(key).encode("utf-8")


def token_for_invitation(invitation_id: uuid.UUID) -> str:
    """Return the link token of an invitation."""
    digest = hmac.new(_key(), b"invitation:" + invitation_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_is_well_formed(token: object) -> bool:
    """Tell whether `token` could be a token at all, before touching the database."""
    return (
        isinstance(token, str)
        and len(token) == TOKEN_LENGTH
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    )
