"""Password reset by email and password change: neutral, throttled, validated, single-use links."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from knox.models import AuthToken

from accounts import services as account_services
from tests.accounts.conftest import PASSWORD

NEW_PASSWORD = "Lantern-orchard-river-9"
RESET_LINK = re.compile(r"^http://127\.0\.0\.1:8000(/accounts/reset/[^/\s]+/[^/\s]+/)$", re.MULTILINE)
DONE_TEXT = (
    "If an account uses this address, we have sent a link to choose a new password. "
    "The link works once and expires after a few hours."
)


def request_reset(client: Client, email: str) -> Any:
    return client.post("/accounts/password_reset/", {"email": email}, follow=True)


def reset_link(message: Any) -> str:
    found = RESET_LINK.findall(message.body)
    assert len(found) == 1, message.body
    return str(found[0])


def without_csrf_tokens(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


def test_the_full_reset_flow_goes_through_the_email(client: Client, account: User) -> None:
    done = request_reset(client, "lee@example.org")

    assert done.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert DONE_TEXT in done.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Reset your Coalition Pulse password"
    assert message.to == ["lee@example.org"]
    assert message.from_email == "Coalition Pulse <no-reply@localhost>"
    assert "Your username is lee." in message.body
    assert "traffick" not in (message.subject + message.body).lower()

    link = reset_link(message)
    form_redirect = client.get(link)
    assert form_redirect.status_code == 302
    set_password_url = form_redirect["Location"]
    assert re.fullmatch(r"/accounts/reset/[^/]+/set-password/", set_password_url)
    form = client.get(set_password_url)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'autocomplete="new-password"' in html
    assert '<label for="id_new_password1">New password</label>' in html

    saved = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)

    assert saved.redirect_chain == [("/accounts/reset/done/", 302)]
    assert "Your new password is saved. You can log in with it now." in saved.content.decode()
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD)
    assert not account.check_password(PASSWORD)


def test_an_unknown_address_gets_the_identical_page_and_no_email(client: Client, account: User) -> None:
    known = request_reset(client, "lee@example.org")
    unknown = request_reset(Client(), "nobody@example.org")

    assert unknown.redirect_chain == known.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert without_csrf_tokens(unknown.content) == without_csrf_tokens(known.content)
    assert [message.to for message in mail.outbox] == [["lee@example.org"]]


def test_reset_requests_are_limited_to_three_an_hour_per_address_silently(client: Client, account: User) -> None:
    pages = [request_reset(client, email) for email in ["lee@example.org", "LEE@example.org", "lee@example.org "]]
    pages += [request_reset(client, "lee@example.org") for _request in range(3)]

    assert len(mail.outbox) == 3
    assert {without_csrf_tokens(page.content) for page in pages} == {without_csrf_tokens(pages[0].content)}
    assert [page.redirect_chain for page in pages] == [[("/accounts/password_reset/done/", 302)]] * 6
    # Another address has its own allowance.
    User.objects.create_user(username="sam", email="sam@example.org", password=PASSWORD)
    request_reset(client, "sam@example.org")
    assert [message.to for message in mail.outbox] == [["lee@example.org"]] * 3 + [["sam@example.org"]]


def test_the_reset_link_uses_the_configured_address_not_the_host_header(client: Client, account: User) -> None:
    client.post("/accounts/password_reset/", {"email": "lee@example.org"}, HTTP_HOST="localhost")

    assert reset_link(mail.outbox[0]).startswith("/accounts/reset/")
    assert "localhost" not in mail.outbox[0].body


@pytest.mark.parametrize(
    ("password", "errors"),
    [
        pytest.param(
            "12345",
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
            id="short-common-numeric",
        ),
        pytest.param("password", ["This password is too common."], id="common"),
        pytest.param("lee@example.org", ["The password is too similar to the email address."], id="like-the-email"),
    ],
)
def test_a_weak_new_password_is_refused_with_the_validators_messages(
    client: Client, account: User, password: str, errors: list[str]
) -> None:
    request_reset(client, "lee@example.org")
    set_password_url = client.get(reset_link(mail.outbox[0]))["Location"]

    response = client.post(set_password_url, {"new_password1": password, "new_password2": password})

    assert response.status_code == 200
    assert response.context["form"].errors == {"new_password2": errors}
    html = response.content.decode()
    assert 'aria-describedby="id_new_password2-errors id_new_password2-help"' in html
    assert 'aria-invalid="true"' in html
    assert '<ul class="error" id="id_new_password2-errors">' in html
    account.refresh_from_db()
    assert account.check_password(PASSWORD)


def test_the_reset_link_works_once(client: Client, account: User) -> None:
    request_reset(client, "lee@example.org")
    link = reset_link(mail.outbox[0])
    set_password_url = client.get(link)["Location"]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = Client().get(link, follow=True)

    assert again.status_code == 200
    assert again.context["validlink"] is False
    assert "This link is no longer valid: it has been used already or it has expired." in again.content.decode()
    assert 'name="new_password1"' not in again.content.decode()
    replay = Client().post(link, {"new_password1": "Someone-elses-choice-1", "new_password2": "Someone-elses-choice-1"})
    assert replay.status_code == 200
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD)


def test_changing_the_password_needs_the_old_one(client: Client, account: User) -> None:
    client.force_login(account)

    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    account.refresh_from_db()
    assert wrong.status_code == 200
    assert wrong.context["form"].errors == {
        "old_password": ["Your old password was entered incorrectly. Please enter it again."]
    }
    assert account.check_password(PASSWORD)
    assert 'autocomplete="current-password"' in wrong.content.decode()

    right = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    account.refresh_from_db()
    assert (right.status_code, right["Location"]) == (302, "/accounts/password_change/done/")
    assert account.check_password(NEW_PASSWORD)
    assert client.get("/accounts/password_change/done/").status_code == 200


def test_changing_the_password_needs_a_sign_in(client: Client, account: User) -> None:
    response = client.get("/accounts/password_change/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/accounts/password_change/")


def test_the_login_page_links_to_the_reset_and_the_top_bar_to_the_change(client: Client, account: User) -> None:
    login_page = client.get("/accounts/login/").content.decode()
    client.force_login(account)
    staff_page = client.get("/accounts/password_change/").content.decode()
    admin_login = Client().get("/admin/login/").content.decode()

    assert '<a href="/accounts/password_reset/">Forgot your password?</a>' in login_page
    assert '<a href="/accounts/password_change/">Change password</a>' in staff_page
    assert 'href="/admin/password_reset/"' in admin_login


def test_the_reset_pages_are_in_spanish_too(client: Client, account: User) -> None:
    page = client.get("/accounts/password_reset/", HTTP_ACCEPT_LANGUAGE="es")

    assert page.status_code == 200
    assert 'lang="es"' in page.content.decode()
    assert 'autocomplete="email"' in page.content.decode()


def test_a_password_change_or_reset_revokes_every_api_token(client: Client, account: User) -> None:
    account_services.api_token_create(user=account)
    account_services.api_token_create(user=account)
    client.force_login(account)
    client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert AuthToken.objects.filter(user=account).count() == 0

    _row, token = account_services.api_token_create(user=account)
    request_reset(Client(), account.email)
    link = reset_link(mail.outbox[-1])
    reset = Client()
    form_page = reset.get(link, follow=True)
    new = "Another-long-phrase-9"
    reset.post(form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})

    assert AuthToken.objects.filter(user=account).count() == 0
    assert Client().get("/api/v1/exports/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
