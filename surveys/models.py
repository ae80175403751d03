"""Coalitions, their rosters, instruments, waves, invitations and responses.

The storage is laid out so that nobody holding a database dump can tell who
gave which answers (PRIVACY.md rules 9-12):

- an `Invitation` knows its member and wave, a hash of its token and whether
  it was used - never when, never which response;
- a submission first waits in the `PendingSubmission` pool, with no member,
  no invitation and no timestamp;
- the pool is released into `Response` rows in shuffled batches, each in a
  transaction of its own, and the pool rows are deleted;
- a `Response` has a random UUID, its wave, the sector copied from the roster
  at submission, and the answers as one JSON document - one row per response
  so that a wave loads into a DataFrame with one query.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from surveys.instruments import localized_text
from surveys.validators import validate_single_line, validate_single_line_names


class Coalition(models.Model):
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200, validators=[validate_single_line])
    # PRIVACY.md rule 1: k may be raised, never lowered below 5 (10 for sensitive cells).
    minimum_cell_size = models.PositiveSmallIntegerField(
        _("minimum cell size (k)"), default=5, validators=[MinValueValidator(5)]
    )
    sensitive_cell_size = models.PositiveSmallIntegerField(
        _("minimum size of sensitive cells"), default=10, validators=[MinValueValidator(10)]
    )
    gap_threshold = models.DecimalField(
        _("gap threshold"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=[MinValueValidator(Decimal("0.10")), MaxValueValidator(Decimal("4.00"))],
        help_text=_("Smallest difference, on a 1-5 scale, that is flagged as a gap."),
    )
    strength_threshold = models.DecimalField(
        _("strength band from"), max_digits=3, decimal_places=2, default=Decimal("4.00")
    )
    watch_threshold = models.DecimalField(_("watch band from"), max_digits=3, decimal_places=2, default=Decimal("3.00"))
    default_language = models.CharField(_("default language"), max_length=8, choices=settings.LANGUAGES, default="en")
    is_free_text_enabled = models.BooleanField(_("free-text comments enabled"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Raised by every change of the roster or the sectors (surveys.roster): an attestation is
    # valid only for the revision it saw, so a change after it voids it (PRIVACY.md rule 9).
    roster_revision = models.PositiveIntegerField(_("roster revision"), default=0, editable=False)

    class Meta:
        verbose_name = _("coalition")
        verbose_name_plural = _("coalitions")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(minimum_cell_size__gte=5), name="coalition_k_at_least_5"),
            models.CheckConstraint(
                condition=Q(sensitive_cell_size__gte=10) & Q(sensitive_cell_size__gte=F("minimum_cell_size")),
                name="coalition_sensitive_k_at_least_10",
            ),
            models.CheckConstraint(condition=Q(gap_threshold__gt=0), name="coalition_gap_threshold_positive"),
            models.CheckConstraint(
                condition=Q(strength_threshold__gt=F("watch_threshold")),
                name="coalition_bands_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Sector(models.Model):
    coalition = models.ForeignKey(Coalition, on_delete=models.CASCADE, related_name="sectors")
    slug = models.SlugField(_("slug"), max_length=60)
    names = models.JSONField(
        _("names"), help_text=_('Name per language, e.g. {"en": "…"}'), validators=[validate_single_line_names]
    )
    descriptions = models.JSONField(_("descriptions"), default=dict, blank=True)
    is_sensitive = models.BooleanField(
        _("sensitive"),
        default=False,
        help_text=_("Cells of a sensitive sector need the higher reporting threshold."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")
        ordering = ["coalition", "position", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["coalition", "slug"], name="sector_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name()

    def name(self, language: str = "en") -> str:
        return localized_text(self.names, language)


class Member(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        STEWARD = "steward", _("Data steward")
        LEADER = "leader", _("Coalition leader")
        RESEARCHER = "researcher", _("Researcher")

    coalition = models.ForeignKey(Coalition, on_delete=models.CASCADE, related_name="members")
    email = models.EmailField(_("email"))
    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="members", verbose_name=_("sector"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("login"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["coalition", "email"]
        constraints = [
            models.UniqueConstraint(fields=["coalition", "email"], name="member_unique_email"),
        ]

    def __str__(self) -> str:
        return self.email


class RosterChange(models.Model):
    """An entry of the roster's change log (PRIVACY.md rule 9), read by every leader of the coalition."""

    class Action(models.TextChoices):
        ADDED = "added", _("added")
        UPDATED = "updated", _("updated")
        MOVED = "moved", _("moved to another sector")
        DEACTIVATED = "deactivated", _("deactivated")
        DELETED = "deleted", _("deleted")
        SECTOR = "sector", _("sector changed")

    coalition = models.ForeignKey(Coalition, on_delete=models.CASCADE, related_name="roster_changes")
    action = models.CharField(max_length=16, choices=Action.choices)
    email = models.EmailField(blank=True)
    # The member's sector after the change (before it, for a deactivation or deletion).
    sector = models.SlugField(max_length=60, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    # Who made the change, when it was a login (empty for the command line): an attestation
    # must come from somebody else (surveys.roster.roster_attest).
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The coalition's roster revision this change produced.
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("roster change")
        verbose_name_plural = _("roster changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.email}"


class AuditEvent(models.Model):
    """Something a steward, leader, admin or researcher did to a coalition's data or access to it.

    Read by the coalition's stewards and leaders and by the platform admins; never changed or deleted.
    """

    class Action(models.TextChoices):
        RESPONSES_IMPORTED = "responses-imported", _("responses imported")
        SECTOR_CHANGED = "sector-changed", _("sector changed")
        COALITION_CHANGED = "coalition-changed", _("coalition settings changed")
        MEMBER_LINKED = "member-linked", _("login linked to a roster entry")
        ROLE_COMBINATION_APPROVED = "roles-combined", _("combination of roles approved")
        ROSTER_ATTESTED = "roster-attested", _("roster confirmed")
        WAVE_CREATED = "wave-created", _("wave created")
        WAVE_CHANGED = "wave-changed", _("wave changed")
        WAVE_OPENED = "wave-opened", _("wave opened")
        WAVE_CLOSED = "wave-closed", _("wave closed")
        WAVE_DELETED = "wave-deleted", _("wave deleted")
        ACCESS_REQUESTED = "access-requested", _("researcher access requested")
        ACCESS_REFUSED = "access-refused", _("researcher access refused")
        ACCESS_GRANTED = "access-granted", _("researcher access granted")
        ACCESS_REVOKED = "access-revoked", _("researcher access revoked")
        AGREEMENT_ACCEPTED = "agreement-accepted", _("data-use agreement accepted")
        EXPORT_REQUESTED = "export-requested", _("export requested")
        EXPORT_DOWNLOADED = "export-downloaded", _("export downloaded")

    # Empty only for an event that concerns no coalition yet (an agreement accepted before any grant):
    # the platform admins read those.
    coalition = models.ForeignKey(
        Coalition, on_delete=models.CASCADE, related_name="audit_events", null=True, blank=True
    )
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    happened_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-happened_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.detail}"


def validate_reminder_days(value: object) -> None:
    """Accept a list of distinct whole days between 1 and 365."""
    if (
        not isinstance(value, list)
        or not all(isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 365 for day in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationError(_("Give reminder days as a list of distinct whole numbers from 1 to 365, e.g. [7, 14]."))


class Instrument(models.Model):
    """One version of an instrument file. A version used by a wave is never modified."""

    slug = models.SlugField(_("slug"), max_length=60)
    version = models.PositiveIntegerField(_("version"))
    titles = models.JSONField(_("titles"))
    definition = models.JSONField(_("definition"))
    checksum = models.CharField(_("checksum"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="instrument_unique_version"),
            models.UniqueConstraint(fields=["slug", "checksum"], name="instrument_unique_content"),
            models.CheckConstraint(condition=Q(version__gte=1), name="instrument_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"


class RoleCombination(models.Model):
    """A platform admin's approval that one login may hold a steward's and a researcher's role in one coalition.

    Without it, a person who shapes a coalition's roster can never receive its microdata (PRIVACY.md rule 9a).
    """

    coalition = models.ForeignKey(Coalition, on_delete=models.CASCADE, related_name="role_combinations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_combinations")
    reason = models.CharField(_("reason"), max_length=300)
    approved_by = models.CharField(_("approved by"), max_length=150)
    approved_at = models.DateTimeField(_("approved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("approved combination of roles")
        verbose_name_plural = _("approved combinations of roles")
        constraints = [
            models.UniqueConstraint(fields=["coalition", "user"], name="role_combination_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.coalition}"


class Wave(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    coalition = models.ForeignKey(Coalition, on_delete=models.PROTECT, related_name="waves")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="waves")
    label = models.CharField(
        _("label"), max_length=40, help_text=_('For example "2026 Q4".'), validators=[validate_single_line]
    )
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    reminder_days = models.JSONField(
        _("reminder days"),
        default=list,
        blank=True,
        validators=[validate_reminder_days],
        help_text=_("Days after opening on which unused invitations get a reminder, e.g. [7, 14]."),
    )
    # Frozen when the wave opens (PRIVACY.md rule 9): the sectors the wave asks
    # about and reports on, as [{"slug", "names", "is_sensitive"}].
    sectors_snapshot = models.JSONField(default=list, blank=True, editable=False)
    invited_count = models.PositiveIntegerField(default=0, editable=False)
    released_count = models.PositiveIntegerField(default=0, editable=False)
    # The coalition's roster revision the wave opened on (its attested roster); empty for a draft
    # and for waves opened before attestations existed.
    opened_revision = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        ordering = ["coalition", "-opens_at"]
        constraints = [
            models.UniqueConstraint(fields=["coalition", "label"], name="wave_unique_label"),
            models.CheckConstraint(condition=Q(closes_at__gt=F("opens_at")), name="wave_closes_after_opening"),
        ]

    def __str__(self) -> str:
        return f"{self.coalition.slug} {self.label}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class RosterAttestation(models.Model):
    """A leader's confirmation of the roster a draft wave will open on (PRIVACY.md rule 9).

    Valid while the coalition's roster revision is still `revision`: any change of the roster or
    the sectors afterwards voids it. `summary` keeps what the leader was shown.
    """

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="attestations")
    revision = models.PositiveIntegerField()
    attested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    attested_by_name = models.CharField(max_length=150)
    attested_at = models.DateTimeField(auto_now_add=True)
    summary = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("roster confirmation")
        verbose_name_plural = _("roster confirmations")
        ordering = ["-attested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.wave} r{self.revision} by {self.attested_by_name}"


class WaveReminder(models.Model):
    """A reminder round that went out; kept per wave, never per invitation.

    Recording reminders per invitation would date when each invitation was used.
    """

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="reminders")
    day = models.PositiveSmallIntegerField()
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wave", "day"], name="reminder_unique_day"),
        ]

    def __str__(self) -> str:
        return f"reminder day {self.day}"


class Invitation(models.Model):
    """Member, wave, a hash of the token, and a used flag: no time of use, no response."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexes are kept to what lookups need: each one is more work when a
    # claim updates the row (the unique (wave, member) index covers wave_id).
    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="invitations", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="invitations")
    token_hash = models.CharField(max_length=64)
    is_used = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["wave", "member"], name="invitation_one_per_member"),
            # A constraint, not `unique=True`: no extra LIKE-pattern index on PostgreSQL.
            models.UniqueConstraint(fields=["token_hash"], name="invitation_unique_token_hash"),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk}"


class PendingSubmission(models.Model):
    """A submission waiting to be released into `Response`; nothing else is known of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No database foreign key: its check would lock the wave row at every
    # submission's commit. The submission path inserts only for a wave it has
    # just read under the wave lock, and a wave with answers is never deleted.
    # Nor an index: the pool is small and short-lived (it is emptied at every
    # release), and each index is one more write per submission.
    wave = models.ForeignKey(
        Wave, on_delete=models.DO_NOTHING, related_name="pending_submissions", db_constraint=False, db_index=False
    )
    sector = models.SlugField(max_length=60, db_index=False)
    answers = models.JSONField()

    def __str__(self) -> str:
        return f"pending {self.pk}"


class Response(models.Model):
    """One anonymous response. No member, token, session, client data or timestamp."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, on_delete=models.PROTECT, related_name="responses")
    # Copied from the roster at submission, never linked to it.
    sector = models.SlugField(max_length=60, db_index=False)
    answers = models.JSONField()

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        indexes = [models.Index(fields=["wave", "sector"], name="response_wave_sector")]

    def __str__(self) -> str:
        return f"response {self.pk}"
