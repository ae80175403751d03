"""The survey in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

Checks what only a browser shows: the phone layout, keyboard use, the Exit
button and Shift×3 leaving no history entry, no request leaving the site,
and zero axe-core accessibility violations on every survey page.
"""

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings

from surveys.models import Invitation, PendingSubmission
from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, assert_accessible
from tests.conftest import OpenWave

pytestmark = BROWSER_MARKS
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture
def survey_site(settings: LazySettings, live_server: Any, open_wave: OpenWave) -> Any:
    # No internet here: the neutral exit site is a page of the test server.
    settings.SURVEY_EXIT_URL = f"{live_server.url}/accounts/login/"
    return live_server


def token_for(open_wave: OpenWave, language: str) -> str:
    invitation = Invitation.objects.filter(wave=open_wave.wave, member__language=language).select_related("member")[0]
    return open_wave.token_of(invitation.member)


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_member_answers_on_a_phone_with_the_keyboard_and_no_outside_requests(
    chromium: Any, survey_site: Any, open_wave: OpenWave
) -> None:
    context = chromium.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{survey_site.url}/q/{token_for(open_wave, 'en')}")
    assert page.url == f"{survey_site.url}/q/"
    assert page.title() == "Feedback form"
    assert_accessible(page)
    shoot(page, "survey-phone-intro-en")

    page.get_by_role("button", name="Start").click()
    assert page.locator("h1").inner_text() == "Problem definition"
    assert page.get_by_text("Step 1 of 19").is_visible()
    page.get_by_label("4 · Agree").first.check()
    assert_accessible(page)
    shoot(page, "survey-phone-step-en")

    page.get_by_role("button", name="Go to review").click()
    assert page.locator("h1").inner_text() == "Review your answers"
    assert_accessible(page)
    shoot(page, "survey-phone-review-en")

    page.get_by_role("button", name="Submit my answers").click()
    assert page.locator("h1").inner_text() == "Thank you"
    assert_accessible(page)
    assert PendingSubmission.objects.get().answers == {"problem-definition-1": 4}
    # The page fits the phone: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert {url.split("/")[2] for url in requests} == {survey_site.url.split("/")[2]}
    context.close()


@pytest.mark.django_db(transaction=True)
def test_every_step_of_the_spanish_survey_is_accessible_on_desktop(
    chromium: Any, survey_site: Any, open_wave: OpenWave
) -> None:
    page = chromium.new_page(viewport=DESKTOP)
    page.goto(f"{survey_site.url}/q/{token_for(open_wave, 'es')}")
    assert page.locator("h1").inner_text() == "Opinión trimestral"
    assert_accessible(page)
    shoot(page, "survey-desktop-intro-es")

    page.get_by_role("button", name="Comenzar").click()
    for _ in range(18):
        assert_accessible(page)
        heading = page.locator("h1").inner_text()
        if heading == "Sobre usted":
            shoot(page, "survey-desktop-about-you-es")
        if heading == "Trabajo con otros sectores":
            shoot(page, "survey-desktop-pair-matrix-es")
        page.get_by_role("button", name="Siguiente").click()
    assert page.locator("h1").inner_text() == "Revise sus respuestas"
    assert_accessible(page)
    page.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["button", "shift-three-times"])
def test_quick_exit_replaces_the_page_and_leaves_no_way_back(
    chromium: Any, survey_site: Any, open_wave: OpenWave, how: str
) -> None:
    page = chromium.new_page(viewport=PHONE)
    page.goto(f"{survey_site.url}/api/docs/")  # whatever the person had open before
    page.goto(f"{survey_site.url}/q/{token_for(open_wave, 'en')}")
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state("load")

    if how == "button":
        page.get_by_role("link", name="Exit").click()
    else:
        for _ in range(3):
            page.keyboard.press("Shift")
    page.wait_for_url(f"{survey_site.url}/accounts/login/")

    page.go_back()
    # location.replace removed the current step from history, and the exit ended the
    # survey session: going Back shows only the generic page, never the survey.
    assert page.url == f"{survey_site.url}/q/"
    assert page.locator("h1").inner_text() == "This link is not active"
    page.close()
