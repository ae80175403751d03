"""Load the demo coalition: logins, a roster, four closed waves of history and one open wave.

Run by `make run` after `migrate`. Running it again creates nothing twice: it
prints the logins and survey links of invitations that are still unused.
docs/demo-data.md describes the data and every planted difference.
"""

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from exports import services as export_services
from surveys import attestation, demo, selectors, services, tokens
from surveys.answers import answers_clean
from surveys.models import Coalition, Instrument, Invitation, Member, PendingSubmission, Wave

COALITION_SLUG = "demo"
COALITION_NAME = "Riverside Regional Partnership Task Force"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str  # a Member.Role value, or "" for the superuser, who is no member
    description: str


LOGINS = (
    DemoLogin("admin", "demo-admin-2026", "", "superuser: Django admin and every coalition"),
    DemoLogin("steward", "demo-steward-2026", "steward", "data steward: roster, sectors, waves"),
    DemoLogin("leader", "demo-leader-2026", "leader", "coalition leader: results"),
    DemoLogin("researcher", "demo-researcher-2026", "researcher", "researcher: results and exports"),
)

STEWARD_PERMISSIONS = (
    "view_member",
    "add_member",
    "change_member",
    "view_sector",
    "add_sector",
    "change_sector",
    "view_wave",
    "add_wave",
    "change_wave",
    "view_coalition",
    "add_coalition",
    "change_coalition",
    "view_rosterchange",
    "view_auditevent",
    "view_instrument",
    "view_researchgrant",
    "add_researchgrant",
    "change_researchgrant",
    "view_rosterattestation",
)

# Past waves open on the first day of the quarter and run three weeks.
PAST_WAVES = (
    ("2025 Q4", datetime(2025, 10, 1, tzinfo=UTC)),
    ("2026 Q1", datetime(2026, 1, 1, tzinfo=UTC)),
    ("2026 Q2", datetime(2026, 4, 1, tzinfo=UTC)),
    ("2026 Q3", datetime(2026, 7, 1, tzinfo=UTC)),
)
OPEN_WAVE_LABEL = "2026 Q4"
WAVE_LENGTH = timedelta(days=21)
LINKS_PER_LANGUAGE = {"en": 3, "es": 1}


class Command(BaseCommand):
    help = "Load the demo coalition with logins, a roster, four closed waves and one open wave."

    def handle(self, *args: Any, **options: Any) -> None:
        instrument, _created = services.instrument_load_default()
        plan = demo.roster_plan()
        # One transaction: a failed load leaves nothing half made, and the
        # invitation emails (sent on commit) go out only for the wave still
        # open by then, not for the back-filled ones.
        with transaction.atomic():
            coalition = Coalition.objects.filter(slug=COALITION_SLUG).first()
            if coalition is None:
                coalition = services.coalition_create(slug=COALITION_SLUG, name=COALITION_NAME)
            users = self._users_ensure()
            if not coalition.waves.exists():
                self._roster_import(coalition, plan)
                self._users_link(coalition, plan, users)
                self._waves_load(coalition, instrument, plan, attester=users["leader"])
            self._users_link(coalition, plan, users)
            # The demo researcher may export the demo coalition: the steward asks, the leader approves
            # (two people, PRIVACY.md rule 9a); the researcher accepts the agreement themselves.
            export_services.agreement_ensure_default()
            grant = export_services.grant_request(
                researcher=users["researcher"], coalition=coalition, by=users["steward"], reason="Demo researcher"
            )
            if grant.status == grant.Status.REQUESTED:
                export_services.grant_approve(grant=grant, by=users["leader"])
        self._report(coalition)

    # --- Logins ---------------------------------------------------------------

    def _users_ensure(self) -> dict[str, Any]:
        """Create the demo logins that are absent; leave existing ones as they are."""
        user_model = get_user_model()
        permissions = list(
            Permission.objects.filter(
                content_type__app_label__in=("surveys", "exports"), codename__in=STEWARD_PERMISSIONS
            )
        )
        if len(permissions) != len(STEWARD_PERMISSIONS):
            raise CommandError("The surveys permissions are missing; run `manage.py migrate` first.")
        users = {}
        for login in LOGINS:
            user = user_model.objects.filter(username=login.username).first()
            if user is None:
                user = user_model(username=login.username, email=f"{login.username}@{demo.EMAIL_DOMAIN}")
                user.is_superuser = login.username == "admin"
                user.is_staff = login.username in ("admin", "steward")
                password_validation.validate_password(login.password, user)
                user.set_password(login.password)
                user.save()
            if login.role == "steward":
                user.user_permissions.add(*permissions)
            users[login.username] = user
        return users

    def _users_link(self, coalition: Coalition, plan: list[demo.DemoMember], users: dict[str, Any]) -> None:
        """Make each role's login the roster member who holds that role."""
        for member in plan:
            if member.role == "member":
                continue
            Member.objects.filter(coalition=coalition, email=member.email, user__isnull=True).update(
                user=users[member.role]
            )

    # --- Roster ---------------------------------------------------------------

    def _roster_import(self, coalition: Coalition, plan: list[demo.DemoMember]) -> None:
        """Import the roster through the real CSV path, which logs each member as added."""
        content = io.StringIO()
        writer = csv.writer(content)
        writer.writerow(services.ROSTER_COLUMNS)
        for member in plan:
            writer.writerow([member.email, member.sector, member.role, member.language])
        report = services.roster_import(coalition=coalition, content=content.getvalue(), actor="load_demo")
        if not report.is_ok:
            raise CommandError("The demo roster was refused: " + " ".join(report.errors))

    # --- Waves ----------------------------------------------------------------

    def _waves_load(
        self, coalition: Coalition, instrument: Instrument, plan: list[demo.DemoMember], *, attester: Any
    ) -> None:
        """Create the four past waves, each opened, answered and closed, then the open wave.

        The demo leader confirms each wave's roster before it opens, as a leader must.
        """
        self.attester = attester
        for wave_index, (label, opens_at) in enumerate(PAST_WAVES):
            self._past_wave_load(
                coalition=coalition,
                instrument=instrument,
                plan=plan,
                wave_index=wave_index,
                label=label,
                opens_at=opens_at,
            )
        self._open_wave_load(coalition=coalition, instrument=instrument, plan=plan, wave_index=len(PAST_WAVES))

    def _wave_open(self, wave: Wave) -> Wave:
        coalition = Coalition.objects.get(pk=wave.coalition_id)
        attestation.roster_attest(wave_id=wave.pk, by=self.attester, revision=coalition.roster_revision)
        return services.wave_open(wave_id=wave.pk)

    def _answers(self, wave: Wave, member: demo.DemoMember, wave_index: int, sector_slugs: list[str]) -> dict[str, Any]:
        rng = np.random.default_rng([demo.SEED, member.number, wave_index])
        return demo.answers_generate(
            rng,
            definition=wave.instrument.definition,
            sector_slugs=sector_slugs,
            profile=member.profile,
            wave_index=wave_index,
        )

    def _past_wave_load(
        self,
        *,
        coalition: Coalition,
        instrument: Instrument,
        plan: list[demo.DemoMember],
        wave_index: int,
        label: str,
        opens_at: datetime,
    ) -> None:
        wave = services.wave_create(
            coalition=coalition,
            label=label,
            instrument=instrument,
            opens_at=opens_at,
            closes_at=opens_at + WAVE_LENGTH,
        )
        # wave_open does not look at the clock, so a wave dated in the past opens.
        wave = self._wave_open(wave)
        sector_slugs = [sector["slug"] for sector in wave.sectors_snapshot]
        spec = selectors.instrument_spec(instrument_id=instrument.pk)
        invitations = {
            invitation.member.email: invitation
            for invitation in Invitation.objects.filter(wave=wave).select_related("member__sector")
        }
        respondents = demo.respondents_choose(plan, wave_index=wave_index, rate=demo.CLOSED_WAVE_RATES[wave_index])
        # The demo back-fills history: response_submit refuses once closes_at
        # has passed, so for a past wave the invitations are marked used and
        # the answers put in the pending pool directly - the same two writes
        # response_submit makes. wave_close then releases the pool as usual.
        used_ids = []
        pending = []
        for member in plan:
            if member.number not in respondents:
                continue
            invitation = invitations[member.email]
            answers = answers_clean(
                spec=spec,
                sector_slugs=sector_slugs,
                answers=self._answers(wave, member, wave_index, sector_slugs),
            )
            used_ids.append(invitation.pk)
            pending.append(PendingSubmission(wave=wave, sector=invitation.member.sector.slug, answers=answers))
        # Pool rows in no particular order, like submissions arriving over three weeks.
        random.Random(wave_index).shuffle(pending)
        Invitation.objects.filter(pk__in=used_ids).update(is_used=True)
        PendingSubmission.objects.bulk_create(pending, batch_size=500)
        services.wave_close(wave_id=wave.pk)

    def _open_wave_load(
        self,
        *,
        coalition: Coalition,
        instrument: Instrument,
        plan: list[demo.DemoMember],
        wave_index: int,
    ) -> None:
        now = timezone.now()
        wave = services.wave_create(
            coalition=coalition,
            label=OPEN_WAVE_LABEL,
            instrument=instrument,
            opens_at=now - timedelta(days=10),
            closes_at=now + timedelta(days=14),
        )
        wave = self._wave_open(wave)
        sector_slugs = [sector["slug"] for sector in wave.sectors_snapshot]
        invitations = {
            invitation.member.email: invitation
            for invitation in Invitation.objects.filter(wave=wave).select_related("member")
        }
        respondents = demo.respondents_choose(plan, wave_index=wave_index, rate=demo.OPEN_WAVE_RATE)
        # The open wave is answered through the real submission path.
        for member in plan:
            if member.number not in respondents:
                continue
            token = tokens.token_for_invitation(invitations[member.email].id)
            services.response_submit(
                token_hash=tokens.token_hash(token),
                answers=self._answers(wave, member, wave_index, sector_slugs),
            )

    # --- Output ---------------------------------------------------------------

    def _report(self, coalition: Coalition) -> None:
        """Print the coalition, its waves, the logins and links for unused invitations."""
        write = self.stdout.write
        members = coalition.members.count()
        sectors = coalition.sectors.count()
        write(f"Demo coalition “{coalition.name}” (slug {coalition.slug}):")
        write(f"  {members} members in {sectors} sectors")
        open_wave = None
        for wave in coalition.waves.order_by("opens_at"):
            if wave.status == Wave.Status.CLOSED:
                responses = wave.responses.count()
                write(f"  {wave.label}: closed, {responses} responses of {wave.invited_count} invited")
            elif wave.status == Wave.Status.OPEN:
                open_wave = wave
                # PRIVACY.md rule 6: an open wave shows participation rounded down to 5.
                participation = selectors.wave_participation(wave=wave)
                write(
                    f"  {wave.label}: open until {wave.closes_at:%Y-%m-%d %H:%M} UTC, "
                    f"at least {participation['responses']} responses of {wave.invited_count} invited"
                )
            else:
                write(f"  {wave.label}: {wave.get_status_display().lower()}")

        write("")
        write(f"Logins ({settings.SITE_URL.rstrip('/')}/accounts/login/; passwords as set by load_demo):")
        for login in LOGINS:
            write(f"  {login.username:<11} {login.password:<21} {login.description}")

        write("")
        if open_wave is None:
            write("No wave is open, so there are no survey links to try.")
            return
        write(f"Survey links for unused invitations of {open_wave.label} (each works until its answers are submitted):")
        site = settings.SITE_URL.rstrip("/")
        for language, count in LINKS_PER_LANGUAGE.items():
            invitations = (
                Invitation.objects.filter(
                    wave=open_wave, is_used=False, member__language=language, member__role=Member.Role.MEMBER
                )
                .select_related("member__sector")
                .order_by("member__email")[:count]
            )
            for invitation in invitations:
                token = tokens.token_for_invitation(invitation.id)
                write(f"  [{language}] {site}/q/{token}  ({invitation.member.sector.slug})")
