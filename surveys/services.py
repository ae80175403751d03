"""Writes: coalitions, rosters, instruments, waves, invitations and submissions."""

import csv
import io
import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from surveys import attestation as attestation_rules
from surveys import selectors, submission, tokens
from surveys.answers import AnswerError, AnswersInvalid, answers_clean
from surveys.errors import NotAllowed as NotAllowed  # re-exported: callers catch services.ServiceError
from surveys.errors import RosterFrozen as RosterFrozen
from surveys.errors import ServiceError as ServiceError
from surveys.instruments import (
    DEFAULT_INSTRUMENT_PATH,
    InstrumentError,
    definition_checksum,
    instrument_read,
    instrument_validate,
)
from surveys.models import (
    AuditEvent,
    Coalition,
    Instrument,
    Invitation,
    Member,
    PendingSubmission,
    Response,
    RoleCombination,
    RosterChange,
    Sector,
    Wave,
    WaveReminder,
)
from surveys.tokens import token_for_invitation, token_is_well_formed
from surveys.validators import validate_single_line

logger = logging.getLogger(__name__)

DEFAULT_SECTORS_PATH = Path(__file__).resolve().parent / "data" / "sectors.json"
RELEASE_BATCH_SIZE = 500
_shuffler = random.SystemRandom()


# --- Coalitions and sectors ---------------------------------------------------


def _sector_rows_from_file(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ServiceError(_("Cannot read the sectors file: %(error)s") % {"error": error}) from error
    if not isinstance(rows, list) or not rows:
        raise ServiceError(_("The sectors file must hold a list of sectors."))
    for row in rows:
        if not isinstance(row, dict) or "slug" not in row or "name" not in row:
            raise ServiceError(_("Every sector needs a slug and a name."))
    return rows


@transaction.atomic
def coalition_create(*, slug: str, name: str, sectors_file: Path | None = None) -> Coalition:
    """Create a coalition with the default sectors, or those of `sectors_file`."""
    if Coalition.objects.filter(slug=slug).exists():
        raise ServiceError(_("A coalition with the slug “%(slug)s” exists already.") % {"slug": slug})
    rows = _sector_rows_from_file(sectors_file or DEFAULT_SECTORS_PATH)
    coalition = Coalition(slug=slug, name=name)
    try:
        coalition.full_clean()
    except ValidationError as error:
        raise ServiceError("; ".join(error.messages)) from error
    coalition.save()
    _sectors_create(coalition=coalition, rows=rows)
    return coalition


def sectors_create_default(*, coalition: Coalition) -> None:
    """Give a coalition that has no sectors the default ones."""
    if not coalition.sectors.exists():
        _sectors_create(coalition=coalition, rows=_sector_rows_from_file(DEFAULT_SECTORS_PATH))


def _sectors_create(*, coalition: Coalition, rows: list[dict[str, Any]]) -> None:
    sectors = []
    for position, row in enumerate(rows):
        names = row["name"] if isinstance(row["name"], dict) else {"en": str(row["name"])}
        sector = Sector(
            coalition=coalition,
            slug=row["slug"],
            names=names,
            descriptions=row.get("description", {}),
            is_sensitive=bool(row.get("sensitive", False)),
            position=position,
        )
        try:
            sector.full_clean(exclude=["coalition"], validate_unique=False)
        except ValidationError as error:
            raise ServiceError(
                _("Sector “%(slug)s” is not valid: %(error)s")
                % {"slug": row["slug"], "error": "; ".join(error.messages)}
            ) from error
        sectors.append(sector)
    if len({sector.slug for sector in sectors}) != len(sectors):
        raise ServiceError(_("Two sectors in the file have the same slug."))
    Sector.objects.bulk_create(sectors)


def coalition_assert_roster_editable(*, coalition: Coalition) -> None:
    """Raise `RosterFrozen` while any wave of the coalition is open."""
    if selectors.coalition_has_open_wave(coalition=coalition):
        raise RosterFrozen(_("The roster and sectors are frozen while a wave is open. Try again after it closes."))


# --- Roster -------------------------------------------------------------------

ROSTER_COLUMNS = ("email", "sector", "role", "language")


@dataclass
class ImportReport:
    """What an import did, or every reason it did nothing."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def is_ok(self) -> bool:
        return not self.errors


def _csv_rows(content: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    return header, list(reader)


@transaction.atomic
def roster_import(*, coalition: Coalition, content: str, actor: str = "", by: User | None = None) -> ImportReport:
    """Create or update members from CSV; import nothing if any row is bad.

    Columns: email, sector (a sector slug), and optionally role and language.
    Members absent from the file are left as they are. `by` is the login that
    imports (None from the command line); `actor` names it in the log.
    """
    # Locked first, like every roster change and wave_open: no wave opens halfway through an import.
    Coalition.objects.select_for_update().filter(pk=coalition.pk).first()
    coalition_assert_roster_editable(coalition=coalition)
    report = ImportReport()
    header, rows = _csv_rows(content)
    missing = [column for column in ("email", "sector") if column not in header]
    if missing:
        report.errors.append(_("The file has no column named %(columns)s.") % {"columns": ", ".join(missing)})
        return report
    unknown_columns = [column for column in header if column not in ROSTER_COLUMNS]
    if unknown_columns:
        report.errors.append(_("Unknown column(s): %(columns)s.") % {"columns": ", ".join(unknown_columns)})
        return report
    if not rows:
        report.errors.append(_("The file has no rows."))
        return report

    sectors = {sector.slug: sector for sector in coalition.sectors.filter(is_active=True)}
    roles = set(Member.Role.values)
    languages = {code for code, _name in settings.LANGUAGES}
    seen: set[str] = set()
    parsed: list[tuple[str, Sector, str, str]] = []
    for line, row in enumerate(rows, start=2):
        email = (row.get("email") or "").strip().lower()
        sector_slug = (row.get("sector") or "").strip()
        role = (row.get("role") or "").strip() or Member.Role.MEMBER
        language = (row.get("language") or "").strip() or coalition.default_language
        problems = []
        try:
            validate_email(email)
        except ValidationError:
            problems.append(_("“%(email)s” is not an email address") % {"email": email[:80]})
        if email in seen:
            problems.append(_("%(email)s appears twice") % {"email": email})
        if sector_slug not in sectors:
            problems.append(_("unknown sector “%(sector)s”") % {"sector": sector_slug[:60]})
        if role not in roles:
            problems.append(_("unknown role “%(role)s”") % {"role": role[:30]})
        if language not in languages:
            problems.append(_("unknown language “%(language)s”") % {"language": language[:10]})
        if problems:
            report.errors.append(_("Row %(line)d: %(problems)s.") % {"line": line, "problems": "; ".join(problems)})
            continue
        seen.add(email)
        parsed.append((email, sectors[sector_slug], role, language))
    if report.errors:
        return report

    existing = {member.email: member for member in coalition.members.filter(email__in=seen)}
    for email, _sector, role, _language in parsed:
        member = existing.get(email)
        if member is None or member.user_id is None or (role == member.role and member.is_active):
            continue
        # A role change or a reactivation of an entry with a login: the same checks as one by one.
        previous = (member.role, member.is_active)
        member.role, member.is_active = role, True
        try:
            _member_roles_check(member=member, by=by, changed=["role"] if role != previous[0] else ["is_active"])
        except ServiceError as refusal:
            report.errors.append(f"{email}: {refusal}")
        finally:
            member.role, member.is_active = previous
    if report.errors:
        return report
    changes = []
    for email, sector, role, language in parsed:
        member = existing.get(email)
        if member is None:
            Member.objects.create(coalition=coalition, email=email, sector=sector, role=role, language=language)
            report.created += 1
            changes.append(RosterChange(action=RosterChange.Action.ADDED, email=email, sector=sector.slug))
            continue
        before = (member.sector_id, member.role, member.language, member.is_active)
        moved = member.sector_id != sector.pk
        member.sector, member.role, member.language, member.is_active = sector, role, language, True
        if before == (member.sector_id, member.role, member.language, member.is_active):
            report.unchanged += 1
            continue
        member.save(update_fields=["sector", "role", "language", "is_active"])
        report.updated += 1
        changes.append(
            RosterChange(
                action=RosterChange.Action.MOVED if moved else RosterChange.Action.UPDATED,
                email=email,
                sector=sector.slug,
                detail=f"sector={sector.slug} role={role} language={language}",
            )
        )
    roster_changes_record(coalition=coalition, changes=changes, actor=actor, by=by)
    return report


def _is_admin(user: User | None) -> bool:
    return user is None or bool(user.is_superuser)


def _actor_name(by: User | None, actor: str = "") -> str:
    if by is not None:
        return str(by.get_username())[:150]
    return actor[:150]


def roster_changes_record(
    *, coalition: Coalition, changes: Sequence[RosterChange], actor: str = "", by: User | None = None
) -> int:
    """Log roster or sector changes and raise the coalition's roster revision once; return the new revision.

    Every change goes through here: the new revision voids an attestation of the old roster
    (surveys.attestation), and each entry names the login that made it, so that somebody else
    must confirm the roster before the next wave opens.
    """
    if not changes:
        return coalition.roster_revision
    Coalition.objects.filter(pk=coalition.pk).update(roster_revision=F("roster_revision") + 1)
    revision = Coalition.objects.values_list("roster_revision", flat=True).get(pk=coalition.pk)
    coalition.roster_revision = revision
    name = _actor_name(by, actor)
    for change in changes:
        change.coalition = coalition
        change.actor = name
        change.actor_user = by
        change.revision = revision
    RosterChange.objects.bulk_create(changes)
    return revision


# --- Members, sectors, coalition settings (one home for the admin and the pages) ---------------


def _member_roles_check(*, member: Member, by: User | None, changed: Sequence[str]) -> None:
    """Refuse member changes that would let one login both shape the roster and obtain microdata.

    Also the changes that would move roles around without a platform admin: linking a login,
    changing the role of an entry with a login or reactivating one, and moving an entry to
    another coalition or into another coalition's sector.
    """
    stored = Member.objects.filter(pk=member.pk).values("coalition_id", "is_active").first() if member.pk else None
    if stored is not None and stored["coalition_id"] != member.coalition_id:
        raise ServiceError(_("A roster entry stays in its coalition. Add the person to the other coalition instead."))
    if member.sector.coalition_id != member.coalition_id:
        raise ServiceError(_("Choose one of this coalition’s sectors."))
    reactivated = member.is_active and stored is not None and not stored["is_active"]
    if not _is_admin(by):
        if "user" in changed:
            raise NotAllowed(_("Only a platform admin can link a login to a roster entry."))
        if member.user_id is not None and ("role" in changed or reactivated):
            raise NotAllowed(
                _("Only a platform admin can change the role of a roster entry with a login, or reactivate it.")
            )
    if member.user_id is None or not member.is_active:
        return
    user = member.user
    assert user is not None  # noqa: S101 - user_id is set
    roles = set(
        Member.objects.filter(coalition_id=member.coalition_id, user_id=member.user_id, is_active=True)
        .exclude(pk=member.pk)
        .values_list("role", flat=True)
    ) | {member.role}
    shapes = Member.Role.STEWARD in roles or member.coalition.roster_changes.filter(actor_user=user).exists()
    receives = (
        Member.Role.RESEARCHER in roles
        or user.research_grants.filter(coalition_id=member.coalition_id, status__in=["requested", "active"]).exists()
    )
    if shapes and receives and not selectors.role_combination_approved(user=user, coalition=member.coalition):
        raise NotAllowed(
            _(
                "One login cannot be both a data steward and a researcher of the same coalition, unless a "
                "platform admin approves the combination."
            )
        )


def member_check(*, member: Member, by: User | None, changed: Sequence[str]) -> None:
    """Raise the reason `member_save` would refuse this change, if any (the admin's form asks first)."""
    coalition_assert_roster_editable(coalition=member.coalition)
    _member_roles_check(member=member, by=by, changed=changed)


@transaction.atomic
def member_save(*, member: Member, changed: Sequence[str], by: User | None, is_new: bool) -> Member:
    """Create or change one roster entry, with the checks and the log every roster change gets."""
    Coalition.objects.select_for_update().filter(pk=member.coalition_id).first()
    coalition = member.coalition
    member_check(member=member, by=by, changed=changed)
    previous_sector = (
        None if is_new else Member.objects.filter(pk=member.pk).values_list("sector__slug", flat=True).first()
    )
    member.email = member.email.strip().lower()
    member.save()
    if is_new:
        action = RosterChange.Action.ADDED
    elif "is_active" in changed and not member.is_active:
        action = RosterChange.Action.DEACTIVATED
    elif "sector" in changed and previous_sector != member.sector.slug:
        action = RosterChange.Action.MOVED
    else:
        action = RosterChange.Action.UPDATED
    sector = previous_sector if action == RosterChange.Action.DEACTIVATED and previous_sector else member.sector.slug
    roster_changes_record(
        coalition=coalition,
        changes=[RosterChange(action=action, email=member.email, sector=sector, detail=", ".join(changed)[:300])],
        by=by,
    )
    if "user" in changed and member.user_id is not None:
        AuditEvent.objects.create(
            coalition=coalition,
            action=AuditEvent.Action.MEMBER_LINKED,
            actor=_actor_name(by, "command line"),
            detail=(
                _("The login %(login)s now holds the role %(role)s for %(email)s.")
                % {"login": member.user.get_username(), "role": member.get_role_display(), "email": member.email}  # type: ignore[union-attr]
            )[:300],
        )
    return member


@transaction.atomic
def member_delete(*, member: Member, by: User | None) -> None:
    """Delete one roster entry that no wave invited (invitations protect the others), logging it."""
    coalition = Coalition.objects.select_for_update().get(pk=member.coalition_id)
    coalition_assert_roster_editable(coalition=coalition)
    if member.invitations.exists():
        raise ServiceError(
            _("%(email)s was invited to a wave, so the entry is kept; deactivate it instead.") % {"email": member.email}
        )
    change = RosterChange(action=RosterChange.Action.DELETED, email=member.email, sector=member.sector.slug)
    member.delete()
    roster_changes_record(coalition=coalition, changes=[change], by=by)


@transaction.atomic
def sector_save(*, sector: Sector, changed: Sequence[str], by: User | None, is_new: bool) -> Sector:
    """Create or change one sector; frozen while a wave is open; logged as a roster change and audited."""
    coalition = Coalition.objects.select_for_update().get(pk=sector.coalition_id)
    try:
        coalition_assert_roster_editable(coalition=coalition)
    except RosterFrozen as error:
        raise RosterFrozen(_("Sectors are frozen while a wave is open.")) from error
    stored_coalition = Sector.objects.filter(pk=sector.pk).values_list("coalition_id", flat=True).first()
    if not is_new and stored_coalition != sector.coalition_id:
        raise ServiceError(_("A sector stays in its coalition."))
    try:
        sector.full_clean(exclude=["coalition"], validate_unique=False)
    except ValidationError as error:
        raise ServiceError("; ".join(error.messages)) from error
    sector.save()
    detail = f"{'changed' if not is_new else 'added'} {sector.slug}: {', '.join(changed)}"[:300]
    change = RosterChange(action=RosterChange.Action.SECTOR, sector=sector.slug, detail=detail)
    roster_changes_record(coalition=coalition, changes=[change], by=by)
    AuditEvent.objects.create(
        coalition=coalition,
        action=AuditEvent.Action.SECTOR_CHANGED,
        actor=_actor_name(by, "command line"),
        detail=detail,
    )
    return sector


@transaction.atomic
def coalition_settings_save(*, coalition: Coalition, changed: Sequence[str], by: User | None) -> Coalition:
    """Save a coalition's settings (k, thresholds, language, free text), audited."""
    try:
        coalition.full_clean(exclude=["slug"] if coalition.pk else None)
    except ValidationError as error:
        raise ServiceError("; ".join(error.messages)) from error
    coalition.save()
    if changed:
        AuditEvent.objects.create(
            coalition=coalition,
            action=AuditEvent.Action.COALITION_CHANGED,
            actor=_actor_name(by, "command line"),
            detail=", ".join(f"{name}={getattr(coalition, name, '')}" for name in changed)[:300],
        )
    return coalition


@transaction.atomic
def role_combination_approve(*, coalition: Coalition, user: User, reason: str, by: User) -> RoleCombination:
    """Let one login hold a steward's and a researcher's role in the coalition: platform admins only, audited."""
    if not by.is_superuser:
        raise NotAllowed(_("Only a platform admin can approve a combination of roles."))
    if not reason.strip():
        raise ServiceError(_("Give the reason for the combination; it is kept in the audit log."))
    combination, created = RoleCombination.objects.get_or_create(
        coalition=coalition, user=user, defaults={"reason": reason.strip()[:300], "approved_by": _actor_name(by)}
    )
    if created:
        AuditEvent.objects.create(
            coalition=coalition,
            action=AuditEvent.Action.ROLE_COMBINATION_APPROVED,
            actor=_actor_name(by),
            detail=(
                _("%(login)s may be both a data steward and a researcher of this coalition: %(reason)s")
                % {"login": user.get_username(), "reason": combination.reason}
            )[:300],
        )
    return combination


# --- Instruments --------------------------------------------------------------


def instrument_load(*, definition: Any) -> tuple[Instrument, bool]:
    """Store `definition` as a new version unless the same content is stored already.

    Return the instrument and whether a new version was created. An existing
    version is never modified, so a version used by a wave stays as it was.
    Content already found valid in this process is not validated again (the
    schema check costs about 0.1 s, and the check is a function of the content).
    """
    checksum = _checksum_or_none(definition)
    if checksum is None or checksum not in _VALID_CHECKSUMS:
        problems = instrument_validate(definition)
        if problems:
            raise InstrumentError(problems)
        checksum = definition_checksum(definition)
        if len(_VALID_CHECKSUMS) < 256:
            _VALID_CHECKSUMS.add(checksum)
    slug = definition["slug"]
    with transaction.atomic():
        existing = Instrument.objects.filter(slug=slug, checksum=checksum).first()
        if existing is not None:
            return existing, False
        latest = (
            Instrument.objects.select_for_update()
            .filter(slug=slug)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
        )
        instrument = Instrument.objects.create(
            slug=slug,
            version=(latest or 0) + 1,
            titles=definition["title"],
            definition=definition,
            checksum=checksum,
        )
    return instrument, True


_VALID_CHECKSUMS: set[str] = set()


def _checksum_or_none(definition: Any) -> str | None:
    """Return the content checksum of a definition, or None for anything that is no readable definition."""
    if not isinstance(definition, dict):
        return None
    try:
        return definition_checksum(definition)
    except (RecursionError, TypeError, ValueError):
        return None


def instrument_load_default() -> tuple[Instrument, bool]:
    """Load the bundled default instrument (idempotent)."""
    return instrument_load(definition=instrument_read(DEFAULT_INSTRUMENT_PATH))


# --- Waves --------------------------------------------------------------------


def _reminder_days_clean(days: Iterable[Any]) -> list[int]:
    cleaned = sorted({int(day) for day in days})
    if any(day < 1 or day > 365 for day in cleaned):
        raise ServiceError(_("Reminder days must be between 1 and 365."))
    return cleaned


def wave_create(
    *,
    coalition: Coalition,
    label: str,
    instrument: Instrument,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    reminder_days: Sequence[int] = (7, 14),
    by: User | None = None,
) -> Wave:
    """Create a draft wave; by default it opens now and runs three weeks."""
    try:
        # The label reaches page titles, CSV cells and e-mails: one line, no control characters.
        validate_single_line(label)
    except ValidationError as error:
        raise ServiceError(_("The wave label is not valid: %(error)s") % {"error": " ".join(error.messages)}) from error
    opens_at = opens_at or timezone.now()
    closes_at = closes_at or opens_at + timedelta(days=21)
    if closes_at <= opens_at:
        raise ServiceError(_("A wave must close after it opens."))
    if coalition.waves.filter(label=label).exists():
        raise ServiceError(_("The coalition already has a wave labelled “%(label)s”.") % {"label": label})
    wave = Wave.objects.create(
        coalition=coalition,
        instrument=instrument,
        label=label,
        opens_at=opens_at,
        closes_at=closes_at,
        reminder_days=_reminder_days_clean(reminder_days),
    )
    AuditEvent.objects.create(
        coalition=coalition,
        action=AuditEvent.Action.WAVE_CREATED,
        actor=_actor_name(by, _("command line")),
        detail=(
            _("Wave %(wave)s created, opening %(opens)s.") % {"wave": label, "opens": f"{opens_at:%Y-%m-%d %H:%M}"}
        )[:300],
    )
    return wave


@transaction.atomic
def wave_update(*, wave: Wave, changed: Sequence[str], by: User | None) -> Wave:
    """Save a draft wave's label, dates or reminders, audited. An opened wave keeps what it opened with."""
    current = Wave.objects.select_for_update().get(pk=wave.pk)
    if wave.coalition_id != current.coalition_id:
        # Its roster confirmation is the coalition's: a wave never moves to another coalition.
        raise ServiceError(_("A wave stays in its coalition. Create a new wave in the other coalition."))
    editable = ["closes_at", "reminder_days"]
    if current.status == Wave.Status.DRAFT:
        editable += ["instrument", "label", "opens_at"]
    elif set(changed) & {"instrument", "label", "opens_at"}:
        raise ServiceError(_("A wave that has opened keeps its coalition, questionnaire, label and opening time."))
    if wave.closes_at <= wave.opens_at:
        raise ServiceError(_("A wave must close after it opens."))
    # Only the editable fields, onto the locked row: the admin's copy may be older than the wave
    # (opened meanwhile, with responses released).
    for name in editable:
        setattr(current, name, getattr(wave, name))
    current.save(update_fields=editable)
    wave = current
    if changed:
        AuditEvent.objects.create(
            coalition_id=wave.coalition_id,
            action=AuditEvent.Action.WAVE_CHANGED,
            actor=_actor_name(by, _("command line")),
            detail=(_("Wave %(wave)s changed: %(fields)s.") % {"wave": wave.label, "fields": ", ".join(changed)})[:300],
        )
    return wave


@transaction.atomic
def wave_delete(*, wave: Wave, by: User | None) -> None:
    """Delete a draft wave (an opened one is kept for its invitations and answers), audited."""
    current = Wave.objects.select_for_update().get(pk=wave.pk)
    if current.status != Wave.Status.DRAFT:
        raise ServiceError(_("Only a wave that has not opened can be deleted."))
    AuditEvent.objects.create(
        coalition_id=current.coalition_id,
        action=AuditEvent.Action.WAVE_DELETED,
        actor=_actor_name(by, _("command line")),
        detail=(_("Draft wave %(wave)s deleted.") % {"wave": current.label})[:300],
    )
    current.delete()


def _sectors_snapshot(coalition: Coalition) -> list[dict[str, Any]]:
    return [
        {"slug": sector.slug, "names": sector.names, "is_sensitive": sector.is_sensitive}
        for sector in coalition.sectors.filter(is_active=True).order_by("position", "slug")
    ]


def wave_open(*, wave_id: int, by: User | None = None) -> Wave:
    """Open a draft wave: freeze its sectors and issue one invitation per active member.

    Only on a roster a second person confirmed (surveys.attestation), whoever
    opens it: a page, the admin, the command line (`by` None) or the schedule.
    Invitation emails are sent after the commit, by a task that derives the
    tokens again from the invitation ids: no token passes through the broker.
    """
    from surveys.tasks import send_invitations

    with transaction.atomic():
        wave = Wave.objects.select_for_update().select_related("coalition").get(pk=wave_id)
        # Locked like every roster change (roster_changes_record), so none lands between the check and the freeze.
        wave.coalition = Coalition.objects.select_for_update().get(pk=wave.coalition_id)
        if wave.status != Wave.Status.DRAFT:
            raise ServiceError(
                _("Only a draft wave can be opened; this one is %(status)s.") % {"status": wave.get_status_display()}
            )
        attestation = attestation_rules.wave_assert_attested(wave=wave)
        other_open = wave.coalition.waves.filter(status=Wave.Status.OPEN).exclude(pk=wave.pk)
        if other_open.exists():
            raise ServiceError(_("Another wave of this coalition is open. Close it first."))
        members = list(
            wave.coalition.members.filter(
                is_active=True, sector__is_active=True, sector__coalition=wave.coalition
            ).only("id")
        )
        if not members:
            raise ServiceError(_("The roster has no active members to invite."))
        invitations = []
        for member in members:
            invitation = Invitation(wave=wave, member=member)
            invitation.token_hash = tokens.token_hash(token_for_invitation(invitation.id))
            invitations.append(invitation)
        _shuffler.shuffle(invitations)
        Invitation.objects.bulk_create(invitations, batch_size=1000)
        wave.status = Wave.Status.OPEN
        wave.sectors_snapshot = _sectors_snapshot(wave.coalition)
        wave.invited_count = len(invitations)
        wave.opened_revision = attestation.revision
        wave.save(update_fields=["status", "sectors_snapshot", "invited_count", "opened_revision"])
        AuditEvent.objects.create(
            coalition=wave.coalition,
            action=AuditEvent.Action.WAVE_OPENED,
            actor=_actor_name(by, _("schedule or command line")),
            detail=(
                _("Wave %(wave)s opened: %(count)d invitations, on the roster confirmed by %(attester)s.")
                % {"wave": wave.label, "count": len(invitations), "attester": attestation.attested_by_name}
            )[:300],
        )
        transaction.on_commit(lambda: send_invitations.delay(wave.pk))
    return wave


def wave_close(*, wave_id: int, by: User | None = None) -> Wave:
    """Close an open wave and release its pending pool into responses.

    Closing takes the wave's advisory lock exclusively, which waits for
    submissions still in flight (they hold it shared), so no submission can
    land in the pool after the release below (surveys.submission).
    """
    with transaction.atomic():
        submission.wave_close_lock(wave_id)
        wave = Wave.objects.select_for_update().get(pk=wave_id)
        if wave.status != Wave.Status.OPEN:
            raise ServiceError(
                _("Only an open wave can be closed; this one is %(status)s.") % {"status": wave.get_status_display()}
            )
        wave.status = Wave.Status.CLOSED
        wave.save(update_fields=["status"])
        AuditEvent.objects.create(
            coalition_id=wave.coalition_id,
            action=AuditEvent.Action.WAVE_CLOSED,
            actor=_actor_name(by, _("schedule or command line")),
            detail=(_("Wave %(wave)s closed.") % {"wave": wave.label})[:300],
        )
    pending_release(wave_id=wave.pk)
    invitations_rewrite(wave_id=wave.pk)
    _vacuum(["surveys_pendingsubmission", "surveys_invitation"])
    wave.refresh_from_db()
    from analytics.services import breakdowns_enqueue  # analytics builds on surveys, not the reverse

    breakdowns_enqueue(wave_id=wave.pk)
    return wave


def _vacuum(tables: list[str]) -> None:
    """Remove dead row versions (released pool rows, old invitation rows) on PostgreSQL."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM {connection.ops.quote_name(table)}")


def pending_release(*, wave_id: int, minimum: int = 1) -> int:
    """Move a wave's pending pool into responses in shuffled batches; return how many.

    Each batch is a transaction of its own holding rows in random order, so
    neither the responses' insertion order, `ctid`, `xmin` nor their random
    ids follow the order of submission. Nothing is released when fewer than
    `minimum` submissions are waiting.
    """
    ids = list(PendingSubmission.objects.filter(wave_id=wave_id).values_list("id", flat=True))
    if len(ids) < minimum or not ids:
        return 0
    _shuffler.shuffle(ids)
    released = 0
    for start in range(0, len(ids), RELEASE_BATCH_SIZE):
        chunk = ids[start : start + RELEASE_BATCH_SIZE]
        with transaction.atomic():
            rows = list(
                PendingSubmission.objects.select_for_update(skip_locked=True)
                .filter(id__in=chunk)
                .values_list("id", "sector", "answers")
            )
            _shuffler.shuffle(rows)
            Response.objects.bulk_create(
                [Response(wave_id=wave_id, sector=sector, answers=answers) for _id, sector, answers in rows]
            )
            PendingSubmission.objects.filter(id__in=[row[0] for row in rows]).delete()
            Wave.objects.filter(pk=wave_id).update(released_count=F("released_count") + len(rows))
        released += len(rows)
    return released


@transaction.atomic
def invitations_rewrite(*, wave_id: int) -> None:
    """Rewrite a closed wave's invitations in one transaction, in random order.

    Each claim left its transaction id (`xmin`) and a new physical position
    (`ctid`) on the invitation it marked used: a record of the order in which
    members answered. Rewriting every invitation at once erases both.
    """
    wave = Wave.objects.select_for_update().get(pk=wave_id)
    if wave.status != Wave.Status.CLOSED:
        raise ServiceError(_("Invitations are rewritten only after the wave closes."))
    rows = list(Invitation.objects.filter(wave_id=wave_id).values("id", "member_id", "token_hash", "is_used"))
    _shuffler.shuffle(rows)
    Invitation.objects.filter(wave_id=wave_id).delete()
    Invitation.objects.bulk_create([Invitation(wave_id=wave_id, **row) for row in rows], batch_size=1000)


# --- Submissions --------------------------------------------------------------


class SubmissionRefused(ServiceError):
    """A submission that was not stored; `code` tells the client why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse_invalid_token() -> SubmissionRefused:
    return SubmissionRefused(
        "invalid_token",
        _("This link is not valid. Please use the most recent link you were sent."),
    )


def submission_token_hash(token: Any) -> str:
    """Return the stored hash of a submitted token, or refuse a malformed one."""
    if not token_is_well_formed(token):
        raise _refuse_invalid_token()
    return tokens.token_hash(token)


def response_submit(*, token_hash: str, answers: Any, now: datetime | None = None) -> None:
    """Store one submission in the pending pool and mark its invitation used.

    Both happen atomically (surveys.submission): no answer is stored without
    using the invitation, and no invitation is used without storing the
    answers. The invitation is claimed by a conditional update, so of two
    concurrent submissions exactly one is stored. Invalid answers change
    nothing.
    """
    now = now or timezone.now()
    target = submission.target_find(token_hash=token_hash)
    if target is None:
        raise _refuse_invalid_token()
    if target.status != Wave.Status.OPEN or now >= target.closes_at:
        raise _refuse_closed()
    if target.is_used:
        raise _refuse_received()
    context = submission.wave_context(wave_id=target.wave_id)
    cleaned = answers_clean(
        spec=context.spec,
        sector_slugs=context.sector_slugs,
        answers=answers,
        is_free_text_enabled=context.is_free_text_enabled,
    )
    if not submission.claim_and_store(target=target, answers=cleaned, now=now):
        if submission.refusal_reason(target=target, now=now) == "wave_closed":
            raise _refuse_closed()
        raise _refuse_received()


def _refuse_closed() -> SubmissionRefused:
    return SubmissionRefused("wave_closed", _("This survey has closed. Thank you for your interest."))


def _refuse_received() -> SubmissionRefused:
    return SubmissionRefused("already_received", _("Your answers were already received. Thank you."))


# --- Paper and historical answers ---------------------------------------------


def _csv_value(question_type: str, raw: str) -> Any:
    """Turn one CSV cell into the JSON value the validator expects."""
    if question_type == "scale" or question_type == "pair_matrix":
        if raw.lower() == "na":
            return "na"
        if raw.lower() == "none":
            return "none"
        try:
            return int(raw)
        except ValueError:
            return raw
    if question_type == "multiple":
        return [part.strip() for part in raw.split(";") if part.strip()]
    return raw


@transaction.atomic
def responses_import(*, wave_id: int, content: str, actor: str = "") -> ImportReport:
    """Import paper or historical answers into a wave; nothing if any row is bad.

    Columns: `sector` (a sector slug), one column per dimension slug (`;`
    between multi-select values), one per item slug, `pair:<sector-slug>`
    for the matrix; empty for unanswered, `na` for don't know. An open wave
    receives them in its pending pool; a closed wave has them released at
    once in shuffled order.
    """
    wave = Wave.objects.select_for_update().select_related("coalition").get(pk=wave_id)
    report = ImportReport()
    if wave.status == Wave.Status.DRAFT:
        report.errors.append(_("Answers can be imported only into an open or closed wave."))
        return report
    spec = selectors.instrument_spec(instrument_id=wave.instrument_id)
    sector_slugs = [sector["slug"] for sector in selectors.wave_sectors(wave=wave)]
    header, rows = _csv_rows(content)
    if "sector" not in header:
        report.errors.append(_("The file has no column named sector."))
        return report
    if not rows:
        report.errors.append(_("The file has no rows."))
        return report
    pair = spec.pair_matrix
    cleaned_rows: list[tuple[str, dict[str, Any]]] = []
    for line, row in enumerate(rows, start=2):
        sector = (row.get("sector") or "").strip()
        raw_answers: dict[str, Any] = {}
        problems: list[AnswerError] = []
        if sector not in sector_slugs:
            problems.append(AnswerError("sector", _("unknown sector “%(sector)s”") % {"sector": sector[:60]}))
        for column, cell in row.items():
            if column == "sector" or column is None:
                continue
            value = (cell or "").strip()
            if not value:
                continue
            if column.startswith("pair:"):
                question_type = "pair_matrix" if pair else "unknown"
            else:
                question = spec.questions.get(column)
                question_type = question.type if question else "unknown"
            raw_answers[column] = _csv_value(question_type, value)
        try:
            cleaned = answers_clean(
                spec=spec,
                sector_slugs=sector_slugs,
                answers=raw_answers,
                is_free_text_enabled=False,
            )
        except AnswersInvalid as error:
            problems.extend(error.errors)
            cleaned = {}
        if problems:
            report.errors.append(
                _("Row %(line)d: %(problems)s.")
                % {"line": line, "problems": "; ".join(f"{p.field}: {p.message}" for p in problems)}
            )
            continue
        cleaned_rows.append((sector, cleaned))
    if report.errors:
        return report
    _shuffler.shuffle(cleaned_rows)
    if wave.status == Wave.Status.OPEN:
        PendingSubmission.objects.bulk_create(
            [PendingSubmission(wave=wave, sector=s, answers=a) for s, a in cleaned_rows]
        )
    else:
        Response.objects.bulk_create([Response(wave=wave, sector=s, answers=a) for s, a in cleaned_rows])
        Wave.objects.filter(pk=wave.pk).update(released_count=F("released_count") + len(cleaned_rows))
    report.created = len(cleaned_rows)
    AuditEvent.objects.create(
        coalition=wave.coalition,
        action=AuditEvent.Action.RESPONSES_IMPORTED,
        actor=actor,
        detail=f"{len(cleaned_rows)} paper or historical responses into wave {wave.label}",
    )
    return report


# --- Email --------------------------------------------------------------------


def _invitation_message(*, invitation: Invitation, wave: Wave, is_reminder: bool) -> EmailMultiAlternatives:
    language = invitation.member.language or wave.coalition.default_language
    link = f"{settings.SITE_URL.rstrip('/')}/q/{token_for_invitation(invitation.id)}"
    with translation.override(language):
        context = {"link": link, "wave": wave, "is_reminder": is_reminder, "closes_at": wave.closes_at}
        # Neutral wording: nothing a person glancing at a phone could connect to the subject.
        subject = _("A reminder: your quarterly feedback link") if is_reminder else _("Your quarterly feedback link")
        body = render_to_string("surveys/email/invitation.txt", context)
    return EmailMultiAlternatives(subject=subject, body=body, to=[invitation.member.email])


def _send_to_unused(*, wave: Wave, is_reminder: bool) -> int:
    invitations = (
        Invitation.objects.filter(wave=wave, is_used=False)
        .select_related("member")
        .only("id", "member__email", "member__language")
    )
    sent = 0
    with get_connection() as mail_connection:
        for invitation in invitations.iterator(chunk_size=500):
            message = _invitation_message(invitation=invitation, wave=wave, is_reminder=is_reminder)
            message.connection = mail_connection
            message.send()
            sent += 1
    return sent


def invitations_send(*, wave_id: int) -> int:
    """Email every unused invitation of an open wave once; return how many were sent.

    The round is claimed by creating its `WaveReminder` (day 0) row, so a
    redelivered task sends nothing twice.
    """
    wave = Wave.objects.select_related("coalition").get(pk=wave_id)
    if wave.status != Wave.Status.OPEN:
        return 0
    try:
        with transaction.atomic():
            round_ = WaveReminder.objects.create(wave=wave, day=0)
    except IntegrityError:
        logger.info("Invitations of wave %s were sent already.", wave_id)
        return 0
    try:
        sent = _send_to_unused(wave=wave, is_reminder=False)
    except Exception:
        # Release the claim so that a retry sends again: a member receiving the
        # same link twice is better than a member never invited.
        WaveReminder.objects.filter(pk=round_.pk).delete()
        raise
    WaveReminder.objects.filter(pk=round_.pk).update(recipients=sent)
    return sent


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every reminder round that is due on open waves; return how many emails went out."""
    now = now or timezone.now()
    sent = 0
    for wave in Wave.objects.filter(status=Wave.Status.OPEN).select_related("coalition"):
        done = set(wave.reminders.values_list("day", flat=True))
        for day in wave.reminder_days:
            if day in done or wave.opens_at + timedelta(days=day) > now:
                continue
            if wave.closes_at <= now:
                continue
            try:
                with transaction.atomic():
                    round_ = WaveReminder.objects.create(wave=wave, day=day)
            except IntegrityError:
                continue
            try:
                count = _send_to_unused(wave=wave, is_reminder=True)
            except Exception:
                WaveReminder.objects.filter(pk=round_.pk).delete()
                raise
            WaveReminder.objects.filter(pk=round_.pk).update(recipients=count)
            sent += count
    return sent


# --- Scheduling ---------------------------------------------------------------


def waves_open_due(*, now: datetime | None = None) -> list[int]:
    """Open every draft wave whose opening time has come; return their ids."""
    now = now or timezone.now()
    opened = []
    for wave_id in Wave.objects.filter(status=Wave.Status.DRAFT, opens_at__lte=now, closes_at__gt=now).values_list(
        "pk", flat=True
    ):
        try:
            wave_open(wave_id=wave_id)
        except ServiceError as error:
            logger.warning("Wave %s could not open: %s", wave_id, error)
            continue
        opened.append(wave_id)
    return opened


def waves_close_due(*, now: datetime | None = None) -> list[int]:
    """Close every open wave whose closing time has passed; return their ids."""
    now = now or timezone.now()
    closed = []
    for wave_id in Wave.objects.filter(status=Wave.Status.OPEN, closes_at__lte=now).values_list("pk", flat=True):
        try:
            wave_close(wave_id=wave_id)
        except ServiceError as error:
            logger.warning("Wave %s could not close: %s", wave_id, error)
            continue
        closed.append(wave_id)
    return closed


def pending_release_all(*, minimum: int | None = None) -> int:
    """Release pools of open waves holding at least `minimum`, and any left on closed waves."""
    minimum = settings.PENDING_RELEASE_MIN_BATCH if minimum is None else minimum
    released = 0
    wave_ids = PendingSubmission.objects.values_list("wave_id", flat=True).distinct()
    for wave in Wave.objects.filter(pk__in=list(wave_ids)):
        if wave.status == Wave.Status.OPEN:
            released += pending_release(wave_id=wave.pk, minimum=minimum)
            continue
        # A close interrupted between its steps (a crash, a deploy) is finished here.
        count = pending_release(wave_id=wave.pk)
        if count:
            invitations_rewrite(wave_id=wave.pk)
            _vacuum(["surveys_pendingsubmission", "surveys_invitation"])
        released += count
    return released
