"""The dashboards in a real browser, on the demo data: Debian's Chromium driven by Playwright.

Logs in as the demo leader, opens every page on desktop and phone widths in
English and Spanish, runs axe-core on each, checks that no request leaves the
site and that the key numbers are the API's, and saves the screenshots the
leader guide uses (docs/screenshots/dashboards-*.png).
"""

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from analytics.engine.disclosure.presentation import format_mean
from surveys.models import Wave
from tests import browser
from tests.browser import BROWSER_MARKS, DESKTOP, PHONE, assert_accessible

pytestmark = BROWSER_MARKS
# Screenshots for the docs, only when asked for (a test run leaves the checkout unchanged):
#   DASHBOARD_SCREENSHOTS_DIR=docs/screenshots make test PYTEST_ARGS=tests/dashboards/test_browser.py
SCREENSHOTS = Path(os.environ["DASHBOARD_SCREENSHOTS_DIR"]) if os.environ.get("DASHBOARD_SCREENSHOTS_DIR") else None


def log_in(context: Any, base: str, language: str) -> Any:
    return browser.log_in(context, base, username="leader", password="demo-leader-2026", language=language)


@pytest.mark.django_db(transaction=True)
def test_the_demo_leader_reads_every_dashboard_on_desktop_and_phone_in_both_languages(
    chromium: Any, live_server: Any
) -> None:
    call_command("load_demo", verbosity=0)
    latest = Wave.objects.filter(coalition__slug="demo", status=Wave.Status.CLOSED).order_by("-opens_at").first()
    open_wave = Wave.objects.get(coalition__slug="demo", status=Wave.Status.OPEN)
    assert latest is not None
    pages = {
        "overview": f"/dashboards/waves/{latest.pk}/",
        "heatmap": f"/dashboards/waves/{latest.pk}/heatmap/?dimension=sector",
        "heatmap-financial": f"/dashboards/waves/{latest.pk}/heatmap/?dimension=financial",
        "pairs": f"/dashboards/waves/{latest.pk}/pairs/",
        "gaps": f"/dashboards/waves/{latest.pk}/gaps/?dimension=sector",
        "trends": f"/dashboards/waves/{latest.pk}/trends/",
        "participation": f"/dashboards/waves/{open_wave.pk}/participation/",
    }
    base = live_server.url
    host = base.split("/")[2]
    for language in ("en", "es"):
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = chromium.new_context(viewport=viewport, device_scale_factor=1, is_mobile=name == "phone")
            requests: list[str] = []
            context.on("request", lambda request, requests=requests: requests.append(request.url))
            page = log_in(context, base, language)
            for slug, path in pages.items():
                page.goto(base + path)
                assert page.locator("html").get_attribute("lang") == language
                assert page.locator("h1").count() == 1
                assert_accessible(page)
                # The page itself never scrolls sideways; wide charts scroll inside their region.
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                if SCREENSHOTS is not None:
                    image = SCREENSHOTS / f"dashboards-{slug}-{name}-{language}.png"
                    page.screenshot(path=str(image), full_page=True)
            assert {url.split("/")[2] for url in requests} == {host}
            context.close()


@pytest.mark.django_db(transaction=True)
def test_the_key_numbers_are_the_apis_and_tooltips_and_downloads_work(chromium: Any, live_server: Any) -> None:
    call_command("load_demo", verbosity=0)
    latest = Wave.objects.filter(coalition__slug="demo", status=Wave.Status.CLOSED).order_by("-opens_at").first()
    assert latest is not None
    base = live_server.url
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = log_in(context, base, "en")

    overall = page.request.get(f"{base}/api/v1/waves/{latest.pk}/breakdowns/?dimension=overall&measure=overall").json()
    page.goto(f"{base}/dashboards/waves/{latest.pk}/")
    assert page.locator(".stat-value").first.inner_text() == format_mean(overall["cells"][0]["mean"])
    assert page.locator(".stat-value").nth(1).inner_text() == str(overall["cells"][0]["n"])
    # Planted difference #1 of docs/demo-data.md, in words.
    assert page.get_by_text("Survivor-led organizations & survivor-activists rate Power & decision-making").count() == 1

    sector = page.request.get(
        f"{base}/api/v1/waves/{latest.pk}/breakdowns/?dimension=sector&measure=area&area=power"
    ).json()
    survivors = next(cell for cell in sector["cells"] if cell["groups"] == ["survivor-leaders"])
    page.goto(f"{base}/dashboards/waves/{latest.pk}/heatmap/?dimension=sector")
    cell = page.locator('.chart-cell[data-tip^="Survivor-led organizations & survivor-activists · Power"]')
    cell.focus()
    tip = page.locator(".chart-tip")
    assert tip.is_visible()
    assert tip.inner_text() == (
        "Survivor-led organizations & survivor-activists · Power & decision-making: "
        f"mean {format_mean(survivors['mean'])}; "
        f"n = 10 or more; 95% CI {format_mean(survivors['ci_low'])} to {format_mean(survivors['ci_high'])}"
    )
    page.locator('.chart-cell[data-tip^="Business · Power"]').hover()
    assert tip.inner_text() == "Business · Power & decision-making: hidden (too few respondents to show)"

    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG").click()
    path = download.value.path()
    assert download.value.suggested_filename == f"demo-wave-{latest.pk}-heatmap.png"
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert Path(download.value.path()).read_text().startswith("dimension,group,group_name,area,area_name,mean")
    assert {url.split("/")[2] for url in requests if not url.startswith(("blob:", "data:"))} == {base.split("/")[2]}
    context.close()
