"""The leaders' oversight pages in a real browser (issue 10): Debian's Chromium driven by Playwright.

A coalition leader signs in, goes from the home page's "Manage" list to the
coalition page, reviews the roster a steward imported (counts per sector,
changes by whom, warnings), ticks the box and confirms it, approves the
research access the steward asked for, then reads the roster changes and the
audit log, on desktop and phone widths in English and Spanish. Every page
state is checked with axe-core, no request leaves the site, and neither the
phone page nor any table in it scrolls sideways (on a phone the tables
become cards or keep narrow columns). Texts
are asserted through the catalogue (gettext), so the Spanish pages are held
to their translation.

The data is a small fixture built with the services (no demo data): it keeps
the module fast.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from exports import services as export_services
from exports.models import ResearchGrant
from surveys import attestation, services
from surveys.models import AuditEvent, Coalition, RosterAttestation, Wave
from tests import browser
from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, assert_accessible
from tests.factories import MemberFactory

pytestmark = BROWSER_MARKS
# Screenshots for the docs, only when asked for (a test run leaves the checkout unchanged):
#   OVERSIGHT_SCREENSHOTS_DIR=docs/screenshots make test PYTEST_ARGS=tests/surveys/test_oversight_browser.py
SCREENSHOTS = Path(os.environ["OVERSIGHT_SCREENSHOTS_DIR"]) if os.environ.get("OVERSIGHT_SCREENSHOTS_DIR") else None
COALITION = "Riverside Regional Partnership"
WAVE = "2027 Q1"
LEADER_PASSWORD = "leader-browser-2027"  # noqa: S105 (a test login)
# Thirty people over five sectors; the steward's last six share one domain, as a planted insider's would.
SECTORS = ["law-enforcement", "victim-services", "government", "faith", "health"]
SHARED_DOMAIN = "inbox-relay.example"


@dataclass
class Oversight:
    coalition: Coalition
    wave: Wave
    grant: ResearchGrant
    leader: User


def with_role(coalition: Coalition, role: str, username: str, sector: str, password: str | None = None) -> User:
    user = User.objects.create_user(username=username, password=password)
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug=sector), role=role, user=user)
    return user


def oversight_data() -> Oversight:
    """A coalition with a steward, a leader and a researcher, a 33-person roster, a draft wave and a request."""
    instrument, _created = services.instrument_load_default()
    coalition = services.coalition_create(slug="riverside", name=COALITION)
    steward = with_role(coalition, "steward", "sam.steward", "victim-services")
    leader = with_role(coalition, "leader", "lena.leader", "law-enforcement", password=LEADER_PASSWORD)
    researcher = with_role(coalition, "researcher", "rosa.researcher", "other")
    rows = [f"person{index}@partner{index}.example,{SECTORS[index % 5]}" for index in range(24)]
    services.roster_import(coalition=coalition, content="email,sector\n" + "\n".join(rows) + "\n", by=steward)
    shared = [f"contact{index}@{SHARED_DOMAIN},health" for index in range(6)]
    services.roster_import(coalition=coalition, content="email,sector\n" + "\n".join(shared) + "\n", by=steward)
    wave = services.wave_create(coalition=coalition, label=WAVE, instrument=instrument)
    grant = export_services.grant_request(
        researcher=researcher, coalition=coalition, by=steward, reason="Evaluation of the partnership"
    )
    return Oversight(coalition=Coalition.objects.get(pk=coalition.pk), wave=wave, grant=grant, leader=leader)


def text(message: str, language: str, **values: Any) -> str:
    """Return the message as the page shows it in `language`."""
    with translation.override(language):
        translated = gettext(message)
    return translated % values if values else translated


def plural(singular: str, plural_form: str, count: int, language: str, **values: Any) -> str:
    with translation.override(language):
        return ngettext(singular, plural_form, count) % {"counter": count, **values}


def check_page(page: Any, *, language: str, viewport: dict[str, int], screenshot: str | None = None) -> None:
    """Check what every page state must meet (its language, one h1, axe, no sideways scroll); save its picture."""
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").count() == 1
    assert_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # The tables fit too (on a phone they become cards or keep narrow columns): none scrolls in its region.
    overflowing = page.locator(".table-wrap").evaluate_all(
        "all => all.filter(region => region.scrollWidth > region.clientWidth)"
        ".map(region => [region.getAttribute('aria-labelledby'), region.scrollWidth, region.clientWidth])"
    )
    assert overflowing == []
    if SCREENSHOTS is not None and screenshot is not None:
        page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True)


def messages_shown(page: Any) -> list[str]:
    shown: list[str] = page.locator(".messages li").all_inner_texts()
    return shown


def cells(row: Any) -> list[str]:
    found: list[str] = row.locator("th, td").all_inner_texts()
    return [cell.strip() for cell in found]


def log_in(context: Any, base: str, language: str) -> Any:
    return browser.log_in(context, base, username="lena.leader", password=LEADER_PASSWORD, language=language)


# Both languages and both widths, each language on one width (the screenshots of the guides).
@pytest.mark.parametrize(("language", "name"), [("en", "desktop"), ("es", "phone")], ids=["en-desktop", "es-phone"])
@pytest.mark.django_db(transaction=True)
def test_a_leader_confirms_the_roster_approves_access_and_reads_the_history_and_audit_log(
    chromium: Any, live_server: Any, language: str, name: str
) -> None:
    data = oversight_data()
    slug = data.coalition.slug
    with translation.override(language):
        review = attestation.roster_review(wave=data.wave)
    assert (review.total, review.sectors_with_members, len(review.warnings)) == (33, 6, 3)
    viewport = DESKTOP if name == "desktop" else PHONE
    base = live_server.url
    host = base.split("/")[2]
    context = chromium.new_context(viewport=viewport, device_scale_factor=1, is_mobile=name == "phone")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = log_in(context, base, language)

    # Given the leader on the home page, the "Manage" list names their coalition;
    manage = page.locator("h2", has_text=text("Manage", language)).locator("xpath=following-sibling::ul[1]")
    assert manage.get_by_role("link").all_inner_texts() == [COALITION]
    check_page(page, language=language, viewport=viewport)

    # the coalition page shows the draft wave waiting for a leader, and the request waiting;
    manage.get_by_role("link", name=COALITION).click()
    page.wait_for_url(f"{base}/manage/{slug}/")
    assert page.locator("h1").inner_text() == COALITION
    assert page.locator("nav ul.link-list li").nth(1).inner_text() == (
        text("Research access", language)
        + " "
        + plural("(%(counter)s request waiting)", "(%(counter)s requests waiting)", 1, language)
    )
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    review_link = text("Review and confirm the roster of %(wave)s", language, wave=WAVE)
    assert cells(rows)[:2] == [WAVE, text("Draft", language)]
    assert cells(rows)[3] == text("Waiting for a leader's confirmation", language) + " · " + review_link
    check_page(page, language=language, viewport=viewport, screenshot=f"coalition-{name}-{language}")

    # the roster review shows the counts per sector, who changed the roster, and the warnings;
    rows.get_by_role("link", name=review_link).click()
    page.wait_for_url(f"{base}/manage/{slug}/waves/{data.wave.pk}/roster/")
    assert page.locator("h1").inner_text() == text("Roster of %(wave)s", language, wave=WAVE)
    assert page.locator(".warnings li").all_inner_texts() == review.warnings
    sector_table = page.locator("table").nth(0)
    assert [cells(row)[0] for row in sector_table.locator("tbody tr").all()] == [
        row.name + (" (" + text("too few to report", language) + ")" if row.is_below_threshold else "")
        for row in review.sectors
    ]
    assert sum(int(cells(row)[1]) for row in sector_table.locator("tbody tr").all()) == 33
    changes = page.locator("table").nth(1).locator("tbody tr")
    assert [cells(row)[0] for row in changes.all()] == ["sam.steward"] * len(review.changes)
    assert sum(int(cells(row)[3]) for row in changes.all()) == 30
    box = page.get_by_role(
        "checkbox",
        name=text(
            "I reviewed the numbers, the changes and the warnings above. To my knowledge, every address belongs "
            "to a different, genuine member of the coalition, in the right sector.",
            language,
        ),
    )
    confirm = page.get_by_role("button", name=text("Confirm the roster", language))
    check_page(page, language=language, viewport=viewport, screenshot=f"roster-review-{name}-{language}")

    # when they tick the box and confirm, the roster is confirmed and the wave can open;
    box.check()
    with page.expect_navigation():
        confirm.click()
    assert messages_shown(page) == [
        text("You confirmed the roster of %(wave)s. The wave can open.", language, wave=WAVE)
    ]
    attested = RosterAttestation.objects.get()
    assert (attested.wave_id, attested.attested_by_id, attested.revision) == (
        data.wave.pk,
        data.leader.pk,
        data.coalition.roster_revision,
    )
    assert page.get_by_role("checkbox").count() == 0
    with translation.override(language):
        confirmed_on = date_format(timezone.localtime(attested.attested_at), "DATE_FORMAT")
    assert page.locator("p.success").inner_text() == text(
        "Confirmed by %(name)s on %(date)s. The wave can open.", language, name="lena.leader", date=confirmed_on
    )
    check_page(page, language=language, viewport=viewport)

    # then, on the research access page, they approve the steward's request;
    page.get_by_role("link", name=COALITION).click()
    page.wait_for_url(f"{base}/manage/{slug}/")
    assert cells(page.locator("table tbody tr"))[3].startswith(
        text("Confirmed by %(name)s", language, name="lena.leader")
    )
    page.get_by_role("link", name=text("Research access", language)).click()
    page.wait_for_url(f"{base}/exports/access/{slug}/")
    assert page.locator("h1").inner_text() == text("Research access", language)
    grant_row = page.locator("table tbody tr")
    assert grant_row.count() == 1
    with translation.override(language):
        asked_on = date_format(timezone.localtime(data.grant.requested_at), "DATE_FORMAT")
    assert cells(grant_row)[:4] == [
        "rosa.researcher\nEvaluation of the partnership",
        text("Waiting for approval", language),
        "sam.steward\n" + asked_on,
        "—",
    ]
    approve = grant_row.get_by_role(
        "button", name=text("Approve access for %(name)s", language, name="rosa.researcher")
    )
    check_page(page, language=language, viewport=viewport, screenshot=f"access-{name}-{language}")
    with page.expect_navigation():
        approve.click()
    assert messages_shown(page) == [text("Done.", language)]
    assert cells(grant_row)[1:4] == [text("Granted", language), "sam.steward\n" + asked_on, "lena.leader"]
    assert grant_row.get_by_role("button", name=text("Revoke", language)).count() == 1
    data.grant.refresh_from_db()
    assert (data.grant.status, data.grant.decided_by_user_id) == (ResearchGrant.Status.ACTIVE, data.leader.pk)
    check_page(page, language=language, viewport=viewport)

    # and they read the roster changes, with every single change behind "Show",
    page.get_by_role("link", name=COALITION).click()
    page.get_by_role("link", name=text("Roster changes", language)).click()
    page.wait_for_url(f"{base}/manage/{slug}/roster/history/")
    assert page.locator("h1").inner_text() == text("Roster changes", language)
    assert page.locator("h2").all_inner_texts() == [text("Since the last wave opened", language)]
    history_rows = page.locator("table tbody tr")
    assert [cells(row)[0] for row in history_rows.all()] == ["sam.steward"] * history_rows.count()
    assert sum(int(cells(row)[3]) for row in history_rows.all()) == 30
    page.get_by_text(plural("Show the %(counter)s change", "Show the %(counter)s changes", 30, language)).click()
    assert page.locator("details li").count() == 30
    check_page(page, language=language, viewport=viewport, screenshot=f"roster-history-{name}-{language}")

    # and the audit log, where their confirmation and approval are the newest entries.
    page.goto(f"{base}/manage/{slug}/")
    page.get_by_role("link", name=text("Audit log", language)).click()
    page.wait_for_url(f"{base}/manage/{slug}/audit/")
    assert page.locator("h1").inner_text() == text("Audit log", language)
    events = list(AuditEvent.objects.filter(coalition=data.coalition).order_by("-happened_at", "-id"))
    audit_rows = page.locator("table tbody tr")
    with translation.override(language):
        expected = [[str(event.get_action_display()), event.actor] for event in events]
    assert [cells(row)[1:3] for row in audit_rows.all()] == expected
    assert [event.action for event in events[:2]] == [
        AuditEvent.Action.ACCESS_GRANTED,
        AuditEvent.Action.ROSTER_ATTESTED,
    ]
    check_page(page, language=language, viewport=viewport, screenshot=f"audit-log-{name}-{language}")
    assert {url.split("/")[2] for url in requests} == {host}
    context.close()
