"""Attacks on anonymity: nobody holding a database dump or the logs can tell who said what.

PRIVACY.md rules 10-12. Each test plays an attacker and must fail to link.
"""

import json
import logging
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models
from django.test import Client

from surveys import services
from surveys.models import Coalition, Instrument, Invitation, Member, PendingSubmission, Response
from surveys.tokens import token_hash
from tests.conftest import add_members, open_wave_for, requires_postgres
from tests.surveys.test_survey_flow import POWER_STEP, form_of

CANARY_AGENT = "Canary-Agent-7f3a9c"
CANARY_ADDRESS = "203.0.113.77"
CANARY_REFERER = "https://canary-referer.example/7f3a9c"


def all_table_text() -> str:
    """Return every row of every table of the database as one string (a 'dump')."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.append(json.dumps(cursor.fetchall(), default=str))
    return "\n".join(chunks)


def test_the_response_model_has_no_path_back_to_a_member() -> None:
    response_fields = {field.name: field for field in Response._meta.get_fields()}

    assert sorted(response_fields) == ["answers", "id", "sector", "wave"]
    assert response_fields["id"].default.__name__ == "uuid4"
    relations = [field for field in response_fields.values() if field.is_relation]
    assert [field.related_model for field in relations] == [apps.get_model("surveys", "Wave")]
    assert not any(isinstance(field, models.DateTimeField | models.DateField) for field in response_fields.values())
    pending_fields = sorted(field.name for field in PendingSubmission._meta.get_fields())
    assert pending_fields == ["answers", "id", "sector", "wave"]
    invitation_fields = sorted(field.name for field in Invitation._meta.get_fields())
    assert invitation_fields == ["id", "is_used", "member", "token_hash", "wave"]


def test_no_admin_page_lists_invitations_pool_or_responses() -> None:
    from django.contrib import admin

    registered = {model.__name__ for model in admin.site._registry}
    assert {"Invitation", "PendingSubmission", "Response"} & registered == set()


@pytest.mark.django_db
def test_canaries_in_headers_and_token_appear_in_no_table_and_no_log(
    client: Client,
    coalition: Coalition,
    roster: list[Member],
    instrument: Instrument,
    caplog: pytest.LogCaptureFixture,
) -> None:
    opened = open_wave_for(coalition, instrument)
    web_member, api_member = roster[0], roster[1]
    headers: dict[str, Any] = {
        "HTTP_USER_AGENT": CANARY_AGENT,
        "HTTP_X_FORWARDED_FOR": CANARY_ADDRESS,
        "HTTP_REFERER": CANARY_REFERER,
        "REMOTE_ADDR": CANARY_ADDRESS,
    }
    caplog.set_level(logging.DEBUG)

    web_token = opened.token_of(web_member)
    client.get(f"/q/{web_token}", **headers)
    # As a browser posts: the page's form token and signed state, answering power-1.
    intro = client.get("/q/", **headers)
    client.post("/q/", form_of(intro, step=POWER_STEP, action="submit", **{"a-power-1": "2"}), **headers)
    api_token = opened.token_of(api_member)
    client.post(
        "/api/v1/responses/",
        data=json.dumps({"token": api_token, "answers": {"power-1": 4}}),
        content_type="application/json",
        **headers,
    )
    # Failed attempts are logged by Django at warning level: they must not carry the canaries either.
    client.get("/q/" + "Z" * 43, **headers)
    client.post("/api/v1/responses/", data="{broken", content_type="application/json", **headers)
    services.wave_close(wave_id=opened.wave.pk)

    assert Response.objects.count() == 2
    dump = all_table_text()
    logs = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for canary in (CANARY_AGENT, CANARY_ADDRESS, CANARY_REFERER, web_token, api_token):
        assert canary not in dump
        assert canary not in logs


@pytest.mark.django_db
def test_the_request_log_filter_redacts_survey_tokens() -> None:
    from config.logging import RedactSurveyPathsFilter

    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"GET /q/%s HTTP/1.1" 302 0', ("SECRETTOKEN",), None
    )
    record.request = object()

    RedactSurveyPathsFilter().filter(record)

    assert record.getMessage() == '"GET /q/[redacted] HTTP/1.1" 302 0'
    assert record.request is None


def _link_by_order(invitation_order: list[str], response_order: list[str], truth: dict[str, str]) -> int:
    """Pair the i-th used invitation with the i-th response; return how many pairs are right."""
    return sum(
        1 for member, response in zip(invitation_order, response_order, strict=True) if truth[response] == member
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_after_release_xmin_ctid_id_order_and_timestamps_do_not_link_invitations_to_responses(
    coalition: Coalition, instrument: Instrument
) -> None:
    count = 200
    members = add_members(coalition, count, "victim-services")
    opened = open_wave_for(coalition, instrument)
    # Each member's answers carry a fingerprint (an attacker's knowledge of who said what in a
    # few cases generalises to this: a perfect oracle for every response).
    fingerprint: dict[str, str] = {}
    submission_order = []
    for index, member in enumerate(members):
        answers = {
            "power-1": index % 5 + 1,
            "trust-1": (index // 5) % 5 + 1,
            "credit-1": (index // 25) % 5 + 1,
        }
        services.response_submit(token_hash=token_hash(opened.token_of(member)), answers=answers)
        fingerprint[json.dumps(answers, sort_keys=True)] = member.email
        submission_order.append(member.email)

    services.wave_close(wave_id=opened.wave.pk)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.email, i.xmin::text::bigint, i.ctid::text, i.id::text FROM surveys_invitation i "
            "JOIN surveys_member m ON m.id = i.member_id WHERE i.wave_id = %s AND i.is_used",
            [opened.wave.pk],
        )
        invitations = cursor.fetchall()
        cursor.execute(
            "SELECT answers::text, xmin::text::bigint, ctid::text, id::text FROM surveys_response WHERE wave_id = %s",
            [opened.wave.pk],
        )
        responses = cursor.fetchall()
    assert len(invitations) == len(responses) == count
    truth = {row[0]: fingerprint[json.dumps(json.loads(row[0]), sort_keys=True)] for row in responses}

    # xmin: every invitation was rewritten in one transaction, every response came in a release batch.
    assert len({row[1] for row in invitations}) == 1
    assert len({row[1] for row in responses}) == 1  # 200 < one release batch of 500

    def ctid_key(ctid: str) -> tuple[int, int]:
        block, offset = ctid.strip("()").split(",")
        return int(block), int(offset)

    orders = {
        "ctid": (
            [row[0] for row in sorted(invitations, key=lambda row: ctid_key(row[2]))],
            [row[0] for row in sorted(responses, key=lambda row: ctid_key(row[2]))],
        ),
        "id": (
            [row[0] for row in sorted(invitations, key=lambda row: row[3])],
            [row[0] for row in sorted(responses, key=lambda row: row[3])],
        ),
        "submission-order-vs-ctid": (
            submission_order,
            [row[0] for row in sorted(responses, key=lambda row: ctid_key(row[2]))],
        ),
    }
    # Random pairing gets 1 right on average; 8 or more has probability below 1e-5 per order.
    for name, (invitation_order, response_order) in orders.items():
        assert _link_by_order(invitation_order, response_order, truth) < 8, name

    # No timestamp is stored for either side.
    response_columns = [
        c.name for c in connection.introspection.get_table_description(connection.cursor(), "surveys_response")
    ]
    invitation_columns = [
        c.name for c in connection.introspection.get_table_description(connection.cursor(), "surveys_invitation")
    ]
    assert sorted(response_columns) == ["answers", "id", "sector", "wave_id"]
    assert sorted(invitation_columns) == ["id", "is_used", "member_id", "token_hash", "wave_id"]
    assert PendingSubmission.objects.count() == 0
