"""Researcher access and exports (PRIVACY.md rule 15).

- A `ResearchGrant` lets a researcher export the closed waves of one
  coalition; a steward, leader or admin requests it and a second person
  approves it (never the researcher or the requester).
- A `DataUseAgreement` is versioned text in each language; a researcher
  accepts the current version before exporting (`AgreementAcceptance`).
- An `Export` is one request for one or more closed waves. Its zip lives in
  `EXPORTS_ROOT` under a random name, is served only to the researcher who
  asked, until `expires_at`, at most `EXPORT_MAX_DOWNLOADS` times.

Requests, grants, acceptances and downloads are written to the coalition's
audit log (`surveys.AuditEvent`), which its stewards and the admins read.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.instruments import localized_text
from surveys.models import Coalition, Wave


class ResearchGrant(models.Model):
    """Export access of one researcher to one coalition's closed waves.

    Two people always take part (PRIVACY.md rule 9a): a steward, leader or platform admin requests
    it, and a second person - a platform admin, or a leader of the coalition who is neither the
    researcher nor the requester - approves it (exports.services.grant_approve).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Waiting for approval")
        ACTIVE = "active", _("Granted")
        REFUSED = "refused", _("Refused")
        REVOKED = "revoked", _("Revoked")

    researcher = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="research_grants",
        verbose_name=_("researcher"),
    )
    coalition = models.ForeignKey(
        Coalition, on_delete=models.CASCADE, related_name="research_grants", verbose_name=_("coalition")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(_("purpose"), max_length=300, blank=True)
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    # The second person: who approved (granted) or refused the request.
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(_("granted at"), null=True, blank=True)
    refused_at = models.DateTimeField(_("refused at"), null=True, blank=True)
    revoked_by = models.CharField(_("revoked by"), max_length=150, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("research grant")
        verbose_name_plural = _("research grants")
        ordering = ["coalition", "-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["researcher", "coalition"],
                condition=Q(status__in=["requested", "active"]),
                name="research_grant_one_open",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(granted_at__isnull=False),
                name="research_grant_active_is_granted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.researcher} → {self.coalition}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class DataUseAgreement(models.Model):
    """One version of the data-use agreement; the highest version is the current one. Never edited once accepted."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    title = models.JSONField(_("title"), help_text=_('Title per language, e.g. {"en": "…", "es": "…"}'))
    text = models.JSONField(_("text"), help_text=_("Text per language; paragraphs separated by a blank line."))
    published_at = models.DateTimeField(_("published at"), default=timezone.now)

    class Meta:
        verbose_name = _("data-use agreement")
        verbose_name_plural = _("data-use agreements")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.localized_title()} (v{self.version})"

    def localized_title(self, language: str = "en") -> str:
        return localized_text(self.title, language)

    def localized_text(self, language: str = "en") -> str:
        return localized_text(self.text, language)


class AgreementAcceptance(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agreement_acceptances")
    agreement = models.ForeignKey(DataUseAgreement, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(_("accepted at"), default=timezone.now)

    class Meta:
        verbose_name = _("agreement acceptance")
        verbose_name_plural = _("agreement acceptances")
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "agreement"], name="agreement_accepted_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} v{self.agreement.version}"


class Export(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Preparing")
        SUCCEEDED = "succeeded", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    class Stage(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        LOADING = "loading", _("Loading the answers")
        ANONYMIZING = "anonymizing", _("Making every combination of groups large enough")
        AUDITING = "auditing", _("Checking the export against the published results")
        WRITING = "writing", _("Writing the files")
        PACKAGING = "packaging", _("Packing the zip file")
        DONE = "done", _("Done")

    # The id is random: it appears in URLs, and tells nothing about how many exports exist.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    researcher = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports", verbose_name=_("researcher")
    )
    waves = models.ManyToManyField(Wave, related_name="exports", verbose_name=_("waves"))
    agreement = models.ForeignKey(
        DataUseAgreement, on_delete=models.PROTECT, related_name="exports", verbose_name=_("agreement accepted")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    # A reason people who are not engineers can read; never a figure of a wave.
    error = models.TextField(_("reason of failure"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("download until"), null=True, blank=True)
    # Relative to EXPORTS_ROOT; empty until the zip is complete (a failed job leaves nothing visible).
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    downloads = models.PositiveSmallIntegerField(_("downloads"), default=0)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_progress_percent"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | (~Q(file_name="") & Q(expires_at__isnull=False)),
                name="export_ready_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.researcher} {self.requested_at:%Y-%m-%d %H:%M} ({self.status})"

    def is_downloadable(self, *, now: object = None) -> bool:
        moment = now or timezone.now()
        return (
            self.status == self.Status.SUCCEEDED
            and self.expires_at is not None
            and self.expires_at > moment  # type: ignore[operator]
            and self.downloads < settings.EXPORT_MAX_DOWNLOADS
        )
