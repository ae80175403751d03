"""API tokens (django-rest-knox): hashed at rest, expiring, shown once, revocable."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.accounts.conftest import PASSWORD

PROBE = "/api/v1/exports/"  # any endpoint that needs a signed-in user: [] for one with no exports
NOT_AUTHENTICATED = {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}
INVALID_TOKEN = {"code": "authentication_failed", "detail": "Invalid token."}


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def api_login(client: Client, username: str, password: str) -> Any:
    body = {"username": username, "password": password}
    return client.post("/api/v1/auth/token/", body, content_type="application/json")


def test_the_token_login_returns_the_token_once_with_its_expiry(client: Client, account: User) -> None:
    before = timezone.now()
    response = api_login(client, "lee", PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    row = AuthToken.objects.get()
    assert body["expiry"] == row.expiry.isoformat().replace("+00:00", "Z")
    assert before + timedelta(days=30) <= row.expiry <= timezone.now() + timedelta(days=30)
    assert len(body["token"]) == 64
    assert token_client(body["token"]).get(PROBE).json() == []
    account.refresh_from_db()
    assert account.last_login is not None


def test_the_database_holds_a_digest_not_the_token(account: User) -> None:
    row, token = AuthToken.objects.create(user=account)

    stored = AuthToken.objects.values().get()
    assert stored["digest"] == hash_token(token)
    assert stored["digest"] != token
    assert stored["token_key"] == token[:15]
    assert token not in [str(value) for value in stored.values()]
    assert row.expiry is not None


def test_a_token_works_until_it_expires(account: User) -> None:
    row, token = AuthToken.objects.create(user=account)
    assert token_client(token).get(PROBE).status_code == 200

    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = token_client(token).get(PROBE)

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert AuthToken.objects.count() == 0


def test_a_wrong_token_or_none_is_refused(account: User) -> None:
    _row, token = AuthToken.objects.create(user=account)
    forged = token[:15] + "0" * 49

    assert token_client(forged).get(PROBE).json() == INVALID_TOKEN
    assert APIClient().get(PROBE).json() == NOT_AUTHENTICATED


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        pytest.param(
            {"username": "lee", "password": "wrong"},
            400,
            {"code": "invalid_credentials", "detail": "The username or password is not correct."},
            id="wrong-password",
        ),
        pytest.param(
            {"username": "nobody", "password": "wrong"},
            400,
            {"code": "invalid_credentials", "detail": "The username or password is not correct."},
            id="unknown-username",
        ),
        pytest.param(
            {"username": "lee"},
            400,
            {
                "code": "invalid",
                "detail": "The request is not valid.",
                "errors": {"password": ["This field is required."]},
            },
            id="no-password",
        ),
    ],
)
def test_a_failed_token_login_gets_a_neutral_400(
    client: Client, account: User, body: dict[str, str], status: int, expected: dict[str, Any]
) -> None:
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == status
    assert response.json() == expected
    assert AuthToken.objects.count() == 0


def test_an_inactive_account_gets_no_token(client: Client, account: User) -> None:
    User.objects.filter(pk=account.pk).update(is_active=False)

    response = api_login(client, "lee", PASSWORD)

    assert response.status_code == 400
    assert AuthToken.objects.count() == 0


def test_an_account_holds_at_most_five_tokens(client: Client, account: User) -> None:
    statuses = [api_login(client, "lee", PASSWORD).status_code for _attempt in range(6)]

    assert statuses == [200] * 5 + [409]
    assert AuthToken.objects.count() == 5
    # An expired token no longer counts.
    AuthToken.objects.filter(pk=AuthToken.objects.order_by("created").first().pk).update(  # type: ignore[union-attr]
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert api_login(client, "lee", PASSWORD).status_code == 200
    assert AuthToken.objects.count() == 5


def test_logout_revokes_this_token_and_logoutall_every_token(account: User) -> None:
    _first, first = AuthToken.objects.create(user=account)
    _second, second = AuthToken.objects.create(user=account)
    _third, third = AuthToken.objects.create(user=account)

    assert token_client(first).post("/api/v1/auth/logout/").status_code == 204
    assert token_client(first).get(PROBE).status_code == 401
    assert token_client(second).get(PROBE).status_code == 200
    assert token_client(second).post("/api/v1/auth/logoutall/").status_code == 204
    assert token_client(third).get(PROBE).status_code == 401
    assert AuthToken.objects.count() == 0


def test_the_tokens_page_needs_a_sign_in(client: Client) -> None:
    response = client.get("/accounts/tokens/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/accounts/tokens/")


def test_the_tokens_page_shows_a_new_token_once_and_then_only_its_prefix(client: Client, account: User) -> None:
    client.force_login(account)

    created = client.post("/accounts/tokens/")
    row = AuthToken.objects.get()
    token = created.context["new_token"]
    listed = client.get("/accounts/tokens/")

    assert created.status_code == 200
    assert created.content.decode().count(token) == 1
    assert "Copy it now: it is shown only this once and cannot be shown again." in created.content.decode()
    assert hash_token(token) == row.digest
    assert token_client(token).get(PROBE).status_code == 200
    html = listed.content.decode()
    assert token not in html
    assert token[:9] not in html
    assert f"<code>{token[:8]}…</code>" in html
    assert listed.context["rows"] == [
        {"digest": row.digest, "prefix": token[:8], "created": row.created, "expiry": row.expiry}
    ]


def test_revoking_on_the_page_refuses_the_token_with_401(client: Client, account: User) -> None:
    row, token = AuthToken.objects.create(user=account)
    client.force_login(account)

    response = client.post("/accounts/tokens/revoke/", {"digest": row.digest}, follow=True)

    assert response.redirect_chain == [("/accounts/tokens/", 302)]
    assert "The token was revoked. Programs using it can no longer sign in." in response.content.decode()
    assert token_client(token).get(PROBE).status_code == 401
    assert AuthToken.objects.count() == 0


def test_nobody_can_revoke_another_accounts_token(client: Client, account: User) -> None:
    other = User.objects.create_user(username="sam", password=PASSWORD)
    row, token = AuthToken.objects.create(user=account)
    client.force_login(other)

    response = client.post("/accounts/tokens/revoke/", {"digest": row.digest}, follow=True)

    assert "No such token: it may have expired or been revoked already." in response.content.decode()
    assert token_client(token).get(PROBE).status_code == 200


def test_creating_and_revoking_need_the_csrf_token(account: User) -> None:
    row, _token = AuthToken.objects.create(user=account)
    client = Client(enforce_csrf_checks=True)
    client.force_login(account)

    assert client.post("/accounts/tokens/").status_code == 403
    assert client.post("/accounts/tokens/revoke/", {"digest": row.digest}).status_code == 403
    assert list(AuthToken.objects.values_list("digest", flat=True)) == [row.digest]


def test_the_page_refuses_a_sixth_token(client: Client, account: User) -> None:
    client.force_login(account)
    statuses = [client.post("/accounts/tokens/").status_code for _attempt in range(6)]

    assert statuses == [200] * 5 + [409]
    assert AuthToken.objects.count() == 5


def test_the_schema_documents_the_token_endpoints(client: Client, db: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert set(schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]) == {"200", "400", "409", "429"}
    assert set(schema["paths"]["/api/v1/auth/logout/"]["post"]["responses"]) == {"204", "401"}
    assert set(schema["paths"]["/api/v1/auth/logoutall/"]["post"]["responses"]) == {"204", "401"}
    assert schema["components"]["securitySchemes"]["knoxApiToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }


def test_the_old_plain_text_token_table_is_gone(db: Any, table_names: list[str]) -> None:
    assert "authtoken_token" not in table_names
    assert ("knox_authtoken" in table_names, "axes_accessattempt" in table_names) == (True, True)
