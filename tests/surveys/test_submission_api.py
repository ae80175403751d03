"""POST /api/v1/responses/: everything is validated, and a refusal changes nothing."""

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from surveys import services, submission
from surveys.models import Invitation, PendingSubmission, Response, Wave
from surveys.tokens import token_hash
from tests.conftest import OpenWave, requires_postgres

URL = "/api/v1/responses/"
GOOD_ANSWERS = {"power-1": 2, "trust-1": "na", "gender": ["woman"], "pair:law-enforcement": 4}


def post(client: Client, payload: Any) -> Any:
    return client.post(URL, data=json.dumps(payload), content_type="application/json")


def stored_state(wave: Wave) -> tuple[int, int, int]:
    return (
        PendingSubmission.objects.filter(wave=wave).count(),
        Response.objects.filter(wave=wave).count(),
        Invitation.objects.filter(wave=wave, is_used=True).count(),
    )


@pytest.mark.django_db
def test_stores_a_valid_submission_in_the_pending_pool(client: Client, open_wave: OpenWave) -> None:
    invitation = (
        Invitation.objects.filter(wave=open_wave.wave, member__sector__slug="law-enforcement")
        .select_related("member")
        .first()
    )
    assert invitation is not None

    response = post(client, {"token": open_wave.token_of(invitation.member), "answers": GOOD_ANSWERS})

    assert response.status_code == 201
    assert response.json() == {"status": "received"}
    pending = PendingSubmission.objects.get()
    # The sector is copied from the roster, never linked to it.
    assert (pending.sector, pending.answers) == ("law-enforcement", GOOD_ANSWERS)
    assert stored_state(open_wave.wave) == (1, 0, 1)


@pytest.mark.django_db
def test_a_repeated_submit_is_answered_as_already_received(client: Client, open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))
    post(client, {"token": token, "answers": GOOD_ANSWERS})

    response = post(client, {"token": token, "answers": {"power-1": 5}})

    assert response.status_code == 409
    assert response.json() == {
        "code": "already_received",
        "detail": "Your answers were already received. Thank you.",
    }
    assert stored_state(open_wave.wave) == (1, 0, 1)
    assert PendingSubmission.objects.get().answers == GOOD_ANSWERS


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        pytest.param("A" * 43, id="forged-well-formed"),
        pytest.param("short", id="malformed"),
        pytest.param("A" * 42 + "!", id="bad-characters"),
    ],
)
def test_a_forged_token_stores_nothing(client: Client, open_wave: OpenWave, token: str) -> None:
    response = post(client, {"token": token, "answers": GOOD_ANSWERS})

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_token"
    assert stored_state(open_wave.wave) == (0, 0, 0)


@pytest.mark.django_db
def test_a_closed_wave_stores_nothing(client: Client, open_wave: OpenWave) -> None:
    services.wave_close(wave_id=open_wave.wave.pk)
    token = next(iter(open_wave.tokens.values()))

    response = post(client, {"token": token, "answers": GOOD_ANSWERS})

    assert response.status_code == 410
    assert response.json() == {
        "code": "wave_closed",
        "detail": "This survey has closed. Thank you for your interest.",
    }
    assert stored_state(open_wave.wave) == (0, 0, 0)


@pytest.mark.django_db
def test_a_wave_past_its_closing_time_refuses_before_the_scheduler_closes_it(
    client: Client, open_wave: OpenWave
) -> None:
    Wave.objects.filter(pk=open_wave.wave.pk).update(
        opens_at=timezone.now() - timedelta(days=30), closes_at=timezone.now() - timedelta(seconds=1)
    )
    token = next(iter(open_wave.tokens.values()))

    response = post(client, {"token": token, "answers": GOOD_ANSWERS})

    assert response.status_code == 410
    assert stored_state(open_wave.wave) == (0, 0, 0)


@pytest.mark.django_db
def test_invalid_answers_are_listed_and_the_invitation_stays_unused(client: Client, open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))

    response = post(client, {"token": token, "answers": {"power-1": 9, "mystery": 1, "trust-1": 3}})

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_answers",
        "detail": "Some answers are not valid; nothing was stored.",
        "errors": [
            {"field": "power-1", "message": "must be between 1 and 5, or “na”"},
            {"field": "mystery", "message": "unknown question"},
        ],
    }
    assert stored_state(open_wave.wave) == (0, 0, 0)
    # The person can still answer afterwards.
    assert post(client, {"token": token, "answers": {"trust-1": 3}}).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param("{not json", "parse_error", id="not-json"),
        pytest.param(json.dumps({"answers": {}}), "invalid", id="no-token"),
        pytest.param(json.dumps({"token": "x", "answers": [1]}), "invalid", id="answers-not-object"),
        pytest.param(json.dumps([1, 2]), "invalid", id="not-an-object"),
    ],
)
def test_malformed_requests_get_a_clear_error(client: Client, open_wave: OpenWave, body: str, code: str) -> None:
    response = client.post(URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert stored_state(open_wave.wave) == (0, 0, 0)


@pytest.mark.django_db
def test_an_oversized_payload_is_refused_before_parsing(client: Client, open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))
    payload = {"token": token, "answers": {"power-1": 3}, "padding": "x" * (64 * 1024)}

    response = post(client, payload)

    assert response.status_code == 413
    assert response.json() == {"code": "too_large", "detail": "The submission is larger than 65536 bytes."}
    assert stored_state(open_wave.wave) == (0, 0, 0)


@pytest.mark.django_db
def test_only_post_is_allowed(client: Client, open_wave: OpenWave) -> None:
    assert client.get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_stores_exactly_one_response(open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit(value: int) -> None:
        client = Client()
        barrier.wait()
        try:
            response = post(client, {"token": token, "answers": {"power-1": value}})
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(value % 5 + 1,)) for value in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 7
    assert stored_state(open_wave.wave) == (1, 0, 1)


@pytest.mark.django_db
def test_a_submission_costs_three_statements_on_sqlite(
    client: Client, open_wave: OpenWave, django_assert_num_queries: Any
) -> None:
    # Find the invitation (sector, wave status) in one SELECT; then an UPDATE and an
    # INSERT in an atomic block (SAVEPOINT and RELEASE inside the test's transaction).
    # On PostgreSQL the same two steps are one prepared SELECT and one function call
    # on the driver connection, outside Django's query log (tested below).
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL runs the hot path outside Django's query log")
    token = next(iter(open_wave.tokens.values()))
    post(client, {"token": next(reversed(open_wave.tokens.values())), "answers": {}})  # warm the wave cache

    with django_assert_num_queries(3 + 2):
        response = post(client, {"token": token, "answers": GOOD_ANSWERS})

    assert response.status_code == 201


@requires_postgres
@pytest.mark.django_db
def test_on_postgresql_a_submission_is_two_statements_and_none_in_djangos_query_log(
    client: Client, open_wave: OpenWave, django_assert_num_queries: Any
) -> None:
    token = next(iter(open_wave.tokens.values()))
    post(client, {"token": next(reversed(open_wave.tokens.values())), "answers": {}})  # warm the wave cache
    raw = connection.connection
    executed: list[str] = []
    original = raw.execute

    def spy(query: Any, *args: Any, **kwargs: Any) -> Any:
        executed.append(str(query)[:30])
        return original(query, *args, **kwargs)

    raw.execute = spy  # type: ignore[method-assign]
    try:
        # Nothing with an invitation id or answers reaches Django's (DEBUG) query log.
        with django_assert_num_queries(0):
            response = post(client, {"token": token, "answers": GOOD_ANSWERS})
    finally:
        raw.execute = original  # type: ignore[method-assign]

    assert response.status_code == 201
    assert executed == ["SELECT i.id, i.wave_id, i.is_u", "SELECT surveys_claim_and_store"]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_closing_waits_for_a_submission_in_flight_and_then_releases_it(open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))
    holding_lock = threading.Event()
    may_finish = threading.Event()
    closed = threading.Event()

    def slow_submission() -> None:
        try:
            with transaction.atomic():
                target = submission.target_find(token_hash=token_hash(token))
                assert target is not None
                # Claimed and stored, holding the wave's shared lock, not yet committed.
                assert submission.claim_and_store(target=target, answers={"power-1": 3}, now=timezone.now())
                holding_lock.set()
                may_finish.wait(timeout=10)
        finally:
            connection.close()

    def close() -> None:
        try:
            services.wave_close(wave_id=open_wave.wave.pk)
            closed.set()
        finally:
            connection.close()

    submitter = threading.Thread(target=slow_submission)
    submitter.start()
    assert holding_lock.wait(timeout=10)
    closer = threading.Thread(target=close)
    closer.start()

    assert closed.wait(timeout=1) is False  # the close waits for the submission in flight
    may_finish.set()
    submitter.join(timeout=10)
    closer.join(timeout=10)

    assert closed.is_set()
    assert stored_state(open_wave.wave) == (0, 1, 1)
