"""What the browser tests share: Debian's Chromium (never a browser download), its flags, the viewports."""

import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)"),
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# As root in a sandbox with no internet: no sandboxing, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def assert_accessible(page: Any) -> None:
    """axe-core finds no violation on the page (each listed with the elements it concerns)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [(v["id"], v["help"], [node["target"] for node in v["nodes"]]) for v in results.response["violations"]]
    assert violations == []


def log_in(context: Any, base: str, *, username: str, password: str, language: str) -> Any:
    """Sign in through the login form, as a person would, then switch to `language` with the top bar's button."""
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{base}/")
    if language == "es":
        page.get_by_role("button", name="Español").click()
        page.wait_for_load_state()
    return page
