"""The lone-steward attack of issue 10, replayed step by step through the product's own pages.

A data steward imports a roster of 11: the target, themselves and 9 addresses they control. Were
the wave to open, they would answer 10 times with answers they know and subtract those from the
published overall item means (n = 11): what remains is the target's answers. They also try to
give themselves research access and export the microdata.

`recover_target` is the test's own checker, not the engine's audit: it reads only the results
API's JSON and undoes the sums with the documented definition of an item score (docs/analytics.md:
the answer on its own scale, reversed as points + 1 - answer for reverse-keyed items). With the
attestation bypassed (the row written directly, as if a second person had confirmed), the checker
recovers the target's answers exactly, so it sees the leak; through the product, the attack stops
at its first step that needs a second person.
"""

import csv
import io
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase

from analytics import services as analytics_services
from analytics.engine.frame import scale_items
from exports import services as export_services
from exports.models import ResearchGrant
from surveys import attestation, selectors, services
from surveys.errors import NotAllowed
from surveys.management.commands.load_demo import STEWARD_PERMISSIONS
from surveys.models import Coalition, Instrument, Invitation, Member, RosterAttestation, Wave
from surveys.tokens import token_for_invitation, token_hash
from tests.analytics.conftest import all_cells
from tests.factories import MemberFactory

TARGET = "target@shelter.example"
CONTROLLED = [f"alias{number}@mail.example" for number in range(1, 10)]


def steward_login(coalition: Coalition) -> User:
    user = User.objects.create_user(username="stew", password="x-unused-password", is_staff=True)  # noqa: S106
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=("surveys", "exports"), codename__in=STEWARD_PERMISSIONS)
    )
    # A platform admin gave the steward their role (a roster entry with their login) before the attack.
    MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug="advocacy"), role="steward", user=user,
                  email="stew@advocacy.example")  # fmt: skip
    return user


def import_roster_through_the_page(client: Client, coalition: Coalition) -> None:
    content = io.StringIO()
    writer = csv.writer(content)
    writer.writerow(["email", "sector"])
    writer.writerow([TARGET, "victim-services"])
    for email in CONTROLLED:
        writer.writerow([email, "victim-services"])
    upload = SimpleUploadedFile("roster.csv", content.getvalue().encode(), content_type="text/csv")
    page = client.post(f"/manage/{coalition.slug}/roster/", {"file": upload})
    assert page.status_code == 200
    assert "Imported: 10 added, 0 updated, 0 unchanged." in page.content.decode()


def create_wave_in_the_admin(client: Client, coalition: Coalition, instrument: Instrument) -> Wave:
    response = client.post(
        "/admin/surveys/wave/add/",
        {"coalition": coalition.pk, "instrument": instrument.pk, "label": "2026 Q4",
         "opens_at_0": "2026-12-01", "opens_at_1": "09:00:00", "closes_at_0": "2026-12-22", "closes_at_1": "09:00:00",
         "reminder_days": "[7, 14]"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    return Wave.objects.get(coalition=coalition, label="2026 Q4")


def answers_of(rng: np.random.Generator, instrument: Instrument) -> dict[str, int]:
    return {item.slug: int(rng.integers(1, item.points + 1)) for item in scale_items(instrument.definition)}


def recover_target(cells: list[dict[str, Any]], known: list[dict[str, int]], instrument: Instrument) -> dict[str, int]:
    """Return the one unknown respondent's answers from the overall item means and the known answers."""
    items = {item.slug: item for item in scale_items(instrument.definition)}
    recovered = {}
    for cell in cells:
        if cell["dimensions"] != [] or cell["measure"] != "item" or cell["mean"] is None:
            continue
        item = items[cell["area"]]
        n = cell["n"]
        assert n == len(known) + 1

        def score(answer: int, item: Any = item) -> int:
            return item.points + 1 - answer if item.is_reversed else answer

        target_score = round(n * cell["mean"] - sum(score(answers[item.slug]) for answers in known))
        recovered[item.slug] = item.points + 1 - target_score if item.is_reversed else target_score
    return recovered


@pytest.fixture
def attack(coalition: Coalition, instrument: Instrument) -> dict[str, Any]:
    """The steward's first steps, which need nobody else: their roster of 11 and a draft wave."""
    steward = steward_login(coalition)
    client = Client()
    client.force_login(steward)
    import_roster_through_the_page(client, coalition)
    wave = create_wave_in_the_admin(client, coalition, instrument)
    return {"steward": steward, "client": client, "wave": wave}


@pytest.mark.django_db
def test_the_checker_recovers_the_target_when_the_second_person_is_bypassed(
    coalition: Coalition, instrument: Instrument, attack: dict[str, Any]
) -> None:
    wave: Wave = attack["wave"]
    # The bypass: an attestation the rules would never let the steward make.
    RosterAttestation.objects.create(
        wave=wave, revision=Coalition.objects.get(pk=coalition.pk).roster_revision, attested_by=attack["steward"],
        attested_by_name="stew",
    )  # fmt: skip
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.wave_open(wave_id=wave.pk)
    rng = np.random.default_rng(2026)
    target_answers = answers_of(rng, instrument)
    known: list[dict[str, int]] = []
    for invitation in Invitation.objects.filter(wave=wave).select_related("member"):
        answers = target_answers if invitation.member.email == TARGET else answers_of(rng, instrument)
        if invitation.member.email != TARGET:
            known.append(answers)
        services.response_submit(token_hash=token_hash(token_for_invitation(invitation.id)), answers=answers)
    services.wave_close(wave_id=wave.pk)
    analytics_services.breakdowns_compute(wave_id=wave.pk)

    cells = all_cells(attack["client"], wave, "dimension=overall&measure=item")

    assert len(known) == 10
    assert recover_target(cells, known, instrument) == target_answers


@pytest.mark.django_db
def test_the_lone_steward_cannot_open_the_wave(coalition: Coalition, attack: dict[str, Any]) -> None:
    client: Client = attack["client"]
    wave: Wave = attack["wave"]
    steward: User = attack["steward"]

    # The admin's open action goes through wave_open, which needs a confirmed roster.
    page = client.post("/admin/surveys/wave/", {"action": "open_now", "_selected_action": [wave.pk]}, follow=True)
    assert "2026 Q4: A coalition leader must review and confirm the roster before the wave can open" in (
        page.content.decode()
    )
    # Confirming it themselves is refused: they are no leader, and they changed the roster.
    review = client.post(
        f"/manage/{coalition.slug}/waves/{wave.pk}/roster/",
        {"revision": Coalition.objects.get(pk=coalition.pk).roster_revision, "confirm": "yes"},
        follow=True,
    )
    assert "Only a leader of the coalition, or a platform admin, can confirm its roster." in review.content.decode()
    # Nor can they make themselves a leader: the admin's member form has no login field for them.
    client.post(
        "/admin/surveys/member/add/",
        {"coalition": coalition.pk, "email": "me-lead@mail.example", "sector": coalition.sectors.get(slug="faith").pk,
         "role": "leader", "language": "en", "is_active": "on", "user": steward.pk},
    )  # fmt: skip
    assert Member.objects.get(email="me-lead@mail.example").user_id is None
    assert selectors.coalition_roles(user=steward, coalition=coalition) == {"steward"}
    # The schedule honours the rule too.
    assert services.waves_open_due(now=wave.opens_at + timedelta(hours=1)) == []

    wave.refresh_from_db()
    assert (wave.status, wave.invitations.count(), RosterAttestation.objects.count()) == ("draft", 0, 0)


@pytest.mark.django_db
def test_a_leader_who_changed_the_roster_cannot_confirm_it_and_another_leader_can(
    coalition: Coalition, attack: dict[str, Any]
) -> None:
    wave: Wave = attack["wave"]
    changer = User.objects.create_user(username="lead-one")
    other = User.objects.create_user(username="lead-two")
    for user, sector in ((changer, "faith"), (other, "health")):
        MemberFactory(coalition=coalition, sector=coalition.sectors.get(slug=sector), role="leader", user=user)
    added = Member(coalition=coalition, email="late@mail.example", sector=coalition.sectors.get(slug="faith"))
    services.member_save(member=added, changed=["email", "sector"], by=changer, is_new=True)
    revision = Coalition.objects.get(pk=coalition.pk).roster_revision

    with pytest.raises(NotAllowed, match="You changed this roster since the last wave"):
        attestation.roster_attest(wave_id=wave.pk, by=changer, revision=revision)
    attestation.roster_attest(wave_id=wave.pk, by=other, revision=revision)
    # A change after the confirmation voids it.
    services.member_save(member=added, changed=["language"], by=attack["steward"], is_new=False)

    with pytest.raises(services.ServiceError, match="The roster changed after a leader confirmed it"):
        services.wave_open(wave_id=wave.pk)
    assert Wave.objects.get(pk=wave.pk).status == "draft"


@pytest.mark.django_db
def test_the_review_shows_the_leader_the_counts_the_changes_and_the_warnings(
    coalition: Coalition, attack: dict[str, Any]
) -> None:
    review = attestation.roster_review(wave=attack["wave"])

    rows = {row.slug: (row.members, row.added) for row in review.sectors if row.members}
    assert rows == {"victim-services": (10, 10), "advocacy": (1, 1)}
    assert [(group.actor, group.action, group.sector, group.count) for group in review.changes] == [
        ("stew", "added", "Victim & survivor services", 10)
    ]
    assert review.warnings == [
        "stew added 10 of the 11 people on the roster in the last 14 days. Check that they are all genuine members.",
        "9 new addresses share the domain mail.example. Check that each is a different person.",
        "Results for Mobilization & advocacy NGOs (1) will be hidden: the sector has fewer members than the "
        "reporting threshold.",
        "Almost all results of this wave will be hidden: with 11 people on the roster, few groups can reach 5 "
        "answers. A small roster also makes each answer easier to guess.",
    ]


@pytest.mark.django_db
def test_the_lone_steward_cannot_get_research_access_to_the_microdata(
    coalition: Coalition, attack: dict[str, Any]
) -> None:
    client: Client = attack["client"]
    steward: User = attack["steward"]
    admin = User.objects.create_user(username="root", is_superuser=True, is_staff=True)

    # A researcher entry for their own login: the login cannot be linked by a steward.
    client.post(
        "/admin/surveys/member/add/",
        {"coalition": coalition.pk, "email": "me-research@mail.example",
         "sector": coalition.sectors.get(slug="education").pk, "role": "researcher", "language": "en",
         "is_active": "on", "user": steward.pk},
    )  # fmt: skip
    entry = Member.objects.get(email="me-research@mail.example")
    assert entry.user_id is None
    # Asking for access for themselves: on the page, in the admin and in the service.
    page = client.post(f"/exports/access/{coalition.slug}/", {"action": "request", "researcher": steward.pk})
    assert page.status_code == 302
    admin_form = client.post("/admin/exports/researchgrant/add/", {"researcher": steward.pk, "coalition": coalition.pk})
    assert admin_form.status_code == 200
    with pytest.raises(NotAllowed, match="Nobody can request research access for themselves"):
        export_services.grant_request(researcher=steward, coalition=coalition, by=steward)
    # Even a platform admin cannot link the steward's login to a researcher role, or grant them
    # access, without approving the combination of roles first.
    entry.user = steward
    with pytest.raises(NotAllowed, match="cannot be both a data steward and a researcher"):
        services.member_save(member=entry, changed=["user"], by=admin, is_new=False)
    with pytest.raises(NotAllowed, match="stew is a data steward of this coalition or changed its roster"):
        export_services.grant_request(researcher=steward, coalition=coalition, by=admin)

    assert ResearchGrant.objects.count() == 0
    assert Member.objects.get(pk=entry.pk).user_id is None


@pytest.mark.django_db
def test_an_admin_approved_combination_is_audited_and_still_needs_a_second_person(
    coalition: Coalition, attack: dict[str, Any]
) -> None:
    steward: User = attack["steward"]
    admin = User.objects.create_user(username="root", is_superuser=True, is_staff=True)
    services.role_combination_approve(coalition=coalition, user=steward, reason="Sole staff member", by=admin)

    grant = export_services.grant_request(researcher=steward, coalition=coalition, by=admin)
    with pytest.raises(NotAllowed, match="You asked for this access, so somebody else must approve it"):
        export_services.grant_approve(grant=grant, by=admin)
    with pytest.raises(NotAllowed, match="Nobody can approve research access for themselves"):
        export_services.grant_approve(grant=grant, by=steward)
    second = User.objects.create_user(username="root-two", is_superuser=True)
    export_services.grant_approve(grant=grant, by=second)

    assert list(coalition.audit_events.order_by("id").values_list("action", "actor")) == [
        ("wave-created", "stew"),
        ("roles-combined", "root"),
        ("access-requested", "root"),
        ("access-granted", "root-two"),
    ]
