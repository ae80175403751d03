"""Leaders' oversight pages, and the admin scoped to the steward's coalitions (issue 10)."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from exports import services as export_services
from surveys import attestation, selectors, services
from surveys.errors import NotAllowed
from surveys.models import AuditEvent, Coalition, Instrument, Member, RosterAttestation, Wave
from tests.conftest import add_members, attest
from tests.factories import MemberFactory


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_role(coalition: Coalition, role: str, username: str, sector: str = "other", **fields: Any) -> User:
    user = User.objects.create_user(username=username, **fields)
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug=sector), role=role, user=user)
    return user


@pytest.fixture
def draft(coalition: Coalition, instrument: Instrument) -> Wave:
    return services.wave_create(coalition=coalition, label="2027 Q1", instrument=instrument)


@pytest.mark.django_db
def test_a_leader_reviews_and_confirms_the_roster_on_the_page_and_the_wave_opens(
    coalition: Coalition, draft: Wave
) -> None:
    steward = with_role(coalition, "steward", "stew")
    leader = with_role(coalition, "leader", "lee", sector="faith")
    services.roster_import(
        coalition=coalition, content="email,sector\na@x.example,law-enforcement\nb@y.example,faith\n", by=steward
    )
    revision = Coalition.objects.get(pk=coalition.pk).roster_revision
    client = login(leader)

    page = client.get(f"/manage/{coalition.slug}/waves/{draft.pk}/roster/").content.decode()
    assert "The wave will be sent to 4 people in 3 sectors." in page
    assert "This is the coalition’s first wave: everyone on the roster counts as added." in page
    assert "<td>stew</td>" in page
    assert f'name="revision" value="{revision}"' in page
    unticked = client.post(f"/manage/{coalition.slug}/waves/{draft.pk}/roster/", {"revision": revision}, follow=True)
    assert "Tick the box to say you reviewed the roster, then confirm." in unticked.content.decode()
    assert RosterAttestation.objects.count() == 0

    done = client.post(
        f"/manage/{coalition.slug}/waves/{draft.pk}/roster/", {"revision": revision, "confirm": "yes"}, follow=True
    )

    assert "You confirmed the roster of 2027 Q1. The wave can open." in done.content.decode()
    attestation = RosterAttestation.objects.get()
    assert (attestation.wave, attestation.attested_by, attestation.revision, attestation.summary["total"]) == (
        draft,
        leader,
        revision,
        4,
    )
    wave = services.wave_open(wave_id=draft.pk)
    assert (wave.status, wave.invited_count, wave.opened_revision) == ("open", 4, revision)
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("wave-created", "command line"),
        ("roster-attested", "lee"),
        ("wave-opened", "schedule or command line"),
    ]


@pytest.mark.django_db
def test_a_stale_review_is_refused_and_changes_nothing(coalition: Coalition, draft: Wave) -> None:
    leader = with_role(coalition, "leader", "lee")
    stale = Coalition.objects.get(pk=coalition.pk).roster_revision
    services.roster_import(coalition=coalition, content="email,sector\nlate@x.example,faith\n")

    page = login(leader).post(
        f"/manage/{coalition.slug}/waves/{draft.pk}/roster/", {"revision": stale, "confirm": "yes"}, follow=True
    )

    assert "The roster changed while you were reviewing it. Review it again, then confirm." in page.content.decode()
    assert RosterAttestation.objects.count() == 0


@pytest.mark.django_db
def test_every_leader_sees_the_roster_history_per_wave_and_the_audit_log(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    steward = with_role(coalition, "steward", "stew")
    leader = with_role(coalition, "leader", "lee")
    first = services.wave_create(coalition=coalition, label="2026 Q4", instrument=instrument)
    attest(first, by=leader)
    services.wave_open(wave_id=first.pk)
    services.wave_close(wave_id=first.pk)
    services.roster_import(
        coalition=coalition, content="email,sector\nn1@x.example,faith\nn2@x.example,faith\n", by=steward
    )
    client = login(leader)

    history = client.get(f"/manage/{coalition.slug}/roster/history/").content.decode()
    audit = client.get(f"/manage/{coalition.slug}/audit/").content.decode()

    assert "Since the last wave opened" in history
    assert "<tr><td>stew</td><td>added</td><td>Faith communities</td><td>2</td></tr>" in history
    assert "Before 2026 Q4 opened" in history
    assert "Roster of wave 2026 Q4 confirmed: 14 people in 4 sectors" in audit
    assert "Wave 2026 Q4 closed." in audit


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["", "roster/history/", "audit/"])
def test_oversight_pages_are_not_found_for_members_researchers_and_other_coalitions(
    coalition: Coalition, path: str
) -> None:
    other = services.coalition_create(slug="elsewhere", name="Elsewhere")
    outsider = with_role(other, "leader", "out")
    researcher = with_role(coalition, "researcher", "res")
    member = with_role(coalition, "member", "mem")

    for user in (outsider, researcher, member):
        assert login(user).get(f"/manage/{coalition.slug}/{path}").status_code == 404
    assert Client().get(f"/manage/{coalition.slug}/{path}").status_code == 302


@pytest.mark.django_db
def test_the_admin_shows_a_steward_neither_other_coalitions_nor_usernames(coalition: Coalition) -> None:
    services.coalition_create(slug="elsewhere", name="Elsewhere Secret Coalition")
    bystander = User.objects.create_user(username="bystander-login")
    steward = with_role(coalition, "steward", "stew", is_staff=True)
    steward.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_member", "add_member", "change_member", "view_auditevent", "view_rosterchange",
                          "view_wave", "view_sector"]
        )
    )  # fmt: skip
    [member] = add_members(coalition, 1, "faith")
    client = login(steward)

    pages = [
        client.get(path).content.decode()
        for path in (
            "/admin/surveys/member/",
            "/admin/surveys/member/add/",
            f"/admin/surveys/member/{member.pk}/change/",
            "/admin/surveys/auditevent/",
            "/admin/surveys/rosterchange/",
            "/admin/surveys/wave/",
            "/admin/surveys/sector/",
        )
    ]

    for page in pages:
        assert "Elsewhere Secret Coalition" not in page
        assert "bystander-login" not in page
        assert 'name="user"' not in page
    assert client.get(f"/admin/auth/user/?_to_field=id&_popup=1&id={bystander.pk}").status_code == 403
    # A user id slipped into the form is ignored: only a platform admin links logins.
    client.post(
        f"/admin/surveys/member/{member.pk}/change/",
        {"coalition": coalition.pk, "email": member.email, "sector": member.sector_id, "role": "member",
         "language": "en", "is_active": "on", "user": bystander.pk},
    )  # fmt: skip
    member.refresh_from_db()
    assert member.user_id is None


@pytest.mark.django_db
def test_admin_writes_go_through_the_services_and_are_audited_for_superusers_too(
    coalition: Coalition, draft: Wave, admin_client: Client
) -> None:
    member_page = admin_client.post(
        "/admin/surveys/member/add/",
        {"coalition": coalition.pk, "email": "New@Example.org", "sector": coalition.sectors.get(slug="faith").pk,
         "role": "member", "language": "en", "is_active": "on"},
    )  # fmt: skip
    refused = admin_client.post("/admin/surveys/wave/", {"action": "open_now", "_selected_action": [draft.pk]})
    attest(draft)
    admin_client.post("/admin/surveys/wave/", {"action": "open_now", "_selected_action": [draft.pk]})

    assert (member_page.status_code, refused.status_code) == (302, 302)
    added = Member.objects.get(email="new@example.org")
    change = coalition.roster_changes.get()
    assert (change.action, change.email, change.sector, change.actor, change.actor_user.username) == (
        "added",
        added.email,
        "faith",
        "admin",
        "admin",
    )
    # The roster changed after the confirmation above? No: the member was added before it.
    assert list(coalition.audit_events.order_by("id").values_list("action", "actor")) == [
        ("wave-created", "command line"),
        ("roster-attested", "platform-admin"),
        ("wave-opened", "admin"),
    ]


@pytest.mark.django_db
def test_a_roster_file_cannot_turn_a_login_into_a_researcher_beside_its_steward_role(coalition: Coalition) -> None:
    user = with_role(coalition, "steward", "stew")
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="faith"), role="leader", user=user,
                  email="second@x.example")  # fmt: skip
    revision = Coalition.objects.get(pk=coalition.pk).roster_revision

    by_steward = services.roster_import(
        coalition=coalition, content="email,sector,role\nsecond@x.example,faith,researcher\n", by=user
    )
    by_command = services.roster_import(
        coalition=coalition, content="email,sector,role\nsecond@x.example,faith,researcher\n"
    )

    assert by_steward.errors == [
        "second@x.example: Only a platform admin can change the role of a roster entry with a login, or reactivate it."
    ]
    assert by_command.errors == [
        "second@x.example: One login cannot be both a data steward and a researcher of the same coalition, unless "
        "a platform admin approves the combination."
    ]
    assert Member.objects.get(email="second@x.example").role == "leader"
    assert Coalition.objects.get(pk=coalition.pk).roster_revision == revision


@pytest.mark.django_db
def test_the_review_warns_when_a_sensitive_sector_lost_its_higher_threshold(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    steward = with_role(coalition, "steward", "stew")
    first = services.wave_create(coalition=coalition, label="2026 Q4", instrument=instrument)
    attest(first)
    services.wave_open(wave_id=first.pk)
    services.wave_close(wave_id=first.pk)
    sector = coalition.sectors.get(slug="survivor-leaders")
    sector.is_sensitive = False
    services.sector_save(sector=sector, changed=["is_sensitive"], by=steward, is_new=False)
    draft = services.wave_create(coalition=coalition, label="2027 Q1", instrument=instrument)

    review = attestation.roster_review(wave=draft)

    assert review.warnings[0] == (
        "Survivor-led organizations & survivor-activists is no longer marked sensitive: its results will be shown "
        "from 5 answers instead of 10."
    )
    assert [(group.actor, group.action, group.sector, group.count) for group in review.changes] == [
        ("stew", "sector", "Survivor-led organizations & survivor-activists", 1)
    ]


@pytest.mark.django_db
def test_the_home_page_tells_a_leader_what_waits_for_them_and_not_the_steward(
    coalition: Coalition, draft: Wave
) -> None:
    steward = with_role(coalition, "steward", "stew")
    leader = with_role(coalition, "leader", "lee")
    researcher = with_role(coalition, "researcher", "res")
    export_services.grant_request(researcher=researcher, coalition=coalition, by=steward)

    leader_home = login(leader).get("/").content.decode()
    steward_home = login(steward).get("/").content.decode()

    assert (
        f'<a href="/manage/riverside/waves/{draft.pk}/roster/">Review and confirm the roster of 2027 Q1 '
        "(Riverside Partnership): the wave cannot open until a leader does.</a>"
    ) in leader_home
    assert (
        '<a href="/exports/access/riverside/">1 research access request of Riverside Partnership waits for a '
        "decision.</a>"
    ) in leader_home
    assert "Waiting for you" not in steward_home
    attest(draft, by=leader)
    assert "Waiting for you" in login(leader).get("/").content.decode()
    assert "Review and confirm the roster" not in login(leader).get("/").content.decode()


# --- Moving things between coalitions, reactivations, stale copies (a review's attacks) ------------


@pytest.fixture
def two_coalitions(coalition: Coalition) -> tuple[Coalition, Coalition, User]:
    """A steward of two coalitions, A (riverside) and B."""
    other = services.coalition_create(slug="bayside", name="Bayside")
    steward = with_role(coalition, "steward", "stew", is_staff=True)
    MemberFactory(coalition=other, sector=other.sectors.get(slug="other"), role="steward", user=steward,
                  email="stew@bayside.example")  # fmt: skip
    steward.user_permissions.set(
        Permission.objects.filter(codename__in=["view_member", "add_member", "change_member", "view_wave",
                                                "change_wave", "view_sector", "change_sector"])
    )  # fmt: skip
    return coalition, other, steward


@pytest.mark.django_db
def test_a_confirmed_draft_wave_cannot_move_to_another_coalition(
    two_coalitions: tuple[Coalition, Coalition, User], instrument: Instrument
) -> None:
    first, second, steward = two_coalitions
    wave = services.wave_create(coalition=first, label="2027 Q1", instrument=instrument)
    attest(wave)
    client = login(steward)

    client.post(
        f"/admin/surveys/wave/{wave.pk}/change/",
        {"coalition": second.pk, "instrument": instrument.pk, "label": "2027 Q1", "opens_at_0": "2027-01-01",
         "opens_at_1": "09:00:00", "closes_at_0": "2027-01-22", "closes_at_1": "09:00:00", "reminder_days": "[7]"},
    )  # fmt: skip
    moved = Wave.objects.get(pk=wave.pk)
    moved.coalition = second
    with pytest.raises(services.ServiceError, match="A wave stays in its coalition"):
        services.wave_update(wave=moved, changed=["coalition"], by=steward)

    assert Wave.objects.get(pk=wave.pk).coalition_id == first.pk


@pytest.mark.django_db
def test_members_and_sectors_stay_in_their_coalition(two_coalitions: tuple[Coalition, Coalition, User]) -> None:
    first, second, steward = two_coalitions
    [member] = add_members(first, 1, "faith")
    revision = Coalition.objects.get(pk=first.pk).roster_revision
    client = login(steward)

    client.post(
        f"/admin/surveys/member/{member.pk}/change/",
        {"coalition": second.pk, "email": member.email, "sector": second.sectors.get(slug="faith").pk,
         "role": "member", "language": "en", "is_active": "on"},
    )  # fmt: skip
    member.refresh_from_db()
    assert (member.coalition_id, member.sector.coalition_id) == (first.pk, first.pk)
    member.sector = second.sectors.get(slug="faith")
    with pytest.raises(services.ServiceError, match="Choose one of this coalition’s sectors."):
        services.member_save(member=member, changed=["sector"], by=steward, is_new=False)
    member.refresh_from_db()
    member.coalition = second
    with pytest.raises(services.ServiceError, match="A roster entry stays in its coalition"):
        services.member_save(member=member, changed=["coalition"], by=steward, is_new=False)
    sector = first.sectors.get(slug="health")
    sector.coalition = second
    with pytest.raises(services.ServiceError, match="A sector stays in its coalition."):
        services.sector_save(sector=sector, changed=["coalition"], by=steward, is_new=False)

    assert Member.objects.get(pk=member.pk).coalition_id == first.pk
    assert first.sectors.filter(slug="health").exists()
    assert Coalition.objects.get(pk=first.pk).roster_revision == revision


@pytest.mark.django_db
def test_a_steward_cannot_reactivate_an_entry_with_a_login(coalition: Coalition) -> None:
    steward = with_role(coalition, "steward", "stew")
    old_role = MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="faith"), role="leader",
                             user=steward, email="old-lead@x.example", is_active=False)  # fmt: skip
    old_role.is_active = True

    with pytest.raises(NotAllowed, match="or reactivate it"):
        services.member_save(member=old_role, changed=["is_active"], by=steward, is_new=False)
    report = services.roster_import(coalition=coalition, content="email,sector,role\nold-lead@x.example,faith,leader\n",
                                    by=steward)  # fmt: skip

    assert report.errors == [
        "old-lead@x.example: Only a platform admin can change the role of a roster entry with a login, or "
        "reactivate it."
    ]
    assert Member.objects.get(pk=old_role.pk).is_active is False
    assert selectors.is_leader(user=steward, coalition=coalition) is False


@pytest.mark.django_db
def test_editing_a_wave_in_the_admin_never_writes_back_a_stale_copy(
    coalition: Coalition, roster: list[Member], draft: Wave
) -> None:
    stale = Wave.objects.get(pk=draft.pk)
    attest(draft)
    services.wave_open(wave_id=draft.pk)
    stale.closes_at = stale.closes_at + timedelta(days=7)

    services.wave_update(wave=stale, changed=["closes_at"], by=None)

    wave = Wave.objects.get(pk=draft.pk)
    assert (wave.status, wave.invited_count, wave.closes_at) == ("open", 12, stale.closes_at)
    assert wave.opened_revision is not None
    assert len(wave.sectors_snapshot) == 13


@pytest.mark.django_db
def test_the_review_compares_with_the_roster_the_previous_wave_opened_on(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    steward = with_role(coalition, "steward", "stew")
    first = services.wave_create(coalition=coalition, label="2026 Q4", instrument=instrument)
    attest(first)
    services.wave_open(wave_id=first.pk)
    services.wave_close(wave_id=first.pk)
    mover = roster[0]  # victim services -> faith
    mover.sector = coalition.sectors.get(slug="faith")
    services.member_save(member=mover, changed=["sector"], by=steward, is_new=False)
    gone = coalition.sectors.get(slug="survivor-leaders")  # its 2 members leave with it
    gone.is_active = False
    services.sector_save(sector=gone, changed=["is_active"], by=steward, is_new=False)
    draft = services.wave_create(coalition=coalition, label="2027 Q1", instrument=instrument)

    review = attestation.roster_review(wave=draft)

    rows = {row.slug: (row.members, row.previous, row.added, row.removed, row.moved) for row in review.sectors}
    assert rows["victim-services"] == (5, 6, 0, 0, 0)
    assert rows["faith"] == (1, 0, 0, 0, 1)
    assert rows["survivor-leaders"] == (0, 2, 0, 2, 0)
    assert rows["law-enforcement"] == (4, 4, 0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [{"action": "request", "researcher": "abc"}, {"action": "approve", "grant": "abc"}, {"action": "approve"},
     {"action": "nonsense"}, {}],
    ids=["bad-researcher", "bad-grant", "no-grant", "unknown-action", "empty"],
)  # fmt: skip
def test_bad_input_on_the_access_page_gets_a_readable_refusal(coalition: Coalition, data: dict[str, str]) -> None:
    leader = with_role(coalition, "leader", "lee")

    page = login(leader).post(f"/exports/access/{coalition.slug}/", data, follow=True)

    assert page.status_code in (200, 404)
    assert coalition.research_grants.count() == 0
