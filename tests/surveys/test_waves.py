"""Waves: draft → open → closed, invitations, the roster freeze, release, reminders."""

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from surveys import services, tasks
from surveys.models import (
    Coalition,
    Instrument,
    Invitation,
    Member,
    PendingSubmission,
    Response,
    Wave,
    WaveReminder,
)
from surveys.tokens import token_for_invitation, token_hash
from tests.conftest import OpenWave, add_members, attest, open_wave_for


def submit(open_wave: OpenWave, member: Member, answers: dict[str, Any]) -> None:
    services.response_submit(token_hash=token_hash(open_wave.token_of(member)), answers=answers)


@pytest.mark.django_db
def test_opening_issues_one_invitation_per_active_member_storing_only_a_hash(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    inactive = add_members(coalition, 1, "faith", is_active=False)[0]

    opened = open_wave_for(coalition, instrument)

    invitations = Invitation.objects.filter(wave=opened.wave)
    assert invitations.count() == 12
    assert opened.wave.invited_count == 12
    assert not invitations.filter(member=inactive).exists()
    for invitation in invitations:
        token = token_for_invitation(invitation.id)
        assert invitation.token_hash == token_hash(token)
        assert token not in str(Invitation.objects.filter(pk=invitation.pk).values().get())


@pytest.mark.django_db
def test_opening_freezes_the_sectors_into_the_wave(open_wave: OpenWave) -> None:
    assert [sector["slug"] for sector in open_wave.wave.sectors_snapshot][:3] == [
        "law-enforcement",
        "prosecution",
        "government",
    ]
    assert len(open_wave.wave.sectors_snapshot) == 13


@pytest.mark.django_db
def test_invitation_emails_are_neutral_and_in_the_members_language(open_wave: OpenWave) -> None:
    assert len(mail.outbox) == 12
    subjects = {message.subject for message in mail.outbox}
    assert subjects == {"Your quarterly feedback link", "Su enlace para la opinión trimestral"}
    for message in mail.outbox:
        text = (message.subject + message.body + message.from_email).lower()
        assert "traffick" not in text
        assert "trata" not in text
        assert message.from_email == "Coalition Pulse <no-reply@localhost>"
        assert f"http://127.0.0.1:8000/q/{open_wave.tokens[message.to[0]]}" in message.body


@pytest.mark.django_db
def test_invitations_are_sent_once_even_if_the_task_is_delivered_twice(open_wave: OpenWave) -> None:
    assert tasks.send_invitations(open_wave.wave.pk) == 0
    assert len(mail.outbox) == 12


@pytest.mark.django_db
def test_the_roster_is_frozen_while_a_wave_is_open(open_wave: OpenWave) -> None:
    coalition = open_wave.wave.coalition

    with pytest.raises(services.RosterFrozen):
        services.roster_import(coalition=coalition, content="email,sector\nnew@example.org,faith\n")

    assert coalition.members.count() == 12


@pytest.mark.django_db
def test_a_second_wave_cannot_open_while_one_is_open(open_wave: OpenWave, instrument: Instrument) -> None:
    second = services.wave_create(coalition=open_wave.wave.coalition, label="2027 Q1", instrument=instrument)
    attest(second)

    with pytest.raises(services.ServiceError, match="Another wave of this coalition is open"):
        services.wave_open(wave_id=second.pk)

    assert Invitation.objects.filter(wave=second).count() == 0


@pytest.mark.django_db
def test_an_open_wave_cannot_be_opened_again(open_wave: OpenWave) -> None:
    with pytest.raises(services.ServiceError, match="Only a draft wave can be opened"):
        services.wave_open(wave_id=open_wave.wave.pk)
    assert Invitation.objects.count() == 12


@pytest.mark.django_db
def test_closing_releases_the_pool_into_responses_and_empties_it(open_wave: OpenWave) -> None:
    members = list(Member.objects.filter(invitations__wave=open_wave.wave))
    for value, member in enumerate(members[:7]):
        submit(open_wave, member, {"power-1": value % 5 + 1})

    wave = services.wave_close(wave_id=open_wave.wave.pk)

    assert wave.status == Wave.Status.CLOSED
    assert wave.released_count == 7
    assert PendingSubmission.objects.count() == 0
    assert sorted(r.answers["power-1"] for r in Response.objects.filter(wave=wave)) == [1, 1, 2, 2, 3, 4, 5]
    assert Invitation.objects.filter(wave=wave, is_used=True).count() == 7
    assert Invitation.objects.filter(wave=wave).count() == 12


@pytest.mark.django_db
def test_pending_release_while_open_waits_for_a_minimum_batch(open_wave: OpenWave) -> None:
    members = list(Member.objects.filter(invitations__wave=open_wave.wave))
    for member in members[:4]:
        submit(open_wave, member, {"trust-1": 4})

    assert services.pending_release_all(minimum=5) == 0
    submit(open_wave, members[4], {"trust-1": 4})
    assert services.pending_release_all(minimum=5) == 5
    assert (PendingSubmission.objects.count(), Response.objects.count()) == (0, 5)


@pytest.mark.django_db
def test_reminders_go_only_to_unused_invitations_once_per_scheduled_day(open_wave: OpenWave) -> None:
    members = list(Member.objects.filter(invitations__wave=open_wave.wave).order_by("email"))
    submit(open_wave, members[0], {"trust-1": 4})
    mail.outbox.clear()
    day_eight = open_wave.wave.opens_at + timedelta(days=8)

    sent = services.reminders_send_due(now=day_eight)
    again = services.reminders_send_due(now=day_eight)

    assert (sent, again) == (11, 0)
    assert members[0].email not in {message.to[0] for message in mail.outbox}
    assert {message.subject for message in mail.outbox} == {
        "A reminder: your quarterly feedback link",
        "Un recordatorio: su enlace para la opinión trimestral",
    }
    assert list(WaveReminder.objects.filter(wave=open_wave.wave).values_list("day", "recipients").order_by("day")) == [
        (0, 12),
        (7, 11),
    ]


@pytest.mark.django_db
def test_the_scheduler_opens_and_closes_due_waves(
    coalition: Coalition, roster: list[Member], instrument: Instrument
) -> None:
    now = timezone.now()
    due = services.wave_create(
        coalition=coalition,
        label="due",
        instrument=instrument,
        opens_at=now - timedelta(minutes=1),
        closes_at=now + timedelta(days=1),
    )
    services.wave_create(
        coalition=coalition,
        label="later",
        instrument=instrument,
        opens_at=now + timedelta(days=30),
        closes_at=now + timedelta(days=40),
    )
    attest(due)

    assert tasks.open_due_waves() == [due.pk]
    assert tasks.close_due_waves() == []
    Wave.objects.filter(pk=due.pk).update(closes_at=now - timedelta(seconds=1), opens_at=now - timedelta(days=2))
    assert tasks.close_due_waves() == [due.pk]
    assert list(Wave.objects.order_by("label").values_list("label", "status")) == [
        ("due", "closed"),
        ("later", "draft"),
    ]


@pytest.mark.django_db
def test_wave_commands_move_a_wave_along(
    coalition: Coalition, roster: list[Member], instrument: Instrument, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("create_wave", "riverside", "2026 Q4", "--instrument", "partnership-strain")
    wave_id = int(capsys.readouterr().out.strip())
    with pytest.raises(CommandError, match="A coalition leader must review and confirm the roster"):
        call_command("open_wave", str(wave_id))
    assert Wave.objects.get(pk=wave_id).status == Wave.Status.DRAFT

    attest(Wave.objects.get(pk=wave_id))
    call_command("open_wave", str(wave_id))
    call_command("close_wave", str(wave_id))

    assert capsys.readouterr().out == (
        f"Wave {wave_id} (2026 Q4) is open: 12 invitations.\nWave {wave_id} (2026 Q4) is closed: 0 responses.\n"
    )
    with pytest.raises(CommandError, match="Only an open wave can be closed; this one is Closed."):
        call_command("close_wave", str(wave_id))
    with pytest.raises(CommandError, match="No wave with the id 999."):
        call_command("open_wave", "999")


@pytest.mark.django_db
def test_create_wave_refuses_bad_dates_clearly(coalition: Coalition, instrument: Instrument) -> None:
    with pytest.raises(CommandError, match="--opens must be an ISO date and time"):
        call_command("create_wave", "riverside", "X", "--instrument", "partnership-strain", "--opens", "next week")
    with pytest.raises(CommandError, match="A wave must close after it opens."):
        call_command(
            "create_wave", "riverside", "X", "--instrument", "partnership-strain",
            "--opens", "2026-12-01T09:00", "--closes", "2026-11-01T09:00",
        )  # fmt: skip
    assert Wave.objects.count() == 0


@pytest.mark.django_db
def test_create_coalition_command_uses_default_sectors(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("create_coalition", "northside", "--name", "Northside Network")

    assert capsys.readouterr().out == "northside created with 13 sectors\n"
    coalition = Coalition.objects.get(slug="northside")
    assert list(coalition.sectors.filter(is_sensitive=True).values_list("slug", flat=True)) == ["survivor-leaders"]
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_coalition", "northside", "--name", "Again")


@pytest.mark.django_db
def test_the_sweeper_finishes_a_close_that_was_interrupted(open_wave: OpenWave) -> None:
    members = list(Member.objects.filter(invitations__wave=open_wave.wave))
    for member in members[:2]:
        submit(open_wave, member, {"trust-1": 2})
    # The wave was marked closed, then the process died before releasing its pool.
    Wave.objects.filter(pk=open_wave.wave.pk).update(status=Wave.Status.CLOSED)
    invitation_ids = set(Invitation.objects.values_list("pk", flat=True))

    released = tasks.release_pending_pools()

    assert released == 2
    assert (PendingSubmission.objects.count(), Response.objects.count()) == (0, 2)
    assert set(Invitation.objects.values_list("pk", flat=True)) == invitation_ids
    assert Invitation.objects.filter(is_used=True).count() == 2
