"""The export pages and the admin pages of grants and the audit log (HTML; the browser test drives them too)."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, TestCase

from exports import services
from exports.models import Export, ResearchGrant
from surveys import services as survey_services
from surveys.models import AuditEvent, Coalition, Instrument
from tests.exports.conftest import Setup, published_wave, researcher_with_grant
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_researcher_accepts_the_agreement_requests_and_downloads_from_the_pages(
    coalition: Coalition, instrument: Instrument, exports_root: Path
) -> None:
    wave = published_wave(coalition, instrument)
    researcher = researcher_with_grant(coalition, accept=False)
    client = logged_in(researcher)

    index = client.get("/exports/").content.decode()
    assert "Before you can export, read and accept the data-use agreement (version 1)." in index
    assert 'name="waves"' not in index  # no request form before the agreement
    refused = client.post("/exports/agreement/", {"version": "1"}, follow=True).content.decode()
    assert "Tick the box to accept the agreement." in refused
    client.post("/exports/agreement/", {"version": "1", "accept": "yes"})
    index = client.get("/exports/").content.decode()
    assert f'value="{wave.pk}"' in index
    with TestCase.captureOnCommitCallbacks(execute=True):
        requested = client.post("/exports/", {"waves": [str(wave.pk)]})
    export = Export.objects.get()
    assert requested["Location"] == f"/exports/{export.pk}/"
    detail = client.get(f"/exports/{export.pk}/").content.decode()
    assert "Ready" in detail
    assert "Download the zip file" in detail
    assert client.get(f"/exports/{export.pk}/download/").status_code == 405  # a GET (prefetch) never counts
    response = client.post(f"/exports/{export.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="coalition-pulse-export-')
    export.refresh_from_db()
    assert export.downloads == 1


def test_bad_form_input_gets_a_message_and_creates_nothing(setup: Setup) -> None:
    client = logged_in(setup.researcher)

    response = client.post("/exports/", {"waves": ["x"]}, follow=True)

    assert "Choose at least one wave to export." in response.content.decode()
    assert Export.objects.count() == 0


def test_another_users_export_pages_are_not_found(setup: Setup) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        export = services.export_request(user=setup.researcher, wave_ids=[setup.wave.pk])
    other = logged_in(researcher_with_grant(setup.coalition, username="cy"))

    assert other.get(f"/exports/{export.pk}/").status_code == 404
    assert other.post(f"/exports/{export.pk}/download/").status_code == 404
    assert other.post(f"/exports/{export.pk}/retry/").status_code == 404
    assert Client().get("/exports/").status_code == 302  # to the login page
    export.refresh_from_db()
    assert export.downloads == 0


def steward_of(coalition: Coalition, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-unused-password", is_staff=True)  # noqa: S106
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_researchgrant", "add_researchgrant", "view_auditevent"])
    )
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="other"), role="steward", user=user)
    return user


def test_a_steward_requests_access_for_a_researcher_of_their_roster_and_a_leader_approves_it(
    coalition: Coalition,
) -> None:
    steward = steward_of(coalition, "sam")
    steward.user_permissions.add(*Permission.objects.filter(codename="change_researchgrant"))
    researcher = User.objects.create_user(username="rae", password="x-unused-password")  # noqa: S106
    MemberFactory(
        coalition=coalition, sector=coalition.sectors.get(slug="education"), role="researcher", user=researcher
    )
    leader = User.objects.create_user(username="lee", password="x-unused-password")  # noqa: S106
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="faith"), role="leader", user=leader)
    outsider = User.objects.create_user(username="out", password="x-unused-password")  # noqa: S106
    Coalition.objects.create(slug="elsewhere", name="Elsewhere")
    client = logged_in(steward)

    form = client.get("/admin/exports/researchgrant/add/").content.decode()
    assert f'<option value="{researcher.pk}">rae</option>' in form
    assert f'value="{outsider.pk}"' not in form
    assert "Elsewhere" not in form
    response = client.post(
        "/admin/exports/researchgrant/add/", {"researcher": researcher.pk, "coalition": coalition.pk}
    )

    assert response.status_code == 302
    grant = ResearchGrant.objects.get()
    assert (grant.researcher, grant.status, grant.requested_by, grant.decided_by, grant.granted_at) == (
        researcher,
        "requested",
        "sam",
        "",
        None,
    )
    # The steward cannot approve their own request, in the admin or on the page.
    client.post("/admin/exports/researchgrant/", {"action": "approve", "_selected_action": [grant.pk]})
    client.post(f"/exports/access/{coalition.slug}/", {"action": "approve", "grant": grant.pk})
    grant.refresh_from_db()
    assert grant.status == "requested"

    page = logged_in(leader).post(f"/exports/access/{coalition.slug}/", {"action": "approve", "grant": grant.pk})

    assert page.status_code == 302
    grant.refresh_from_db()
    assert (grant.status, grant.decided_by, grant.granted_at is not None) == ("active", "lee", True)
    log = client.get("/admin/surveys/auditevent/").content.decode()
    assert "rae may export this coalition&#x27;s closed waves; requested by sam (agreement accepted: not yet)." in log
    assert list(AuditEvent.objects.order_by("id").values_list("coalition", "action", "actor")) == [
        (coalition.pk, "access-requested", "sam"),
        (coalition.pk, "access-granted", "lee"),
    ]


def test_a_steward_revokes_a_grant_and_cannot_delete_it(coalition: Coalition) -> None:
    steward = steward_of(coalition, "sam")
    steward.user_permissions.add(*Permission.objects.filter(codename="change_researchgrant"))
    researcher = researcher_with_grant(coalition, accept=False)
    grant = researcher.research_grants.get()
    client = logged_in(steward)

    client.post(
        "/admin/exports/researchgrant/",
        {"action": "revoke", "_selected_action": [grant.pk]},
    )

    grant.refresh_from_db()
    assert (grant.revoked_by, grant.revoked_at is not None) == ("sam", True)
    assert client.post(f"/admin/exports/researchgrant/{grant.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ResearchGrant.objects.count() == 1
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "access-requested",
        "access-granted",
        "access-revoked",
    ]


def test_another_coalitions_steward_sees_neither_its_grants_nor_its_log(setup: Setup) -> None:
    other = survey_services.coalition_create(slug="elsewhere", name="Elsewhere")
    foreign = logged_in(steward_of(other, "zed"))

    grants = foreign.get("/admin/exports/researchgrant/").content.decode()
    log = foreign.get("/admin/surveys/auditevent/").content.decode()

    assert "0 research grants" in grants
    assert "0 audit events" in log
