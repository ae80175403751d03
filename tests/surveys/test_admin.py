"""The Django admin for stewards: scoped to their coalitions, frozen while a wave is open."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from surveys import services
from surveys.models import Coalition, Member, RosterChange
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


@pytest.mark.django_db
def test_a_coalition_added_in_the_admin_gets_the_default_sectors(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/surveys/coalition/add/",
        {"slug": "westside", "name": "Westside", "minimum_cell_size": 5, "sensitive_cell_size": 10,
         "gap_threshold": "0.50", "strength_threshold": "4.00", "watch_threshold": "3.00", "default_language": "en"},
    )  # fmt: skip

    assert response.status_code == 302
    coalition = Coalition.objects.get(slug="westside")
    assert coalition.sectors.count() == 13


@pytest.mark.django_db
def test_the_admin_refuses_a_minimum_cell_size_below_five(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/surveys/coalition/add/",
        {"slug": "lax", "name": "Lax", "minimum_cell_size": 3, "sensitive_cell_size": 10,
         "gap_threshold": "0.50", "strength_threshold": "4.00", "watch_threshold": "3.00", "default_language": "en"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 5." in response.content.decode()
    assert not Coalition.objects.filter(slug="lax").exists()


@pytest.mark.django_db
def test_deleting_a_member_in_the_admin_is_logged(admin_client: Client, coalition: Coalition) -> None:
    member = add_members(coalition, 1, "faith", email="gone@example.org")[0]

    admin_client.post(f"/admin/surveys/member/{member.pk}/delete/", {"post": "yes"})

    assert list(RosterChange.objects.values_list("action", "email")) == [("deleted", "gone@example.org")]


def test_reminder_days_must_be_distinct_days_in_a_year() -> None:
    from django.core.exceptions import ValidationError

    from surveys.models import validate_reminder_days

    validate_reminder_days([7, 14])
    for bad in ([0], [7, 7], ["7"], [400], 7):
        with pytest.raises(ValidationError):
            validate_reminder_days(bad)
