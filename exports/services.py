"""Writes of the exports side: grants, agreement acceptance, export requests, the export job, downloads.

`export_build` is what the `exports.build_export` task runs. The export is
claimed by a conditional update (PENDING → RUNNING), so a redelivered or
repeated task does nothing. Files are written in a private folder named
after the export and the attempt, zipped next to it under a temporary
name, and the zip is moved to its final random name with one rename after
everything succeeded; only then does the row point at it. A failure
removes the folder and the temporary zip, so no partial file is ever
visible, and the export can be tried again.
"""

import hashlib
import json
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.engine.anonymization import AnonymizationError, load_hierarchies
from analytics.engine.frame import scale_items
from analytics.selectors import breakdown_cells, pair_cells
from analytics.services import answer_keys, responses_load
from config.csv_safety import SafeWriter
from exports import selectors
from exports.formats import Dataset, write_codebook, write_datapackage, write_microdata
from exports.microdata import ReleaseError, WaveInput, WaveRelease, microdata, wave_release
from exports.models import AgreementAcceptance, DataUseAgreement, Export, ResearchGrant
from surveys import selectors as survey_selectors
from surveys.errors import NotAllowed, ServiceError
from surveys.models import AuditEvent, Coalition, Member, Wave

logger = logging.getLogger(__name__)

# An export whose worker has shown no sign of life for this long is given back to the queue.
STUCK_AFTER = timedelta(minutes=30)
# Waves per export, and exports a researcher may have waiting or running at once.
MAX_WAVES = 40
MAX_UNFINISHED = 3
LANGUAGES = ("en", "es")
_TEMPORARY_PREFIX = ".partial-"


class ExportError(Exception):
    """A request or an export that cannot go ahead, with a reason written for researchers and stewards."""


def _actor(user: User) -> str:
    return str(user.get_username())[:150]


def _log(*, coalition: Coalition | None, action: str, actor: str, detail: str) -> None:
    AuditEvent.objects.create(coalition=coalition, action=action, actor=actor, detail=detail[:300])


# --- Grants and the agreement -------------------------------------------------------------------


def _is_researcher_of(*, user: User, coalition: Coalition) -> bool:
    return Member.objects.filter(coalition=coalition, user=user, role=Member.Role.RESEARCHER, is_active=True).exists()


def _assert_duties_separate(*, researcher: User, coalition: Coalition) -> None:
    """Refuse access to microdata for a login that shapes the coalition's roster (PRIVACY.md rule 9a)."""
    if survey_selectors.has_shaped_roster(
        user=researcher, coalition=coalition
    ) and not survey_selectors.role_combination_approved(user=researcher, coalition=coalition):
        raise NotAllowed(
            _(
                "%(researcher)s is a data steward of this coalition or changed its roster, so they cannot also "
                "receive its microdata, unless a platform admin approves the combination of roles."
            )
            % {"researcher": _actor(researcher)}
        )


@transaction.atomic
def grant_request(*, researcher: User, coalition: Coalition, by: User, reason: str = "") -> ResearchGrant:
    """Ask for export access for a researcher; a second person approves it (`grant_approve`).

    Stewards and leaders of the coalition and platform admins may ask, for a researcher on the
    coalition's roster with a login (any login, for an admin), never for themselves. An open
    request or an active grant is returned as it is.
    """
    if not (
        by.is_superuser
        or survey_selectors.coalition_roles(user=by, coalition=coalition) & {Member.Role.STEWARD, Member.Role.LEADER}
    ):
        raise NotAllowed(_("Only a steward or leader of the coalition, or a platform admin, can request access."))
    if researcher.pk == by.pk:
        raise NotAllowed(_("Nobody can request research access for themselves. Ask a steward or a leader."))
    if not by.is_superuser and not _is_researcher_of(user=researcher, coalition=coalition):
        raise ServiceError(
            _("%(researcher)s is not a researcher on this coalition's roster.") % {"researcher": _actor(researcher)}
        )
    _assert_duties_separate(researcher=researcher, coalition=coalition)
    existing = ResearchGrant.objects.filter(
        researcher=researcher,
        coalition=coalition,
        status__in=[ResearchGrant.Status.REQUESTED, ResearchGrant.Status.ACTIVE],
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            grant = ResearchGrant.objects.create(
                researcher=researcher,
                coalition=coalition,
                reason=reason.strip()[:300],
                requested_by=_actor(by),
                requested_by_user=by,
            )
    except IntegrityError:
        # A concurrent request won (one open request per researcher and coalition): that one stands.
        return ResearchGrant.objects.get(
            researcher=researcher,
            coalition=coalition,
            status__in=[ResearchGrant.Status.REQUESTED, ResearchGrant.Status.ACTIVE],
        )
    _log(
        coalition=coalition,
        action=AuditEvent.Action.ACCESS_REQUESTED,
        actor=_actor(by),
        detail=_("Export access for %(researcher)s requested; a second person must approve it.")
        % {"researcher": _actor(researcher)},
    )
    return grant


def grant_can_decide(*, grant: ResearchGrant, user: User) -> bool:
    """Return whether the user may approve or refuse the request: a second, independent person."""
    if user.pk in (grant.researcher_id, grant.requested_by_user_id):
        return False
    return bool(user.is_superuser) or survey_selectors.is_leader(user=user, coalition=grant.coalition)


def _grant_for_decision(*, grant: ResearchGrant, by: User) -> ResearchGrant:
    locked = ResearchGrant.objects.select_for_update().select_related("coalition", "researcher").get(pk=grant.pk)
    if locked.status != ResearchGrant.Status.REQUESTED:
        raise ServiceError(_("This request was decided already."))
    if by.pk == locked.researcher_id:
        raise NotAllowed(_("Nobody can approve research access for themselves."))
    if by.pk == locked.requested_by_user_id:
        raise NotAllowed(
            _("You asked for this access, so somebody else must approve it: a leader or a platform admin.")
        )
    if not grant_can_decide(grant=locked, user=by):
        raise NotAllowed(_("Only a leader of the coalition, or a platform admin, can decide on research access."))
    return locked


@transaction.atomic
def grant_approve(*, grant: ResearchGrant, by: User) -> ResearchGrant:
    """Approve a request: the researcher may export the coalition's closed waves from now on."""
    grant = _grant_for_decision(grant=grant, by=by)
    _assert_duties_separate(researcher=grant.researcher, coalition=grant.coalition)
    now = timezone.now()
    ResearchGrant.objects.filter(pk=grant.pk).update(
        status=ResearchGrant.Status.ACTIVE, decided_by=_actor(by), decided_by_user=by, granted_at=now
    )
    grant.refresh_from_db()
    accepted = selectors.agreement_accepted(user=grant.researcher)
    _log(
        coalition=grant.coalition,
        action=AuditEvent.Action.ACCESS_GRANTED,
        actor=_actor(by),
        detail=_(
            "%(researcher)s may export this coalition's closed waves; requested by %(requester)s "
            "(agreement accepted: %(accepted)s)."
        )
        % {
            "researcher": _actor(grant.researcher),
            "requester": grant.requested_by,
            "accepted": _("yes") if accepted else _("not yet"),
        },
    )
    return grant


@transaction.atomic
def grant_refuse(*, grant: ResearchGrant, by: User) -> ResearchGrant:
    """Refuse a request; nothing is granted."""
    grant = _grant_for_decision(grant=grant, by=by)
    ResearchGrant.objects.filter(pk=grant.pk).update(
        status=ResearchGrant.Status.REFUSED, decided_by=_actor(by), decided_by_user=by, refused_at=timezone.now()
    )
    grant.refresh_from_db()
    _log(
        coalition=grant.coalition,
        action=AuditEvent.Action.ACCESS_REFUSED,
        actor=_actor(by),
        detail=_("Export access for %(researcher)s refused.") % {"researcher": _actor(grant.researcher)},
    )
    return grant


@transaction.atomic
def grant_revoke(*, grant: ResearchGrant, by: User) -> ResearchGrant:
    """Revoke a grant or withdraw a request; exports not yet finished for that coalition stop at their next step.

    Giving access up needs no second person: a steward, a leader, a platform admin or the
    researcher themselves may do it.
    """
    if not (
        by.is_superuser
        or by.pk == grant.researcher_id
        or survey_selectors.coalition_roles(user=by, coalition=grant.coalition)
        & {Member.Role.STEWARD, Member.Role.LEADER}
    ):
        raise NotAllowed(_("Only a steward or leader of the coalition, or a platform admin, can revoke access."))
    updated = ResearchGrant.objects.filter(
        pk=grant.pk, status__in=[ResearchGrant.Status.REQUESTED, ResearchGrant.Status.ACTIVE]
    ).update(status=ResearchGrant.Status.REVOKED, revoked_at=timezone.now(), revoked_by=_actor(by))
    grant.refresh_from_db()
    if updated:
        _log(
            coalition=grant.coalition,
            action=AuditEvent.Action.ACCESS_REVOKED,
            actor=_actor(by),
            detail=_("%(researcher)s may no longer export this coalition's waves.")
            % {"researcher": _actor(grant.researcher)},
        )
    return grant


@transaction.atomic
def agreement_accept(*, user: User, version: int) -> AgreementAcceptance:
    """Record that the user accepted the current agreement, which must be `version` (what they read)."""
    current = selectors.agreement_current()
    if current is None:
        raise ExportError(_("There is no data-use agreement to accept yet. Ask a platform admin to publish one."))
    if current.version != version:
        raise ExportError(
            _("The data-use agreement changed while you were reading it. Read version %(version)s and accept it.")
            % {"version": current.version}
        )
    acceptance, created = AgreementAcceptance.objects.get_or_create(user=user, agreement=current)
    if created:
        detail = _("%(user)s accepted the data-use agreement, version %(version)s.") % {
            "user": _actor(user),
            "version": current.version,
        }
        coalitions: list[Coalition | None] = list(selectors.coalitions_granted(user=user))
        for coalition in coalitions or [None]:
            _log(coalition=coalition, action=AuditEvent.Action.AGREEMENT_ACCEPTED, actor=_actor(user), detail=detail)
    return acceptance


# --- Requests -----------------------------------------------------------------------------------


def _waves_for_request(*, user: User, wave_ids: Sequence[int]) -> list[Wave]:
    if not wave_ids:
        raise ExportError(_("Choose at least one wave to export."))
    if len(set(wave_ids)) != len(wave_ids):
        raise ExportError(_("Each wave can be chosen only once."))
    if len(wave_ids) > MAX_WAVES:
        raise ExportError(_("Choose at most %(count)s waves per export.") % {"count": MAX_WAVES})
    allowed = {wave.pk: wave for wave in selectors.waves_exportable(user=user).filter(pk__in=list(wave_ids))}
    missing = [wave_id for wave_id in wave_ids if wave_id not in allowed]
    if missing:
        # One message whatever the reason (unknown, not granted, open, no results): it says nothing of other
        # coalitions' waves.
        raise ExportError(
            _(
                "These waves cannot be exported by you: %(ids)s. You can export closed waves with results "
                "of the coalitions you have been granted."
            )
            % {"ids": ", ".join(str(wave_id) for wave_id in missing)}
        )
    if len({wave.instrument_id for wave in allowed.values()}) > 1:
        raise ExportError(
            _(
                "These waves used different versions of the questionnaire. Export the waves of each version "
                "separately: %(versions)s."
            )
            % {
                "versions": "; ".join(
                    f"{wave.label}: {wave.instrument.slug} v{wave.instrument.version}"
                    for wave in sorted(allowed.values(), key=lambda wave: (wave.opens_at, wave.pk))
                )
            }
        )
    return sorted(allowed.values(), key=lambda wave: (wave.coalition.name, wave.opens_at, wave.pk))


def _still_granted(export: Export) -> bool:
    """Return whether the export's researcher may still export every coalition of its waves."""
    granted = set(selectors.coalitions_granted(user=export.researcher).values_list("pk", flat=True))
    return all(wave.coalition_id in granted for wave in export.waves.all())


@transaction.atomic
def export_request(*, user: User, wave_ids: Sequence[int]) -> Export:
    """Create an export of the chosen waves and enqueue its job once the transaction commits."""
    agreement = selectors.agreement_current()
    if agreement is None or not selectors.agreement_accepted(user=user, agreement=agreement):
        raise ExportError(_("Accept the current data-use agreement before requesting an export."))
    waves = _waves_for_request(user=user, wave_ids=wave_ids)
    unfinished = Export.objects.filter(
        researcher=user, status__in=[Export.Status.PENDING, Export.Status.RUNNING]
    ).count()
    if unfinished >= MAX_UNFINISHED:
        raise ExportError(
            _("You already have %(count)s exports being prepared. Wait until one is ready, then ask again.")
            % {"count": unfinished}
        )
    export = Export.objects.create(researcher=user, agreement=agreement)
    export.waves.set(waves)
    for coalition in {wave.coalition for wave in waves}:
        labels = ", ".join(wave.label for wave in waves if wave.coalition == coalition)
        _log(
            coalition=coalition,
            action=AuditEvent.Action.EXPORT_REQUESTED,
            actor=_actor(user),
            detail=_("Export %(id)s of %(waves)s (agreement version %(version)s).")
            % {"id": str(export.pk)[:8], "waves": labels, "version": agreement.version},
        )
    _enqueue(export.pk)
    return export


def _enqueue(export_id: uuid.UUID) -> None:
    from exports import tasks  # the task module imports this one

    # robust: a failing enqueue (broker down) is logged and left to the sweeper, never undoing the request.
    transaction.on_commit(lambda: tasks.build_export.delay(str(export_id)), robust=True)


@transaction.atomic
def export_retry(*, export: Export, user: User) -> Export:
    """Ask again for a failed export of the user's (same waves, checked again)."""
    if export.researcher_id != user.pk:
        raise ExportError(_("This export does not exist."))
    _waves_for_request(user=user, wave_ids=[wave.pk for wave in export.waves.all()])
    updated = Export.objects.filter(pk=export.pk, status=Export.Status.FAILED).update(
        status=Export.Status.PENDING, stage=Export.Stage.QUEUED, progress=0, error=""
    )
    if not updated:
        raise ExportError(_("Only a failed export can be tried again."))
    _enqueue(export.pk)
    export.refresh_from_db()
    return export


# --- The job ------------------------------------------------------------------------------------


def _claim(export_id: Any) -> bool:
    now = timezone.now()
    return bool(
        Export.objects.filter(pk=export_id, status=Export.Status.PENDING).update(
            status=Export.Status.RUNNING,
            stage=Export.Stage.LOADING,
            progress=2,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            error="",
        )
    )


def _progress(export_id: Any, stage: str, progress: int) -> None:
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        stage=stage, progress=progress, heartbeat_at=timezone.now()
    )


def exports_root() -> Path:
    root = Path(settings.EXPORTS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_build(*, export_id: Any) -> Export | None:
    """Claim, build and publish an export's zip; None when there was nothing to claim.

    Raises ExportError (a reason for people) or what went wrong otherwise,
    after removing every file of this attempt; the task marks the export.
    """
    if not _claim(export_id):
        return None
    export = Export.objects.select_related("researcher").get(pk=export_id)
    work = exports_root() / f"{_TEMPORARY_PREFIX}{export.pk}-{export.attempts}"
    try:
        zip_path = _build_files(export, work)
        final = exports_root() / f"{uuid.uuid4().hex}.zip"
        size, digest = _size_and_digest(zip_path)
        with transaction.atomic():
            locked = Export.objects.select_for_update().filter(pk=export.pk, status=Export.Status.RUNNING)
            if not locked.exists():
                return None
            if not _still_granted(export):  # revoked while the files were being written
                raise ExportError(
                    _("Your access to a coalition of this export was revoked, so the export was stopped.")
                )
            os.replace(zip_path, final)
            finished = timezone.now()
            locked.update(
                status=Export.Status.SUCCEEDED,
                stage=Export.Stage.DONE,
                progress=100,
                file_name=final.name,
                file_size=size,
                file_sha256=digest,
                finished_at=finished,
                heartbeat_at=finished,
                expires_at=finished + timedelta(hours=settings.EXPORT_DOWNLOAD_HOURS),
            )
    except BaseException:
        _release(export.pk)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        Path(f"{work}.zip").unlink(missing_ok=True)
    export.refresh_from_db()
    return export


def _release(export_id: Any) -> None:
    """Hand an interrupted export back to the queue (the task marks it failed instead for a terminal error)."""
    Export.objects.filter(pk=export_id, status=Export.Status.RUNNING).update(
        status=Export.Status.PENDING, stage=Export.Stage.QUEUED, progress=0
    )


def export_fail(*, export_id: Any, reason: str) -> None:
    """Mark the export failed with a reason people can read."""
    Export.objects.filter(pk=export_id).exclude(status=Export.Status.SUCCEEDED).update(
        status=Export.Status.FAILED, stage=Export.Stage.DONE, error=reason, finished_at=timezone.now()
    )


def _build_files(export: Export, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    (work / "aggregates").mkdir(parents=True)
    waves = sorted(export.waves.select_related("coalition", "instrument"), key=lambda w: (w.coalition.name, w.opens_at))
    if not _still_granted(export):
        raise ExportError(_("Your access to a coalition of this export was revoked, so the export was stopped."))
    # One questionnaire version: `_waves_for_request` refused anything else (at the request and at a retry).
    instrument = waves[0].instrument.definition
    hierarchies = load_hierarchies()
    releases: list[WaveRelease] = []
    for position, wave in enumerate(waves):
        _progress(export.pk, Export.Stage.LOADING, 5 + 50 * position // len(waves))
        releases.append(_wave_release(export, wave, instrument, hierarchies, position, len(waves)))
    _progress(export.pk, Export.Stage.WRITING, 60)
    frame, variables = microdata(releases, instrument=instrument, hierarchies=hierarchies, languages=LANGUAGES)
    labels = [_wave_label(wave) for wave in waves]
    report = _disclosure_report(releases, labels)
    dataset = Dataset(
        name=f"coalition-pulse-export-{export.pk}",
        title={
            "en": "Coalition Pulse researcher export",
            "es": "Exportación para investigación de Coalition Pulse",
        },
        description={
            "en": "One row per response of the waves " + "; ".join(labels) + ". Anonymized (PRIVACY.md rule 15).",
            "es": "Una fila por respuesta de las rondas "
            + "; ".join(labels)
            + ". Anonimizado (regla 15 de PRIVACY.md).",
        },
        variables=variables,
        notes=_report_notes(report),
        languages=LANGUAGES,
    )
    rng = np.random.default_rng()
    files = dict(write_microdata(dataset, frame, work, rng=rng))
    del frame
    _progress(export.pk, Export.Stage.WRITING, 80)
    for wave, label in zip(waves, labels, strict=True):
        files.update(_write_aggregates(wave, label, work / "aggregates"))
    report_path = work / "disclosure-report.json"
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    files["disclosure-report"] = report_path
    files.update(
        {f"codebook-{language}": path for language, path in write_codebook(dataset, work, files=files).items()}
    )
    files["datapackage"] = write_datapackage(dataset, work, files=files, extra={"x-disclosure": report})
    _progress(export.pk, Export.Stage.PACKAGING, 90)
    zip_path = Path(f"{work}.zip")
    # Level 1: several times faster than the default on ~150 MB at 200 000 responses, a little larger.
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(work.rglob("*")):
            if path.is_file():
                archive.write(path, arcname=path.relative_to(work).as_posix())
    return zip_path


def _wave_label(wave: Wave) -> str:
    return f"{wave.coalition.name} — {wave.label}"


def _wave_release(
    export: Export, wave: Wave, instrument: dict[str, Any], hierarchies: dict[str, Any], position: int, count: int
) -> WaveRelease:
    run = selectors.wave_published_run(wave=wave)
    if run is None:
        raise ExportError(_("The wave %(wave)s has no published results yet.") % {"wave": wave.label})
    snapshot = wave.sectors_snapshot or []
    sectors = tuple(str(sector["slug"]) for sector in snapshot)
    keys = answer_keys(instrument=instrument, sectors=sectors)
    keys += [
        str(item["slug"])
        for section in instrument["sections"]
        for item in section["items"]
        if item["type"] in ("single", "multiple") and str(item["slug"]) not in keys
    ]
    scale_keys = [item.slug for item in scale_items(instrument)]
    responses = responses_load(wave_id=wave.pk, keys=keys, scale_keys=scale_keys, raw=True)
    _progress(export.pk, Export.Stage.ANONYMIZING, 5 + (50 * position + 20) // count)
    coalition = wave.coalition
    try:
        return wave_release(
            wave=WaveInput(
                label=_wave_label(wave),
                responses=responses,
                sectors=sectors,
                sector_names={str(sector["slug"]): sector.get("names", {}) for sector in snapshot},
                sensitive_sectors=tuple(str(s["slug"]) for s in snapshot if s.get("is_sensitive")),
                published_ids=selectors.published_group_ids(run=run),
                k=coalition.minimum_cell_size,
                k_sensitive=coalition.sensitive_cell_size,
            ),
            instrument=instrument,
            hierarchies=hierarchies,
            on_audit=lambda: _progress(export.pk, Export.Stage.AUDITING, 5 + (50 * position + 35) // count),
        )
    except AnonymizationError as error:
        raise ExportError(
            _("The wave %(wave)s has too few responses to export any respondent-level data.") % {"wave": wave.label}
        ) from error
    except ReleaseError as error:
        raise ExportError(
            _(
                "The wave %(wave)s cannot be exported safely: even with every group merged, its published results "
                "and the export together could single out a respondent."
            )
            % {"wave": wave.label}
        ) from error


def _disclosure_report(releases: Sequence[WaveRelease], labels: Sequence[str]) -> dict[str, Any]:
    return {
        "format": "coalition-pulse-disclosure-report/1",
        "rules": "PRIVACY.md rules 4 and 15",
        "never_exported": [
            "free text",
            "timestamps",
            "response, invitation and member ids",
            "social-location answers other than the generalized quasi-identifiers",
        ],
        "row_ids": "fresh in every file: 'row' numbers the rows of that file after a shuffle of its own",
        "waves": [{**release.report(), "wave": label} for release, label in zip(releases, labels, strict=True)],
    }


def _report_notes(report: dict[str, Any]) -> dict[str, str]:
    notes: dict[str, list[str]] = {"en": [], "es": []}
    for wave in report["waves"]:
        generalized = [
            f"{qi['slug']} → {qi['level_name']}"
            for qi in wave["quasi_identifiers"]
            if qi["generalized"] and not qi["dropped"]
        ]
        dropped = ", ".join(wave["dropped"]) or "—"
        notes["en"].append(
            f"**{wave['wave']}**: k = {wave['k']}; generalized: {', '.join(generalized) or '—'}; "
            f"dropped: {dropped}; rows with suppressed quasi-identifiers: {wave['rows_suppressed']} "
            f"({wave['values_suppressed']} values); coarsened after the joint audit: "
            f"{len(wave['joint_audit']['coarsened_by_audit'])} step(s)."
        )
        notes["es"].append(
            f"**{wave['wave']}**: k = {wave['k']}; generalizados: {', '.join(generalized) or '—'}; "
            f"eliminados: {dropped}; filas con cuasi-identificadores suprimidos: {wave['rows_suppressed']} "
            f"({wave['values_suppressed']} valores); pasos de generalización tras la auditoría conjunta: "
            f"{len(wave['joint_audit']['coarsened_by_audit'])}."
        )
    return {language: "\n\n".join(lines) for language, lines in notes.items()}


_AGGREGATE_FIELDS = [
    "dimensions",
    "groups",
    "measure",
    "area",
    "n",
    "n_label",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "score_100",
    "gap",
    "gap_ci_low",
    "gap_ci_high",
    "p_value",
    "q_value",
    "hedges_g",
    "flag",
    "suppressed",
]


def _write_aggregates(wave: Wave, label: str, directory: Path) -> dict[str, Path]:
    """Write the wave's stored, suppressed tables as the API serves them: breakdowns and pair matrix."""
    run = selectors.wave_published_run(wave=wave)
    if run is None:  # checked when the wave was released; its results were withdrawn since
        raise ExportError(_("The wave %(wave)s has no published results yet.") % {"wave": wave.label})
    stem = f"wave-{wave.pk}"
    breakdowns = directory / f"{stem}-breakdowns.csv"
    # The wave column holds the coalition's name and the wave's label, typed by people: see config/csv_safety.py.
    with breakdowns.open("w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)
        writer.writerow(["wave", *_AGGREGATE_FIELDS])
        for cell in breakdown_cells(run=run):
            writer.writerow([label, *(_csv_value(cell.get(name)) for name in _AGGREGATE_FIELDS)])
    pairs = directory / f"{stem}-pair-matrix.csv"
    cells = pair_cells(run=run)
    with pairs.open("w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)
        fields = (
            list(cells[0])
            if cells
            else ["rater_sector", "rated_sector", "n", "mean", "asymmetry", "flag", "suppressed"]
        )
        writer.writerow(["wave", *fields])
        for cell in cells:
            writer.writerow([label, *(_csv_value(cell.get(name)) for name in fields)])
    return {f"{stem}-breakdowns": breakdowns, f"{stem}-pair-matrix": pairs}


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return value


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


# --- Downloads and housekeeping -----------------------------------------------------------------


def export_download(*, export_id: Any, user: User) -> tuple[Export, Path]:
    """Count one download of the user's ready export and return it with its file; ExportError otherwise.

    The count is taken with a conditional update, so two downloads at the
    same moment cannot both use the last one.
    """
    now = timezone.now()
    export = selectors.export_for_user(user=user, export_id=export_id)
    if export is None:
        raise ExportError(_("This export does not exist."))
    if not _still_granted(export):
        raise ExportError(
            _("Your access to a coalition of this export was revoked, so it can no longer be downloaded.")
        )
    with transaction.atomic():
        counted = Export.objects.filter(
            pk=export.pk,
            researcher=user,
            status=Export.Status.SUCCEEDED,
            expires_at__gt=now,
            downloads__lt=settings.EXPORT_MAX_DOWNLOADS,
        ).update(downloads=F("downloads") + 1)
        if not counted:
            raise ExportError(_("This export can no longer be downloaded. Request a new export."))
        export.refresh_from_db()
        for coalition in Coalition.objects.filter(waves__exports=export).distinct():
            _log(
                coalition=coalition,
                action=AuditEvent.Action.EXPORT_DOWNLOADED,
                actor=_actor(user),
                detail=_("Export %(id)s downloaded (%(count)s of %(limit)s).")
                % {"id": str(export.pk)[:8], "count": export.downloads, "limit": settings.EXPORT_MAX_DOWNLOADS},
            )
    return export, exports_root() / export.file_name


def exports_reset_stuck(*, now: datetime | None = None) -> list[str]:
    """Give exports stuck in RUNNING (no sign of life for `STUCK_AFTER`) back to the queue; return their ids."""
    limit = (now or timezone.now()) - STUCK_AFTER
    stuck = Export.objects.filter(status=Export.Status.RUNNING, heartbeat_at__lt=limit)
    ids = [str(pk) for pk in stuck.values_list("pk", flat=True)]
    stuck.update(status=Export.Status.PENDING, stage=Export.Stage.QUEUED, progress=0)
    return ids


def exports_pending_ids() -> list[str]:
    return [str(pk) for pk in Export.objects.filter(status=Export.Status.PENDING).values_list("pk", flat=True)]


def exports_delete_expired(*, now: datetime | None = None) -> int:
    """Delete the zips of exports past their time or out of downloads, and stray partial files; return how many."""
    moment = now or timezone.now()
    done = Export.objects.filter(status=Export.Status.SUCCEEDED).filter(
        Q(expires_at__lte=moment) | Q(downloads__gte=settings.EXPORT_MAX_DOWNLOADS)
    )
    root = exports_root()
    count = 0
    for export in done:
        with transaction.atomic():
            if Export.objects.filter(pk=export.pk, status=Export.Status.SUCCEEDED).update(
                status=Export.Status.EXPIRED, file_name="", stage=Export.Stage.DONE
            ):
                (root / export.file_name).unlink(missing_ok=True)
                count += 1
    # Partial folders and zips of attempts that were killed (a worker lost mid-write) older than a day.
    running = {str(pk) for pk in Export.objects.filter(status=Export.Status.RUNNING).values_list("pk", flat=True)}
    for path in root.glob(f"{_TEMPORARY_PREFIX}*"):
        export_id = path.name.removeprefix(_TEMPORARY_PREFIX)[:36]
        age = moment.timestamp() - path.stat().st_mtime
        if export_id not in running and age > 24 * 3600:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    # A zip no export points at (its row was deleted) is removed too.
    named = set(Export.objects.exclude(file_name="").values_list("file_name", flat=True))
    for path in root.glob("*.zip"):
        if path.name not in named and moment.timestamp() - path.stat().st_mtime > 3600:
            path.unlink(missing_ok=True)
    return count


def agreement_publish(*, title: dict[str, str], text: dict[str, str]) -> DataUseAgreement:
    """Publish a new version of the agreement (researchers must accept it before their next export)."""
    with transaction.atomic():
        latest = DataUseAgreement.objects.select_for_update().order_by("-version").first()
        version = (latest.version + 1) if latest else 1
        return DataUseAgreement.objects.create(version=version, title=title, text=text)


AGREEMENT_DEFAULT: dict[str, dict[str, str]] = {
    "title": {"en": "Data-use agreement", "es": "Acuerdo de uso de datos"},
    "text": {
        "en": (
            "I will use these data only for the research I described to the coalition's data steward.\n\n"
            "I will not try to find out who gave any answer, and I will not link these data with other "
            "information about the coalition's members. If I notice that someone could be identified, I will "
            "stop, tell the data steward at once, and delete the files.\n\n"
            "I will keep the files on encrypted storage that only my research team can open, and I will not "
            "share them. I will delete them when the research ends.\n\n"
            "I will publish only aggregate results, with no group smaller than the coalition's threshold "
            "(at least 5 people, 10 for sensitive groups such as people with lived experience).\n\n"
            "I understand that my access, my exports and my downloads are logged and that the coalition's "
            "stewards can read that log."
        ),
        "es": (
            "Usaré estos datos solo para la investigación que describí a la persona responsable de datos de la "
            "coalición.\n\n"
            "No intentaré averiguar quién dio ninguna respuesta, ni vincularé estos datos con otra información "
            "sobre las personas de la coalición. Si noto que alguien podría ser identificado, me detendré, avisaré "
            "de inmediato a la persona responsable de datos y borraré los archivos.\n\n"
            "Guardaré los archivos en un almacenamiento cifrado que solo mi equipo de investigación pueda abrir, "
            "y no los compartiré. Los borraré cuando termine la investigación.\n\n"
            "Publicaré solo resultados agregados, sin ningún grupo menor que el umbral de la coalición (al menos "
            "5 personas, 10 en grupos sensibles como las personas con experiencia vivida).\n\n"
            "Entiendo que mi acceso, mis exportaciones y mis descargas quedan registrados y que las personas "
            "responsables de datos de la coalición pueden leer ese registro."
        ),
    },
}


def agreement_ensure_default() -> DataUseAgreement:
    """Return the current agreement, publishing the default text as version 1 when there is none."""
    return selectors.agreement_current() or agreement_publish(**AGREEMENT_DEFAULT)
