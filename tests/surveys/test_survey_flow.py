"""The respondent's pages: token swap, steps, review, submission, safety headers."""

import html
import re
from typing import Any

import pytest
from django.test import Client

from surveys.models import Invitation, PendingSubmission
from tests.conftest import OpenWave

POWER_STEP = "7"  # the default instrument's seventh section holds power-1


def hidden_field(response: Any, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', response.content.decode())
    assert match is not None
    return html.unescape(match.group(1))


def state_of(response: Any) -> str:
    return hidden_field(response, "state")


def form_of(response: Any, **fields: str) -> dict[str, str]:
    """Return what a browser posts from the page's survey form: its hidden fields, then `fields`."""
    hidden = {name: hidden_field(response, name) for name in ("form_token", "state", "step")}
    return {**hidden, **fields}


def heading(response: Any) -> str:
    match = re.search(r"<h1>(.*?)</h1>", response.content.decode(), re.S)
    assert match is not None
    return html.unescape(match.group(1)).strip()


def enter(client: Client, open_wave: OpenWave, language: str = "en") -> str:
    invitation = Invitation.objects.filter(wave=open_wave.wave, member__language=language).select_related("member")[0]
    token = open_wave.token_of(invitation.member)
    response = client.get(f"/q/{token}")
    assert response.status_code == 302
    assert response["Location"] == "/q/"
    return token


@pytest.mark.django_db
def test_the_token_is_swapped_for_a_session_and_a_token_free_address(client: Client, open_wave: OpenWave) -> None:
    token = enter(client, open_wave)

    page = client.get("/q/")

    assert page.status_code == 200
    assert heading(page) == "Quarterly feedback"
    assert token not in page.content.decode()
    assert token not in str(dict(client.session))
    assert client.cookies["sessionid"]["expires"] == ""  # ends with the browser


@pytest.mark.django_db
def test_walks_through_the_steps_to_review_and_submits(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave)
    intro = client.get("/q/")

    first = client.post("/q/", form_of(intro, action="next"))
    assert heading(first) == "Problem definition"
    assert "Step 1 of 19" in first.content.decode()

    second = client.post(
        "/q/",
        form_of(first, action="next", **{"a-problem-definition-1": "4", "a-problem-definition-strain": "na"}),
    )
    assert heading(second) == "Mission & priorities"

    back = client.post("/q/", form_of(second, action="back"))
    assert 'value="4" checked' in back.content.decode()

    review = client.post("/q/", form_of(second, action="review"))
    assert heading(review) == "Review your answers"
    assert "4 · Agree" in review.content.decode()

    done = client.post("/q/", form_of(review, action="submit"))

    assert done.status_code == 302
    assert done["Location"] == "/q/done"
    assert PendingSubmission.objects.get().answers == {
        "problem-definition-1": 4,
        "problem-definition-strain": "na",
    }
    assert dict(client.session) == {}
    assert heading(client.get("/q/done")) == "Thank you"


@pytest.mark.django_db
def test_about_you_step_offers_prefer_not_to_say_for_every_question(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave)

    page = client.post("/q/", form_of(client.get("/q/"), step="17", action="next"))

    assert heading(page) == "About you"
    body = page.content.decode()
    assert body.count('value="prefer-not-to-say"') == 9


@pytest.mark.django_db
def test_a_used_link_shows_the_same_generic_page_as_an_unknown_one(client: Client, open_wave: OpenWave) -> None:
    token = enter(client, open_wave)
    client.post("/q/", form_of(client.get("/q/"), step=POWER_STEP, action="submit", **{"a-power-1": "3"}))
    assert Invitation.objects.filter(is_used=True).count() == 1

    used = Client().get(f"/q/{token}")
    unknown = Client().get("/q/" + "B" * 43)

    assert used.status_code == unknown.status_code == 200
    assert used.content == unknown.content
    assert heading(used) == "This link is not active"


@pytest.mark.django_db
def test_the_survey_without_a_session_shows_the_generic_page(client: Client, open_wave: OpenWave) -> None:
    assert heading(client.get("/q/")) == "This link is not active"


@pytest.mark.django_db
def test_an_invalid_answer_is_refused_with_a_readable_message_and_nothing_is_stored(
    client: Client, open_wave: OpenWave
) -> None:
    enter(client, open_wave)

    page = client.post("/q/", form_of(client.get("/q/"), step=POWER_STEP, action="submit", **{"a-power-1": "99"}))

    assert "power-1: must be between 1 and 5, or “na”" in html.unescape(page.content.decode())
    assert PendingSubmission.objects.count() == 0
    assert Invitation.objects.filter(is_used=True).count() == 0


@pytest.mark.django_db
def test_spanish_members_get_the_survey_in_spanish_and_can_switch(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave, language="es")

    intro = client.get("/q/")
    assert '<html lang="es">' in intro.content.decode()
    assert heading(intro) == "Opinión trimestral"

    switched = client.post("/q/", form_of(intro, action="language-en"))
    assert heading(switched) == "Quarterly feedback"


@pytest.mark.django_db
def test_survey_pages_send_privacy_headers_and_use_no_third_party_assets(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave)

    page = client.get("/q/")

    assert page["Cache-Control"] == "no-store"
    assert page["Referrer-Policy"] == "no-referrer"
    assert page["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'; style-src 'self'")
    body = page.content.decode()
    assert re.findall(r'(?:src|href)="(https?:[^"]*)"', body) == []
    assert '<a class="exit-button" id="quick-exit" href="/q/exit"' in body
    assert 'autocomplete="off"' in body
    assert "localStorage" not in body
    assert "<title>Feedback form</title>" in body
    assert "Exiting does not clear your browser history" in body


@pytest.mark.django_db
def test_exit_ends_the_survey_session_and_goes_to_the_neutral_site(client: Client, open_wave: OpenWave) -> None:
    enter(client, open_wave)

    response = client.get("/q/exit")

    assert response.status_code == 302
    assert response["Location"] == "https://www.wikipedia.org/"
    assert response["Referrer-Policy"] == "no-referrer"
    assert dict(client.session) == {}
    assert heading(client.get("/q/")) == "This link is not active"


@pytest.mark.django_db
def test_entry_page_sends_privacy_headers_too(client: Client, open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))

    response = client.get(f"/q/{token}")

    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
