"""Invitation tokens never reach a log: every logger Django sets up, every handler, tracebacks too."""

import copy
import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.utils.log import AdminEmailHandler, configure_logging

from config.logging import RedactSurveyPathsFilter
from surveys.tokens import token_for_invitation

TOKEN = token_for_invitation(uuid.UUID("6f1c2a9e-4b7d-4c3e-9a2b-1d5e8f7a0c34"))


def failing_view(request: HttpRequest, token: str) -> HttpResponse:
    raise RuntimeError(f"could not open /q/{token}")


# This module is also the URLconf of the 500 test: a survey-like route that fails.
urlpatterns = [path("q/<str:token>/fail", failing_view)]


def every_logger() -> list[logging.Logger]:
    named = [logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    return [logging.getLogger(), *named]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put every logger back exactly as it was: the test reconfigures logging inside capsys."""
    saved = [
        (logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled) for logger in every_logger()
    ]
    yield
    for logger, handlers, level, propagate, disabled in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def configure(settings: Any, caplog: pytest.LogCaptureFixture, logging_config: dict[str, Any]) -> None:
    """Configure logging as Django does at start-up, then let caplog see what the handlers see."""
    configure_logging(settings.LOGGING_CONFIG, logging_config)
    for name in ("", "django", "django.server", "django.request", "django.security"):
        logging.getLogger(name).addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)


def everything_logged(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out, err = capsys.readouterr()
    records = "\n".join(repr(vars(record)) for record in caplog.records)
    return "\n".join([out, err, caplog.text, records])


@pytest.mark.django_db
def test_a_csrf_failure_on_a_survey_link_logs_no_token_with_debug_on(
    settings: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = True
    configure(settings, caplog, settings.LOGGING)

    response = Client(enforce_csrf_checks=True).post(f"/q/{TOKEN}", {"answer": "1"})

    assert response.status_code == 403
    logged = everything_logged(capsys, caplog)
    assert TOKEN not in logged
    assert "WARNING django.security.csrf Forbidden (CSRF cookie not set.): /q/[redacted]" in logged
    assert [record.name for record in caplog.records] == ["django.security.csrf"]


def test_every_handler_of_every_logger_carries_the_redaction_filter(
    settings: Any, caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = True
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

    # Every handler the configuration sets up (a NullHandler writes nothing). A handler a library
    # adds by itself later is covered by the record factory (the next test).
    configured = [logging.getLogger(), *(logging.getLogger(name) for name in settings.LOGGING["loggers"])]
    handlers = {
        handler for logger in configured for handler in logger.handlers if not isinstance(handler, logging.NullHandler)
    }

    assert handlers != set()
    assert [
        handler for handler in handlers if not any(isinstance(f, RedactSurveyPathsFilter) for f in handler.filters)
    ] == []
    assert [handler for handler in handlers if isinstance(handler, AdminEmailHandler)] == []
    for name in ("django", "django.server", "django.request", "django.security"):
        assert logging.getLogger(name).propagate is False, name


def test_a_handler_a_library_adds_by_itself_receives_redacted_records(settings: Any, restored_logging: None) -> None:
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    stream = io.StringIO()
    foreign = logging.StreamHandler(stream)  # no filter: as a library would add it
    library = logging.getLogger("some.library")
    library.addHandler(foreign)
    try:
        library.warning("Fetched %s", f"/q/{TOKEN}")
        try:
            raise ValueError(f"/q/{TOKEN}")
        except ValueError:
            library.exception("Failed")
    finally:
        library.removeHandler(foreign)

    written = stream.getvalue()
    assert TOKEN not in written
    assert written.startswith("Fetched /q/[redacted]\nFailed\n")
    assert "ValueError: /q/[redacted]" in written


@pytest.mark.django_db
def test_a_404_under_a_survey_link_is_logged_by_django_request_without_the_token(
    settings: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = True
    # An operator who turns django.request up to WARNING logs every 404.
    logging_config = copy.deepcopy(settings.LOGGING)
    logging_config["loggers"]["django.request"]["level"] = "WARNING"
    configure(settings, caplog, logging_config)

    response = Client().get(f"/q/{TOKEN}/extra")

    assert response.status_code == 404
    logged = everything_logged(capsys, caplog)
    assert TOKEN not in logged
    assert "WARNING django.request Not Found: /q/[redacted]" in logged


@pytest.mark.django_db
def test_a_500_under_a_survey_link_logs_no_token_in_the_message_or_the_traceback(
    settings: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.test_logging"
    configure(settings, caplog, settings.LOGGING)

    response = Client(raise_request_exception=False).get(f"/q/{TOKEN}/fail")

    assert response.status_code == 500
    logged = everything_logged(capsys, caplog)
    assert TOKEN not in logged
    assert "ERROR django.request Internal Server Error: /q/[redacted]" in logged
    assert "RuntimeError: could not open /q/[redacted]" in logged


@pytest.mark.django_db
def test_a_500_sends_no_email_to_the_admins(
    settings: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.org")]
    settings.ROOT_URLCONF = "tests.test_logging"
    configure(settings, caplog, settings.LOGGING)

    response = Client(raise_request_exception=False).get(f"/q/{TOKEN}/fail")

    assert response.status_code == 500
    assert mail.outbox == []
    assert TOKEN not in everything_logged(capsys, caplog)


def test_the_development_server_log_line_is_redacted(
    settings: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    settings.DEBUG = True
    configure(settings, caplog, settings.LOGGING)

    # As django.core.servers.basehttp.WSGIRequestHandler.log_message logs a request.
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"GET /q/{TOKEN} HTTP/1.1", "302", "0", extra={"request": object(), "server_time": "now"}
    )

    logged = everything_logged(capsys, caplog)
    assert TOKEN not in logged
    assert 'INFO django.server "GET /q/[redacted] HTTP/1.1" 302 0' in logged


@pytest.mark.parametrize(
    ("message", "args", "expected"),
    [
        pytest.param("Not Found: %s", (f"/q/{TOKEN}",), "Not Found: /q/[redacted]", id="argument"),
        pytest.param("Not Found: %(path)s", ({"path": f"/q/{TOKEN}"},), "Not Found: /q/[redacted]", id="mapping"),
        pytest.param(f"GET /q/{TOKEN}?x=1", (), "GET /q/[redacted]?x=1", id="message"),
        pytest.param(
            "Reset: %s", ("/accounts/reset/MQ/abc-123def/",), "Reset: /accounts/reset/[redacted]", id="reset-link"
        ),
        pytest.param("Nothing to hide: %s", ("/dashboards/",), "Nothing to hide: /dashboards/", id="untouched"),
    ],
)
def test_the_filter_redacts_messages_and_arguments(message: str, args: tuple[Any, ...], expected: str) -> None:
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, message, args or None, None)

    assert RedactSurveyPathsFilter().filter(record) is True
    assert record.getMessage() == expected


def test_the_filter_redacts_exception_text() -> None:
    try:
        raise ValueError(f"bad /q/{TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    RedactSurveyPathsFilter().filter(record)

    formatted = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in formatted
    assert formatted.endswith("ValueError: bad /q/[redacted]")
