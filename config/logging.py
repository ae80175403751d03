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
    """Replace survey tokens in a record's message, arguments and traceback; drop client addresses.

    Configuring it (every handler of settings.LOGGING has it) also redacts each record when it is
    created (`install_record_redaction`), so that a handler a library adds on its own, which the
    configuration never sees, receives redacted records too.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        install_record_redaction()

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    """Redact one record in place: message, arguments, traceback, stack; drop an attached request."""
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


def install_record_redaction() -> None:
    """Make every log record redacted from the moment it is created (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_survey_paths", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            redact_record(record)
        except Exception:  # noqa: BLE001, S110 - a record whose arguments do not format is left to the handlers' filter
            pass
        return record

    factory.redacts_survey_paths = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
