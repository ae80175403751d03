"""Research exports in a real browser, on the demo data: Debian's Chromium driven by Playwright.

The demo researcher reads and accepts the data-use agreement, requests an
export of two closed waves, follows it and downloads the zip, on desktop and
phone widths in English and Spanish. Every page state is checked with
axe-core, no request leaves the site and the phone page never scrolls
sideways. A second test follows an export that is still being prepared:
the progress bar moves by itself, a failure shows its reason, "Try again"
builds it. Texts are asserted through the catalogue (gettext), so the
Spanish pages are held to their translation once the lead adds it.

In tests the export job runs in-process (Celery eager): the request's
on_commit builds the zip in the live server's thread before the redirect,
so the detail page is already "Ready" when it loads.
"""

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from exports import selectors, services
from exports.models import AgreementAcceptance, Export
from surveys.models import Wave
from tests import browser
from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, assert_accessible

pytestmark = BROWSER_MARKS
# Screenshots for the docs, only when asked for (a test run leaves the checkout unchanged):
#   EXPORT_SCREENSHOTS_DIR=docs/screenshots make test PYTEST_ARGS=tests/exports/test_browser.py
SCREENSHOTS = Path(os.environ["EXPORT_SCREENSHOTS_DIR"]) if os.environ.get("EXPORT_SCREENSHOTS_DIR") else None
COALITION = "Riverside Regional Partnership Task Force"
CLOSED_WAVES = ["2025 Q4", "2026 Q1", "2026 Q2", "2026 Q3"]
CHOSEN_WAVES = ["2026 Q2", "2026 Q3"]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def check_page(page: Any, *, language: str, viewport: dict[str, int], screenshot: str | None = None) -> None:
    """Check what every page state must meet (its language, one h1, axe, no sideways scroll); save its picture."""
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").count() == 1
    assert_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if SCREENSHOTS is not None and screenshot is not None:
        page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True)


def log_in(context: Any, base: str, language: str) -> Any:
    return browser.log_in(context, base, username="researcher", password="demo-researcher-2026", language=language)


def assert_focus_visible(page: Any, target: Any) -> None:
    """Tab to `target` with the keyboard, as a keyboard user would, and check that its focus is drawn."""
    for _step in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the keyboard never reaches the element")
    assert target.evaluate("element => getComputedStyle(element).outlineStyle") == "solid"
    assert target.evaluate("element => getComputedStyle(element).outlineWidth") == "3px"


def text(message: str, language: str, **values: Any) -> str:
    """Return the message as the page shows it in `language` (English until the lead translates it)."""
    with translation.override(language):
        translated = gettext(message)
    return translated % values if values else translated


def messages_shown(page: Any) -> list[str]:
    shown: list[str] = page.locator(".messages li").all_inner_texts()
    return shown


def wave_names(labels: list[str]) -> list[str]:
    return [f"{COALITION} — {label}" for label in labels]


# Each language on one width here and on the other in the progress test below: the module covers
# all four combinations, each page of the export flow in both languages and on both widths.
@pytest.mark.parametrize(("language", "name"), [("en", "phone"), ("es", "desktop")], ids=["en-phone", "es-desktop"])
@pytest.mark.django_db(transaction=True)
def test_the_demo_researcher_accepts_the_agreement_requests_and_downloads_an_export(
    chromium: Any, live_server: Any, exports_root: Path, language: str, name: str
) -> None:
    call_command("load_demo", verbosity=0)
    agreement = selectors.agreement_current()
    assert agreement is not None
    waves = {wave.label: wave for wave in Wave.objects.filter(coalition__slug="demo", status=Wave.Status.CLOSED)}
    assert sorted(waves) == CLOSED_WAVES
    viewport = DESKTOP if name == "desktop" else PHONE
    base = live_server.url
    host = base.split("/")[2]
    context = chromium.new_context(
        viewport=viewport, device_scale_factor=1, is_mobile=name == "phone", accept_downloads=True
    )
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = log_in(context, base, language)

    # Given the demo researcher, granted the demo coalition but not yet bound by the agreement,
    page.goto(f"{base}/exports/")
    assert page.locator("h1").inner_text() == text("Research exports", language)
    assert page.locator(".notice").inner_text() == (
        text(
            "Before you can export, read and accept the data-use agreement (version %(version)s).",
            language,
            version=1,
        )
        + " "
        + text("Read the agreement", language)
    )
    assert page.get_by_role("checkbox").count() == 0
    assert page.get_by_role("button", name=text("Request export", language)).count() == 0
    check_page(page, language=language, viewport=viewport)

    # when they open the agreement,
    page.get_by_role("link", name=text("Read the agreement", language)).click()
    page.wait_for_url(f"{base}/exports/agreement/")
    assert page.locator("h1").inner_text() == agreement.localized_title(language)
    paragraphs = [part.strip() for part in agreement.localized_text(language).split("\n\n")]
    assert page.locator(".agreement p").all_inner_texts() == paragraphs
    check_page(page, language=language, viewport=viewport, screenshot=f"exports-agreement-{name}-{language}")

    # press Accept without ticking the box (the browser stops it, and so does the server without `required`),
    box = page.get_by_role("checkbox", name=text("I have read this agreement and I accept it.", language))
    accept = page.get_by_role("button", name=text("Accept", language), exact=True)
    assert_focus_visible(page, box)
    assert_focus_visible(page, accept)
    accept.click()
    assert page.url == f"{base}/exports/agreement/"
    assert box.evaluate("input => input.validity.valueMissing") is True
    box.evaluate("input => input.removeAttribute('required')")
    with page.expect_navigation():
        accept.click()
    assert page.url == f"{base}/exports/agreement/"
    assert messages_shown(page) == [text("Tick the box to accept the agreement.", language)]
    assert AgreementAcceptance.objects.count() == 0
    check_page(page, language=language, viewport=viewport)

    # then tick it and accept,
    box.check()
    accept.click()
    page.wait_for_url(f"{base}/exports/")
    assert messages_shown(page) == [text("Thank you. You accepted the data-use agreement.", language)]
    assert list(AgreementAcceptance.objects.values_list("user__username", "agreement__version")) == [("researcher", 1)]
    assert page.locator(".notice").count() == 0
    choices = page.get_by_role("group", name=text("Closed waves with results", language)).get_by_role("checkbox")
    assert [choice.evaluate("input => input.labels[0].innerText.trim()") for choice in choices.all()] == wave_names(
        CLOSED_WAVES
    )
    assert page.get_by_text(text("You have not requested an export yet.", language), exact=True).count() == 1
    check_page(page, language=language, viewport=viewport)

    # and request an export of two waves,
    for wave_name in wave_names(CHOSEN_WAVES):
        page.get_by_role("checkbox", name=wave_name, exact=True).check()
    check_page(page, language=language, viewport=viewport)
    page.get_by_role("button", name=text("Request export", language)).click()

    # they land on the export's page, already ready (the job ran before the redirect),
    page.wait_for_url(f"{base}/exports/**/")
    export = Export.objects.get()
    assert page.url == f"{base}/exports/{export.pk}/"
    assert (export.status, export.progress) == (Export.Status.SUCCEEDED, 100)
    assert sorted(wave.label for wave in export.waves.all()) == CHOSEN_WAVES
    assert messages_shown(page) == [text("Your export has been requested.", language)]
    assert page.locator("#export-status").get_by_role("status").inner_text() == text("Ready", language)
    assert page.get_by_role("progressbar").count() == 0
    assert page.locator(".facts dd").first.inner_text() == "; ".join(wave_names(CHOSEN_WAVES))
    assert export.file_size is not None
    with translation.override(language):
        size = filesizeformat(export.file_size)
        until = date_format(timezone.localtime(export.expires_at), "DATETIME_FORMAT")
    assert page.locator(".ready dt").all_inner_texts() == [
        text("Size", language),
        text("Download until", language),
        text("Downloads left", language),
        text("SHA-256 checksum", language),
    ]
    assert page.locator(".ready dd").all_inner_texts() == [size, until, "3", export.file_sha256]
    check_page(page, language=language, viewport=viewport)

    # and download the zip with the button.
    with page.expect_download() as download:
        page.get_by_role("button", name=text("Download the zip file", language)).click()
    assert download.value.suggested_filename == (
        f"coalition-pulse-export-{export.requested_at:%Y%m%d}-{str(export.pk)[:8]}.zip"
    )
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    wave_ids = sorted(waves[label].pk for label in CHOSEN_WAVES)
    assert sorted(archive.namelist()) == [
        *(f"aggregates/wave-{wave_id}-{table}.csv" for wave_id in wave_ids for table in ("breakdowns", "pair-matrix")),
        "codebook.en.md",
        "codebook.es.md",
        "datapackage.json",
        "disclosure-report.json",
        "microdata.csv",
        "microdata.dta",
        "microdata.parquet",
        "microdata.sav",
    ]
    export.refresh_from_db()
    assert export.downloads == 1
    # Back on the page later, it can still be downloaded (until the time or the downloads run out).
    page.reload()
    assert messages_shown(page) == []
    assert page.locator("#export-status").get_by_role("status").inner_text() == text("Ready", language)
    assert page.get_by_role("button", name=text("Download the zip file", language)).count() == 1
    check_page(page, language=language, viewport=viewport, screenshot=f"exports-detail-{name}-{language}")

    # Their export is listed, newest first, with its status.
    page.goto(f"{base}/exports/")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    with translation.override(language):
        requested = date_format(timezone.localtime(export.requested_at), "DATETIME_FORMAT")
    assert rows.locator("td").all_inner_texts() == [
        requested,
        "; ".join(wave_names(CHOSEN_WAVES)),
        text("Ready", language),
    ]
    assert rows.get_by_role("link", name=requested).get_attribute("href") == f"/exports/{export.pk}/"
    # Even on a phone the table fits: it does not scroll sideways inside its region either.
    assert page.locator(".table-wrap").evaluate("region => region.scrollWidth <= region.clientWidth") is True
    check_page(page, language=language, viewport=viewport, screenshot=f"exports-index-{name}-{language}")
    assert {url.split("/")[2] for url in requests} == {host}
    context.close()


@pytest.mark.parametrize(("language", "name"), [("en", "desktop"), ("es", "phone")], ids=["en-desktop", "es-phone"])
@pytest.mark.django_db(transaction=True)
def test_the_progress_bar_follows_the_job_a_failure_shows_its_reason_and_try_again_builds_it(
    chromium: Any, live_server: Any, exports_root: Path, language: str, name: str
) -> None:
    from playwright.sync_api import expect

    call_command("load_demo", verbosity=0)
    agreement = selectors.agreement_current()
    assert agreement is not None
    researcher = User.objects.get(username="researcher")
    services.agreement_accept(user=researcher, version=agreement.version)
    export = Export.objects.create(
        researcher=researcher,
        agreement=agreement,
        status=Export.Status.RUNNING,
        stage=Export.Stage.ANONYMIZING,
        progress=40,
    )
    export.waves.set(Wave.objects.filter(coalition__slug="demo", label="2026 Q3"))
    viewport = DESKTOP if name == "desktop" else PHONE
    base = live_server.url
    context = chromium.new_context(viewport=viewport, device_scale_factor=1, is_mobile=name == "phone")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = log_in(context, base, language)

    # Given an export being prepared, its page shows the stage and a named progress bar;
    page.goto(f"{base}/exports/{export.pk}/")
    status = page.locator("#export-status").get_by_role("status")
    bar = page.get_by_role("progressbar", name=text("Export progress", language))
    assert status.inner_text() == (
        text("Preparing", language) + " — " + text("Making every combination of groups large enough", language)
    )
    assert bar.get_attribute("value") == "40"
    check_page(page, language=language, viewport=viewport)

    # when the job moves on, the page follows it by itself (it asks the API every few seconds);
    Export.objects.filter(pk=export.pk).update(stage=Export.Stage.WRITING, progress=70)
    expect(bar).to_have_js_property("value", 70, timeout=10_000)
    expect(status).to_have_text(text("Preparing", language) + " — " + text("Writing the files", language))
    check_page(page, language=language, viewport=viewport)

    # when it fails, the page reloads and shows the reason and "Try again";
    reason = "The export could not be prepared because of an internal error. It has been logged for the team."
    services.export_fail(export_id=export.pk, reason=reason)
    expect(status).to_have_text(text("Failed", language), timeout=10_000)
    assert bar.count() == 0
    assert page.locator(".error-text").inner_text() == reason
    check_page(page, language=language, viewport=viewport)

    # then "Try again" builds it while the request runs, and the page shows it ready.
    with page.expect_navigation():
        page.get_by_role("button", name=text("Try again", language)).click()
    assert status.inner_text() == text("Ready", language)
    export.refresh_from_db()
    assert (export.status, export.attempts) == (Export.Status.SUCCEEDED, 1)
    assert page.get_by_role("button", name=text("Download the zip file", language)).count() == 1
    check_page(page, language=language, viewport=viewport)
    assert {url.split("/")[2] for url in requests} == {base.split("/")[2]}
    context.close()
