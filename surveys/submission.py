"""The submission hot path: find the invitation, validate, claim it and store the answers.

Every survey answer goes through here, so it is written as plain SQL in as
few round trips as correctness allows (bench/README.md has the figures):

1. one SELECT finds the invitation by its token hash, with its member's
   sector and its wave's status (a fast early refusal only);
2. after validation, on PostgreSQL one call of the database function
   `surveys_claim_and_store` (migration 0005), atomic on its own: it takes
   the wave's advisory lock in shared mode, then claims the invitation (a
   conditional update: of two concurrent submissions exactly one succeeds)
   only while the wave is open, and inserts the answers into the pending
   pool. On SQLite, whose write transactions run one at a time, the same
   update and insert run in one transaction.

Closing a wave takes the same advisory lock exclusively (`wave_close_lock`),
so it waits for submissions in flight, and a submission that gets the lock
after the close committed reads the wave's status afresh and finds it closed:
no answer can land in the pool after the wave's release. An advisory lock
lives in memory: unlike `SELECT ... FOR SHARE` on the wave row, it writes
nothing per submission.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from surveys import selectors
from surveys.instruments import InstrumentSpec
from surveys.models import Wave

# The advisory-lock namespace of waves (an arbitrary constant of this project,
# also written in migration 0005).
WAVE_LOCK_CLASS = 7301
_CONTEXT_SECONDS = 30.0


@dataclass(frozen=True)
class SubmissionTarget:
    invitation_id: uuid.UUID
    wave_id: int
    is_used: bool
    sector: str
    status: str
    closes_at: datetime


@dataclass(frozen=True)
class WaveContext:
    """What validating a wave's answers needs; fixed while the wave is open."""

    spec: InstrumentSpec
    sector_slugs: tuple[str, ...]
    is_free_text_enabled: bool


_contexts: dict[int, tuple[float, WaveContext]] = {}


def wave_close_lock(wave_id: int) -> None:
    """Wait for submissions in flight, and hold new ones back until this transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [WAVE_LOCK_CLASS, wave_id])


def target_find(*, token_hash: str) -> SubmissionTarget | None:
    """Return the invitation with this token hash, its member's sector and its wave's state."""
    sql = (
        "SELECT i.id, i.wave_id, i.is_used, s.slug, w.status, w.closes_at "
        "FROM surveys_invitation i "
        "JOIN surveys_member m ON m.id = i.member_id "
        "JOIN surveys_sector s ON s.id = m.sector_id "
        "JOIN surveys_wave w ON w.id = i.wave_id "
        "WHERE i.token_hash = %s"
    )  # noqa: S608 - only constants are interpolated
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        row = connection.connection.execute(sql, [token_hash], prepare=True).fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [token_hash])
            row = cursor.fetchone()
    if row is None:
        return None
    invitation_id, wave_id, is_used, sector, status, closes_at = row[:6]
    if not isinstance(invitation_id, uuid.UUID):
        invitation_id = uuid.UUID(str(invitation_id))
    if isinstance(closes_at, str):
        closes_at = parse_datetime(closes_at)
    if closes_at.tzinfo is None:  # SQLite keeps naive UTC
        closes_at = closes_at.replace(tzinfo=UTC)
    return SubmissionTarget(
        invitation_id=invitation_id,
        wave_id=wave_id,
        is_used=bool(is_used),
        sector=sector,
        status=status,
        closes_at=closes_at,
    )


def wave_context(*, wave_id: int) -> WaveContext:
    """Return the wave's instrument, sectors and free-text setting, cached briefly per process.

    The sectors are frozen when a wave opens and an instrument version never
    changes; the cache is short so that a coalition's free-text setting
    changed in the admin takes effect within half a minute.
    """
    now = time.monotonic()
    cached = _contexts.get(wave_id)
    if cached is not None and now - cached[0] < _CONTEXT_SECONDS:
        return cached[1]
    wave = (
        Wave.objects.select_related("coalition", "instrument")
        .only("sectors_snapshot", "coalition__is_free_text_enabled", "instrument__id", "instrument__checksum")
        .get(pk=wave_id)
    )
    context = WaveContext(
        spec=selectors.instrument_spec(instrument_id=wave.instrument.pk, checksum=wave.instrument.checksum),
        sector_slugs=tuple(sector["slug"] for sector in selectors.wave_sectors(wave=wave)),
        is_free_text_enabled=wave.coalition.is_free_text_enabled,
    )
    _contexts[wave_id] = (now, context)
    return context


def wave_context_forget() -> None:
    """Empty the per-process cache (tests whose database reuses ids)."""
    _contexts.clear()


def claim_and_store(*, target: SubmissionTarget, answers: dict[str, Any], now: datetime) -> bool:
    """Mark the invitation used and put the answers in the pool, if the wave is open and it is unused.

    Return whether both happened; either both happen or neither.
    """
    document = json.dumps(answers, ensure_ascii=False, separators=(",", ":"))
    pending_id = uuid.uuid4()
    moment = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        row = connection.connection.execute(
            "SELECT surveys_claim_and_store(%s, %s, %s, %s, %s::jsonb, %s)",
            [target.invitation_id, target.wave_id, pending_id, target.sector, document, moment],
            prepare=True,
        ).fetchone()
        return bool(row and row[0])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE surveys_invitation SET is_used = %s WHERE id = %s AND NOT is_used AND EXISTS ("
            "SELECT 1 FROM surveys_wave w WHERE w.id = %s AND w.status = %s AND w.closes_at > %s)",
            [True, target.invitation_id.hex, target.wave_id, Wave.Status.OPEN, moment],
        )
        if cursor.rowcount != 1:
            return False
        cursor.execute(
            "INSERT INTO surveys_pendingsubmission (id, wave_id, sector, answers) VALUES (%s, %s, %s, %s)",
            [pending_id.hex, target.wave_id, target.sector, document],
        )
        return True


def refusal_reason(*, target: SubmissionTarget, now: datetime) -> str:
    """Tell why a claim stored nothing: the wave closed meanwhile, or the invitation was used."""
    wave = Wave.objects.values_list("status", "closes_at").get(pk=target.wave_id)
    if wave[0] != Wave.Status.OPEN or now >= wave[1]:
        return "wave_closed"
    return "already_received"
