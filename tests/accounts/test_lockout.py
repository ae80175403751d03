"""Sign-in throttling (django-axes) on every login: site, admin and API token; attacked head-on."""

import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.lockout import client_ip_address
from accounts.tasks import delete_expired_login_attempts
from tests.accounts.conftest import PASSWORD
from tests.conftest import OpenWave

LOCKOUT_TEXT = "Too many failed sign-in attempts. Try again in an hour, or reset your password."
LOCKOUT_JSON = {"code": "locked_out", "detail": LOCKOUT_TEXT}
CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def site_login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def admin_login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **extra)


def api_login(client: Client, username: str, password: str, **extra: Any) -> Any:
    body = {"username": username, "password": password}
    return client.post("/api/v1/auth/token/", body, content_type="application/json", **extra)


LOGINS = [
    pytest.param(site_login, 200, 302, id="site-login"),
    pytest.param(admin_login, 200, 302, id="admin-login"),
    pytest.param(api_login, 400, 200, id="api-token-login"),
]


def without_csrf_tokens(content: bytes) -> bytes:
    return CSRF_TOKEN.sub(b"", content)


@pytest.mark.parametrize(("login", "failure_status", "success_status"), LOGINS)
def test_fifty_wrong_passwords_lock_after_five_and_the_right_one_is_refused(
    client: Client, account: User, login: Any, failure_status: int, success_status: int
) -> None:
    statuses = [login(client, "lee", f"wrong-{attempt}").status_code for attempt in range(50)]
    right = login(client, "lee", PASSWORD)

    assert statuses == [failure_status] * 5 + [429] * 45
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get().failures_since_start == 51


@pytest.mark.parametrize(("login", "failure_status", "success_status"), LOGINS)
def test_an_unknown_username_gets_the_same_answers(
    client: Client, account: User, login: Any, failure_status: int, success_status: int
) -> None:
    known = [login(client, "lee", "wrong") for _attempt in range(7)]
    unknown = [login(client, "nobody", "wrong") for _attempt in range(7)]

    assert [response.status_code for response in unknown] == [failure_status] * 5 + [429] * 2
    assert [without_csrf_tokens(response.content) for response in unknown] == [
        without_csrf_tokens(response.content).replace(b"lee", b"nobody") for response in known
    ]


def test_the_lockout_page_is_neutral_and_translatable(client: Client, account: User) -> None:
    for _attempt in range(6):
        page = site_login(client, "lee", "wrong")
    spanish = site_login(client, "lee", "wrong", HTTP_ACCEPT_LANGUAGE="es")

    assert page.status_code == 429
    assert "<h1>Sign-in paused</h1>" in page.content.decode()
    assert 'name="password"' not in page.content.decode()
    assert LOCKOUT_TEXT in page.content.decode()
    assert "lee" not in page.content.decode()
    assert '<a href="/accounts/password_reset/">Reset your password</a>' in page.content.decode()
    assert spanish.status_code == 429
    assert spanish.content.decode().startswith("<!doctype html>")
    assert 'lang="es"' in spanish.content.decode()


def test_the_api_lockout_is_json(client: Client, account: User) -> None:
    for _attempt in range(5):
        api_login(client, "lee", "wrong")

    response = api_login(client, "lee", "wrong")

    assert response.status_code == 429
    assert response.json() == LOCKOUT_JSON


def test_failures_count_across_the_site_admin_and_api_logins(client: Client, account: User) -> None:
    statuses = [site_login(client, "lee", "wrong").status_code for _attempt in range(3)]
    statuses += [admin_login(client, "lee", "wrong").status_code for _attempt in range(2)]

    assert statuses == [200] * 5
    assert api_login(client, "lee", PASSWORD).status_code == 200  # the sixth attempt may still succeed...
    assert AccessAttempt.objects.count() == 0  # ...and success resets the count
    statuses = [api_login(client, "lee", "wrong").status_code for _attempt in range(5)]
    assert statuses == [400] * 5
    assert site_login(client, "lee", "wrong").status_code == 429
    assert admin_login(client, "lee", PASSWORD).status_code == 429


def test_a_username_is_locked_after_twenty_failures_from_any_addresses(client: Client, account: User) -> None:
    statuses = [
        site_login(client, "lee", "wrong", REMOTE_ADDR=f"198.51.100.{address}").status_code
        for address in range(1, 6)
        for _attempt in range(4)
    ]

    assert statuses == [200] * 20
    assert site_login(client, "lee", "wrong", REMOTE_ADDR="198.51.100.6").status_code == 429
    assert site_login(client, "lee", PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    # Other accounts are not affected.
    User.objects.create_user(username="sam", password=PASSWORD)
    assert site_login(client, "sam", PASSWORD, REMOTE_ADDR="198.51.100.6").status_code == 302


def test_a_forged_forwarded_for_header_does_not_change_the_address(client: Client, account: User) -> None:
    statuses = [
        site_login(client, "lee", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}").status_code
        for attempt in range(1, 8)
    ]

    assert statuses == [200] * 5 + [429] * 2
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("proxies", "meta", "expected"),
    [
        pytest.param(0, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}, "10.0.0.2", id="no-proxy"),
        pytest.param(1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}, "192.0.2.9", id="one-proxy"),
        pytest.param(
            1,
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 192.0.2.9"},
            "192.0.2.9",
            id="one-proxy-forged-entry",
        ),
        pytest.param(
            2,
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 192.0.2.9, 10.0.0.1"},
            "192.0.2.9",
            id="two-proxies",
        ),
        pytest.param(2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}, "10.0.0.2", id="too-few"),
        pytest.param(1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "10.0.0.2", id="garbage"),
        pytest.param(1, {"REMOTE_ADDR": "10.0.0.2"}, "10.0.0.2", id="no-header"),
    ],
)
def test_the_client_address_follows_the_trusted_proxy_count(
    settings: Any, rf: Any, proxies: int, meta: dict[str, str], expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip_address(rf.get("/", **meta)) == expected


def test_the_lockout_ends_after_the_cool_off(client: Client, account: User) -> None:
    for _attempt in range(6):
        site_login(client, "lee", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=59))
    assert site_login(client, "lee", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=61))
    response = site_login(client, "lee", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(account.pk)
    assert AccessAttempt.objects.count() == 0


def test_a_success_resets_the_count_and_keeps_no_access_log(client: Client, account: User) -> None:
    for _attempt in range(4):
        site_login(client, "lee", "wrong")

    assert site_login(client, "lee", PASSWORD).status_code == 302
    Client().post("/accounts/logout/")

    assert AccessAttempt.objects.count() == 0
    assert AccessLog.objects.count() == 0
    assert [site_login(Client(), "lee", "wrong").status_code for _attempt in range(6)] == [200] * 5 + [429]


def test_a_failed_attempt_stores_no_password_and_no_username_in_the_posted_data(client: Client, account: User) -> None:
    site_login(client, "lee", "a-secret-guess", HTTP_USER_AGENT="Probe/1.0")

    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.path_info) == ("lee", "127.0.0.1", "/accounts/login/")
    assert attempt.post_data == "username=********************\npassword=********************"
    assert attempt.get_data == ""


def test_a_password_reset_lifts_the_lockout(client: Client, account: User) -> None:
    for _attempt in range(6):
        site_login(client, "lee", "wrong")
    client.post("/accounts/password_reset/", {"email": "lee@example.org"})
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/reset/\S+)", mail.outbox[0].body)
    assert link is not None
    form_page = client.get(link.group(1))
    client.post(
        form_page["Location"], {"new_password1": "Another-long-phrase-7", "new_password2": "Another-long-phrase-7"}
    )

    assert AccessAttempt.objects.count() == 0
    assert site_login(client, "lee", "Another-long-phrase-7").status_code == 302


def test_survey_routes_are_not_throttled_and_store_no_address(client: Client, open_wave: OpenWave) -> None:
    token = next(iter(open_wave.tokens.values()))
    User.objects.create_user(username="lee", password=PASSWORD)
    for _attempt in range(6):
        site_login(client, "lee", "wrong")
    AccessAttempt.objects.all().delete()

    entry = Client().get(f"/q/{token}")
    page = Client().get("/q/")
    unknown = Client().get("/q/" + "x" * len(token))

    assert (entry.status_code, entry["Location"]) == (302, "/q/")
    assert page.status_code == 200
    assert unknown.status_code == 200
    assert AccessAttempt.objects.count() == 0
    assert AccessLog.objects.count() == 0


def test_expired_attempts_are_deleted_by_the_beat_task(client: Client, account: User) -> None:
    site_login(client, "lee", "wrong", REMOTE_ADDR="198.51.100.1")
    site_login(client, "lee", "wrong", REMOTE_ADDR="198.51.100.2")
    AccessAttempt.objects.filter(ip_address="198.51.100.1").update(attempt_time=timezone.now() - timedelta(hours=2))

    first = delete_expired_login_attempts.delay().get()
    again = delete_expired_login_attempts.delay().get()

    assert first == {"login_attempts": 1, "api_tokens": 0}
    assert again == {"login_attempts": 0, "api_tokens": 0}
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.2"]


def test_the_cleanup_service_deletes_expired_tokens_too(account: User) -> None:
    from knox.models import AuthToken

    expired, _token = AuthToken.objects.create(user=account)
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    live, _live_token = AuthToken.objects.create(user=account)

    assert services.sign_in_records_delete_expired() == {"login_attempts": 0, "api_tokens": 1}
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]


def test_the_cleanup_runs_every_hour(settings: Any) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["delete-expired-login-attempts"] == {
        "task": "accounts.delete_expired_login_attempts",
        "schedule": timedelta(hours=1),
    }
