"""Logging filters that keep respondent metadata and sign-in secrets out of every log (PRIVACY.md rule 11)."""

import logging
import re

# Invitation links carry a token in the path (`/q/<token>`); request logs from
# runserver and django.request would otherwise record it.
SURVEY_PATH = re.compile(r"/q/[^\s\"'?]+")
REDACTED = "/q/[redacted]"
# A password reset link is a credential too until it is used or expires.
PASSWORD_RESET_PATH = re.compile(r"/accounts/reset/[^\s\"'?]+")
PASSWORD_RESET_REDACTED = "/accounts/reset/[redacted]"  # noqa: S105 (a placeholder, not a password)


def redact(text: str) -> str:
    """Return `text` with every survey token and password reset link replaced."""
    if "/q/" in text:
        text = SURVEY_PATH.sub(REDACTED, text)
    if "/accounts/reset/" in text:
        text = PASSWORD_RESET_PATH.sub(PASSWORD_RESET_REDACTED, text)
    return text


class RedactSurveyPathsFilter(logging.Filter):
    """Replace survey tokens in a record's message, arguments and traceback; drop client addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info:
            # Formatters print exc_text when it is set, so the traceback is formatted here, once,
            # and redacted; the exception itself (its message, its frames' variables) is dropped
            # so that no later handler can render it unredacted.
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # runserver and django.request attach the request (client address, headers, path).
        if hasattr(record, "request"):
            record.request = None
        return True
