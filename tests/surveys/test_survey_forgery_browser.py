"""The forgery of issue 10 in a real browser: Debian's Chromium driven by Playwright.

The survey runs on survey.example.localhost and the attacker's page on
forum.example.localhost (Chromium resolves every *.localhost name to this
machine): two origins of one site, so the SameSite=Lax session cookie goes
along with the attacker's post. This checks what the unit tests assume
about browsers: the survey's own posts carry `Origin: null` (the pages send
`Referrer-Policy: no-referrer`) with `Sec-Fetch-Site: same-origin`, and the
sibling page's post carries the cookie with `Sec-Fetch-Site: same-site`.
"""

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import LazySettings

from surveys.models import Invitation, PendingSubmission
from tests.browser import BROWSER_MARKS
from tests.conftest import OpenWave
from tests.surveys.test_survey_flow import POWER_STEP

pytestmark = BROWSER_MARKS


def attack_page(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    # no-referrer makes the browser send `Origin: null`, which the old check let through.
    return (
        '<!doctype html><html lang="en"><head><meta name="referrer" content="no-referrer">'
        "<title>Forum</title></head><body>"
        f'<form method="post" action="{html.escape(action)}">{inputs}<button>Go</button></form></body></html>'
    )


class ForumPage(BaseHTTPRequestHandler):
    """The attacker's site: serves whatever page the test put in `body`."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def forum_server() -> Iterator[ThreadingHTTPServer]:
    # Another port of the same machine: ports do not count for "same site".
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForumPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_page_on_a_sibling_subdomain_cannot_submit_for_a_member_mid_survey(
    chromium: Any, live_server: Any, open_wave: OpenWave, settings: LazySettings, forum_server: ThreadingHTTPServer
) -> None:
    settings.ALLOWED_HOSTS = [".example.localhost"]
    survey = f"http://survey.example.localhost:{live_server.url.rsplit(':', 1)[1]}"
    forum = f"http://forum.example.localhost:{forum_server.server_address[1]}"
    invitation = Invitation.objects.filter(wave=open_wave.wave, member__language="en").select_related("member")[0]
    context = chromium.new_context()
    posts: list[Any] = []
    context.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    member = context.new_page()
    member.goto(f"{survey}/q/{open_wave.token_of(invitation.member)}")
    member.get_by_role("button", name="Start").click()
    member.get_by_label("4 · Agree").first.check()
    member.get_by_role("button", name="Next").click()
    assert member.locator("h1").inner_text() == "Mission & priorities"
    own_post = posts[-1].all_headers()
    assert (own_post["origin"], own_post["sec-fetch-site"]) == ("null", "same-origin")

    # The strongest attacker: its form even carries the member's form token and state.
    genuine = {
        name: member.locator(f'input[type="hidden"][name="{name}"]').get_attribute("value") or ""
        for name in ("form_token", "state")
    }
    forged = {**genuine, "step": POWER_STEP, "action": "submit", "a-power-1": "1"}
    ForumPage.body = attack_page(f"{survey}/q/", forged).encode()
    attacker = context.new_page()
    attacker.goto(f"{forum}/thread")
    attacker.get_by_role("button", name="Go").click()
    attacker.wait_for_load_state("load")

    forged_post = posts[-1].all_headers()
    assert (forged_post["origin"], forged_post["sec-fetch-site"]) == ("null", "same-site")
    assert "sessionid=" in forged_post["cookie"]  # SameSite=Lax did not stop it
    assert attacker.locator("h1").inner_text() == "This link is not active"
    assert PendingSubmission.objects.count() == 0
    assert Invitation.objects.filter(is_used=True).count() == 0

    member.get_by_role("button", name="Go to review").click()
    member.get_by_role("button", name="Submit my answers").click()
    assert member.locator("h1").inner_text() == "Thank you"
    assert PendingSubmission.objects.get().answers == {"problem-definition-1": 4}
    context.close()
