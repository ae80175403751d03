"""Roster and paper-answer imports: every bad row reported, nothing half-imported."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from surveys import services
from surveys.models import Coalition, Instrument, Member, PendingSubmission, Response, RosterChange
from tests.conftest import OpenWave, add_members, open_wave_for
from tests.factories import UserFactory


@pytest.mark.django_db
def test_roster_import_creates_and_updates_members_and_logs_changes(coalition: Coalition) -> None:
    add_members(coalition, 1, "faith", email="kept@example.org")
    content = (
        "email,sector,role,language\n"
        "Ana@Example.org,victim-services,member,es\n"
        "kept@example.org,faith,leader,en\n"
        "bo@example.org,law-enforcement,,\n"
    )

    report = services.roster_import(coalition=coalition, content=content, actor="steward")

    assert (report.created, report.updated, report.unchanged, report.errors) == (2, 1, 0, [])
    assert list(coalition.members.order_by("email").values_list("email", "sector__slug", "role", "language")) == [
        ("ana@example.org", "victim-services", "member", "es"),
        ("bo@example.org", "law-enforcement", "member", "en"),
        ("kept@example.org", "faith", "leader", "en"),
    ]
    assert sorted(RosterChange.objects.values_list("action", "email", "actor")) == [
        ("added", "ana@example.org", "steward"),
        ("added", "bo@example.org", "steward"),
        ("updated", "kept@example.org", "steward"),
    ]


@pytest.mark.django_db
def test_roster_import_reports_every_bad_row_and_imports_nothing(coalition: Coalition) -> None:
    content = (
        "email,sector,role\n"
        "good@example.org,faith,member\n"
        "not-an-email,faith,member\n"
        "x@example.org,police,boss\n"
        "good@example.org,faith,member\n"
    )

    report = services.roster_import(coalition=coalition, content=content)

    assert report.errors == [
        "Row 3: “not-an-email” is not an email address.",
        "Row 4: unknown sector “police”; unknown role “boss”.",
        "Row 5: good@example.org appears twice.",
    ]
    assert Member.objects.count() == 0
    assert RosterChange.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param("mail,sector\n", "The file has no column named email.", id="missing-column"),
        pytest.param("email,sector,phone\n", "Unknown column(s): phone.", id="extra-column"),
        pytest.param("email,sector\n", "The file has no rows.", id="empty"),
    ],
)
def test_roster_import_refuses_malformed_files(coalition: Coalition, content: str, error: str) -> None:
    assert services.roster_import(coalition=coalition, content=content).errors == [error]


@pytest.mark.django_db
def test_import_roster_command_fails_loudly_and_imports_nothing(coalition: Coalition, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("email,sector\na@example.org,faith\nb@example.org,nowhere\n")

    with pytest.raises(CommandError, match="Nothing was imported:\n  - Row 3: unknown sector “nowhere”."):
        call_command("import_roster", "riverside", str(roster))
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_the_steward_page_imports_a_roster_and_others_get_404(client: Client, coalition: Coalition) -> None:
    steward = UserFactory(username="stew")
    add_members(coalition, 1, "faith", user=steward, role=Member.Role.STEWARD, email="stew@example.org")
    leader = UserFactory(username="lead")
    add_members(coalition, 1, "faith", user=leader, role=Member.Role.LEADER, email="lead@example.org")
    upload = ("roster.csv", b"email,sector\nnew@example.org,health\n")

    client.force_login(leader)
    refused = client.post("/manage/riverside/roster/", {"file": _file(*upload)})
    assert refused.status_code == 404
    assert Member.objects.count() == 2

    client.force_login(steward)
    page = client.post("/manage/riverside/roster/", {"file": _file(*upload)})
    assert page.status_code == 200
    assert "Imported: 1 added, 0 updated, 0 unchanged." in page.content.decode()
    assert Member.objects.filter(email="new@example.org", sector__slug="health").exists()


def _file(name: str, content: bytes) -> object:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client: Client, coalition: Coalition) -> None:
    assert client.get("/manage/riverside/roster/")["Location"] == "/accounts/login/?next=/manage/riverside/roster/"
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
def test_responses_import_validates_like_the_api_and_releases_into_a_closed_wave(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    opened = open_wave_for(coalition, instrument)
    services.wave_close(wave_id=opened.wave.pk)
    content = (
        "sector,gender,power-1,trust-1,pair:law-enforcement,top-areas\n"
        "victim-services,woman;non-binary,2,na,4,power;trust\n"
        "law-enforcement,man,5,,none,\n"
    )

    report = services.responses_import(wave_id=opened.wave.pk, content=content)

    assert (report.created, report.errors) == (2, [])
    stored = sorted((r.sector, r.answers) for r in Response.objects.filter(wave=opened.wave))
    assert stored == [
        ("law-enforcement", {"gender": ["man"], "power-1": 5, "pair:law-enforcement": "none"}),
        (
            "victim-services",
            {
                "gender": ["woman", "non-binary"],
                "power-1": 2,
                "trust-1": "na",
                "pair:law-enforcement": 4,
                "top-areas": ["power", "trust"],
            },
        ),
    ]


@pytest.mark.django_db
def test_responses_import_reports_every_bad_row_and_imports_nothing(open_wave: OpenWave, tmp_path: Path) -> None:
    path = tmp_path / "paper.csv"
    path.write_text("sector,power-1,mystery\nvictim-services,2,\nnowhere,7,\nfaith,3,x\n")

    with pytest.raises(CommandError) as raised:
        call_command("import_responses", str(open_wave.wave.pk), str(path))

    assert str(raised.value) == (
        "Nothing was imported:\n"
        "  - Row 3: sector: unknown sector “nowhere”; power-1: must be between 1 and 5, or “na”.\n"
        "  - Row 4: mystery: unknown question."
    )
    assert (PendingSubmission.objects.count(), Response.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_responses_import_into_an_open_wave_waits_in_the_pool(open_wave: OpenWave, tmp_path: Path) -> None:
    path = tmp_path / "paper.csv"
    path.write_text("sector,power-1\nvictim-services,2\nfaith,3\n")

    call_command("import_responses", str(open_wave.wave.pk), str(path))

    assert (PendingSubmission.objects.count(), Response.objects.count()) == (2, 0)
