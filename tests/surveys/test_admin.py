"""The Django admin for stewards: scoped to their coalitions, frozen while a wave is open."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from surveys import services
from surveys.models import Member
from tests.conftest import OpenWave, add_members
from tests.factories import UserFactory


@pytest.fixture
def steward_client(client: Client, open_wave: OpenWave) -> Client:
    user = UserFactory(username="stew", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="surveys", codename__in=["view_member", "change_member", "view_wave"]
        )
    )
    add_members(open_wave.wave.coalition, 1, "faith", user=user, role=Member.Role.STEWARD, email="stew@example.org")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_steward_sees_only_their_coalitions_members(steward_client: Client, open_wave: OpenWave) -> None:
    other = services.coalition_create(slug="elsewhere", name="Elsewhere")
    add_members(other, 1, "faith", email="stranger@example.org")

    page = steward_client.get("/admin/surveys/member/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "stew@example.org" in body
    assert "stranger@example.org" not in body
    stranger = Member.objects.get(email="stranger@example.org")
    assert steward_client.get(f"/admin/surveys/member/{stranger.pk}/change/").status_code == 302


@pytest.mark.django_db
def test_members_cannot_be_changed_in_the_admin_while_a_wave_is_open(
    steward_client: Client, open_wave: OpenWave
) -> None:
    member = Member.objects.filter(coalition=open_wave.wave.coalition).exclude(email="stew@example.org").first()
    assert member is not None
    original_sector = member.sector_id

    response = steward_client.post(
        f"/admin/surveys/member/{member.pk}/change/",
        {"coalition": member.coalition_id, "email": member.email, "sector": original_sector + 1, "role": "member",
         "language": "en", "is_active": "on"},
    )  # fmt: skip

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.sector_id == original_sector


@pytest.mark.django_db
def test_the_admin_never_offers_invitations_or_responses(admin_client: Client, open_wave: OpenWave) -> None:
    index = admin_client.get("/admin/").content.decode()

    assert "/admin/surveys/response/" not in index
    assert "/admin/surveys/invitation/" not in index
    assert admin_client.get("/admin/surveys/response/").status_code == 404
