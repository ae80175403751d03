"""Forged survey posts: another origin, a same-site subdomain, tampered or borrowed state, a missing token.

The attacker's page wants to submit answers in the name of a member who is
mid-survey in the same browser. Each forgery must leave the invitation
unused, store nothing and get the generic page; the member's own survey
must still submit.
"""

import secrets
from typing import Any

import pytest
from django.core import signing
from django.test import Client

from surveys.models import Invitation, PendingSubmission, Response
from tests.conftest import OpenWave
from tests.surveys.test_survey_flow import POWER_STEP, enter, form_of, heading, state_of

OWN_ORIGIN = "http://testserver"  # the test client's scheme and host


def mid_survey(client: Client, open_wave: OpenWave) -> Any:
    """Enter as a member and answer the first step; return the page the member now has open."""
    enter(client, open_wave)
    first = client.post("/q/", form_of(client.get("/q/"), action="next"))
    return client.post("/q/", form_of(first, action="next", **{"a-problem-definition-1": "4"}))


def forged_submission(page: Any, **fields: str) -> dict[str, str]:
    """A complete submission built on the member's page: every field valid unless overridden."""
    return form_of(page, step=POWER_STEP, action="submit", **{"a-power-1": "1", **fields})


def generic_page() -> bytes:
    return Client().get("/q/" + "B" * 43).content


def assert_nothing_happened(page: Any) -> None:
    assert page.status_code == 200
    assert page.content == generic_page()
    assert Invitation.objects.filter(is_used=True).count() == 0
    assert PendingSubmission.objects.count() == 0
    assert Response.objects.count() == 0


def assert_member_can_still_submit(client: Client, page: Any) -> None:
    done = client.post("/q/", form_of(page, step=POWER_STEP, action="submit", **{"a-power-1": "5"}))
    assert done.status_code == 302
    assert done["Location"] == "/q/done"
    assert PendingSubmission.objects.get().answers == {"problem-definition-1": 4, "power-1": 5}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"HTTP_ORIGIN": "https://evil.example"}, id="another-origin"),
        pytest.param({"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"}, id="cross-site"),
        pytest.param({"HTTP_ORIGIN": "null", "HTTP_SEC_FETCH_SITE": "same-site"}, id="subdomain-null-origin"),
        pytest.param(
            {"HTTP_ORIGIN": "http://forum.testserver", "HTTP_SEC_FETCH_SITE": "same-site"}, id="subdomain-origin"
        ),
        pytest.param({"HTTP_ORIGIN": "null", "HTTP_SEC_FETCH_SITE": "cross-site"}, id="cross-site-null-origin"),
        pytest.param({"HTTP_SEC_FETCH_SITE": "none"}, id="no-origin-fetch-site-none"),
        pytest.param({"HTTP_ORIGIN": OWN_ORIGIN, "HTTP_SEC_FETCH_SITE": "same-site"}, id="own-origin-but-same-site"),
        pytest.param({"HTTP_ORIGIN": "https://testserver"}, id="own-host-other-scheme"),
    ],
)
def test_rejects_a_forged_submission_from_another_origin(
    client: Client, open_wave: OpenWave, headers: dict[str, str]
) -> None:
    # The strongest case: the forgery even carries the member's own form token and state.
    page = mid_survey(client, open_wave)

    refused = client.post("/q/", forged_submission(page), **headers)

    assert_nothing_happened(refused)
    assert_member_can_still_submit(client, page)


def tampered_states(genuine: str) -> dict[str, str]:
    payload, signature = genuine.rsplit(":", 1)
    forged = signing.Signer(salt="anything").sign_object({"power-1": 1}, compress=True)
    return {
        "plain-json": '{"power-1": 1}',
        "forged-payload-genuine-signature": f"{forged.rsplit(':', 1)[0]}:{signature}",
        "genuine-payload-bad-signature": f"{payload}:{'A' * len(signature)}",
        "signed-with-another-salt": forged,
        "empty": "",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind",
    [
        "plain-json",
        "forged-payload-genuine-signature",
        "genuine-payload-bad-signature",
        "signed-with-another-salt",
        "empty",
    ],
)
def test_rejects_a_tampered_state(client: Client, open_wave: OpenWave, kind: str) -> None:
    # No Origin and no Sec-Fetch-Site, as from a browser too old for Fetch
    # Metadata: here the form token and the signature are the only defence.
    page = mid_survey(client, open_wave)

    refused = client.post("/q/", forged_submission(page, state=tampered_states(state_of(page))[kind]))

    assert_nothing_happened(refused)
    assert_member_can_still_submit(client, page)


@pytest.mark.django_db
def test_rejects_a_state_signed_in_another_members_session(client: Client, open_wave: OpenWave) -> None:
    page = mid_survey(client, open_wave)
    other = Client()
    enter(other, open_wave, language="es")
    others_first = other.post("/q/", form_of(other.get("/q/"), action="next"))
    others_page = other.post("/q/", form_of(others_first, action="next", **{"a-problem-definition-1": "1"}))

    refused = client.post("/q/", forged_submission(page, state=state_of(others_page)))

    assert_nothing_happened(refused)
    assert_member_can_still_submit(client, page)


@pytest.mark.django_db
def test_rejects_a_state_from_an_earlier_session_of_the_same_member(client: Client, open_wave: OpenWave) -> None:
    earlier = mid_survey(client, open_wave)
    client.get("/q/exit")
    page = mid_survey(client, open_wave)

    refused = client.post("/q/", forged_submission(page, state=state_of(earlier)))

    assert_nothing_happened(refused)
    assert_member_can_still_submit(client, page)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "form_token",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(secrets.token_urlsafe(32), id="wrong"),
        pytest.param("another-members", id="another-members"),
    ],
)
def test_rejects_a_post_without_the_sessions_form_token(
    client: Client, open_wave: OpenWave, form_token: str | None
) -> None:
    page = mid_survey(client, open_wave)
    forged = forged_submission(page)
    if form_token is None:
        del forged["form_token"]
    elif form_token == "another-members":
        other = Client()
        enter(other, open_wave, language="es")
        forged["form_token"] = form_of(other.get("/q/"))["form_token"]
    else:
        forged["form_token"] = form_token

    refused = client.post("/q/", forged)

    assert_nothing_happened(refused)
    assert_member_can_still_submit(client, page)


@pytest.mark.django_db
def test_rejects_a_language_switch_without_the_form_token(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave)

    refused = client.post("/q/", {"step": "0", "action": "language-es"})

    assert refused.content == generic_page()
    assert client.session["survey_language"] == "en"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"HTTP_ORIGIN": "null", "HTTP_SEC_FETCH_SITE": "same-origin"}, id="null-origin-same-origin"),
        pytest.param({"HTTP_ORIGIN": OWN_ORIGIN}, id="own-origin"),
        pytest.param({"HTTP_ORIGIN": OWN_ORIGIN, "HTTP_SEC_FETCH_SITE": "same-origin"}, id="own-origin-same-origin"),
        pytest.param({}, id="legacy-browser-no-headers"),
    ],
)
def test_the_members_own_form_submits_exactly_once(
    client: Client, open_wave: OpenWave, headers: dict[str, str]
) -> None:
    enter(client, open_wave)
    first = client.post("/q/", form_of(client.get("/q/"), action="next"), **headers)
    second = client.post("/q/", form_of(first, action="next", **{"a-problem-definition-1": "4"}), **headers)
    assert heading(second) == "Mission & priorities"
    review = client.post("/q/", form_of(second, step=POWER_STEP, action="review", **{"a-power-1": "2"}), **headers)
    assert heading(review) == "Review your answers"

    done = client.post("/q/", form_of(review, action="submit"), **headers)

    assert done.status_code == 302
    assert done["Location"] == "/q/done"
    assert PendingSubmission.objects.get().answers == {"problem-definition-1": 4, "power-1": 2}
    assert Invitation.objects.filter(is_used=True).count() == 1
    assert dict(client.session) == {}
