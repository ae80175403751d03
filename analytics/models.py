"""Stored results of a wave: only tables that passed disclosure control (PRIVACY.md rule 4).

A run is keyed by (wave, engine version). Its tables are written in one
transaction, and readers use a wave's most recently finished successful run,
so the previous result stays visible until a new one is complete.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from surveys.models import Wave


class AnalyticsRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Computing")
        SUCCEEDED = "succeeded", _("Ready")
        FAILED = "failed", _("Failed")

    class Stage(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        LOADING = "loading", _("Loading the answers")
        COMPUTING = "computing", _("Computing scores and differences")
        PROTECTING = "protecting", _("Hiding figures that could identify someone")
        STORING = "storing", _("Saving the results")
        DONE = "done", _("Done")

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="analytics_runs", verbose_name=_("wave"))
    engine_version = models.CharField(_("engine version"), max_length=20)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    # A reason people who are not engineers can read; never a figure of the wave.
    error = models.TextField(_("reason of failure"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("analytics run")
        verbose_name_plural = _("analytics runs")
        ordering = ["wave", "-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["wave", "engine_version"], name="analytics_run_unique_version"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="analytics_run_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.wave} ({self.engine_version}, {self.status})"


class PublishedTable(models.Model):
    """One measure of one fixed table of a run, e.g. sector × gender on the area "power".

    `cells` holds the table's rows as lists in the order of `CELL_FIELDS`
    (analytics.selectors); a hidden cell is stored as `[groups]` alone (read
    back with every figure null by `analytics.selectors.cell_fields`).
    """

    run = models.ForeignKey(AnalyticsRun, on_delete=models.CASCADE, related_name="tables")
    dimensions = models.JSONField()
    # The dimensions joined by ",", "" for overall: what ?dimension= matches.
    table_key = models.CharField(max_length=130)
    measure = models.CharField(max_length=8)
    area = models.CharField(max_length=60)
    position = models.PositiveIntegerField()
    cells = models.JSONField()

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "table_key", "area"], name="published_table_unique"),
        ]
        indexes = [models.Index(fields=["run", "area"], name="published_table_area")]

    def __str__(self) -> str:
        return f"{self.table_key or 'overall'} / {self.area}"


class PublishedPairMatrix(models.Model):
    """The run's sector-pair matrix: rows as lists in the order of `PAIR_FIELDS` (analytics.selectors)."""

    run = models.OneToOneField(AnalyticsRun, on_delete=models.CASCADE, related_name="pair_matrix")
    cells = models.JSONField()

    def __str__(self) -> str:
        return f"pair matrix of run {self.run_id}"
