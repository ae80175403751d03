"""Logging filters that keep respondent metadata out of every log (PRIVACY.md rule 11)."""

import logging
import re

# Invitation links carry a token in the path (`/q/<token>`); request logs from
# runserver and django.request would otherwise record it.
SURVEY_PATH = re.compile(r"/q/[^\s\"'?]+")
REDACTED = "/q/[redacted]"


class RedactSurveyPathsFilter(logging.Filter):
    """Replace survey tokens in a record's message and arguments; drop client addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/q/" in message:
            record.msg = SURVEY_PATH.sub(REDACTED, message)
            record.args = None
        # runserver attaches the request (client address, headers) to its records.
        if hasattr(record, "request"):
            record.request = None
        return True
