"""Prototypes of a cheaper submission path, measured beside the real one (not used by the project).

Both keep what `services.response_submit` guarantees: the wave is held FOR
KEY SHARE while the claim and the insert happen (a close waits for them),
the invitation is claimed by a conditional update (of two concurrent
submissions exactly one is stored), answers are validated against the
instrument before anything is stored, and the claim and the pending row
commit together or not at all. They differ only in round trips and ORM work:

- `proposal-a`: one transaction, four statements instead of seven: one SQL
  join reads the invitation, wave, instrument checksum, coalition and sector
  and locks the wave (`FOR KEY SHARE OF wave`); one statement claims the
  invitation and inserts the pending row (`WITH claimed AS (UPDATE …) INSERT
  … SELECT … FROM claimed`).
- `proposal-b`: no explicit transaction: an unlocked read, then one statement
  that locks the wave, re-checks that it is open, claims the invitation and
  inserts the pending row. A statement is atomic on its own, so this is two
  round trips in all; refusals are told apart by a second read only when the
  statement stored nothing.
"""

import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from surveys import services
from surveys.answers import AnswersInvalid, answers_clean
from surveys.api.views import REFUSAL_STATUS, ResponseSubmitApi
from surveys.instruments import InstrumentSpec
from surveys.models import Wave
from surveys.selectors import _instrument_spec

_INVITATION_COLUMNS = """
    i.id, i.is_used, w.id, w.status, w.closes_at, w.instrument_id, instrument.checksum,
    jsonb_path_query_array(w.sectors_snapshot, '$[*].slug'), c.is_free_text_enabled, s.slug
FROM surveys_invitation i
JOIN surveys_wave w ON w.id = i.wave_id
JOIN surveys_instrument instrument ON instrument.id = w.instrument_id
JOIN surveys_coalition c ON c.id = w.coalition_id
JOIN surveys_member m ON m.id = i.member_id
JOIN surveys_sector s ON s.id = m.sector_id
WHERE i.token_hash = %s
"""
_INVITATION_LOCKING = "SELECT" + _INVITATION_COLUMNS + "FOR KEY SHARE OF w"
_INVITATION_PLAIN = "SELECT" + _INVITATION_COLUMNS

_CLAIM_AND_STORE = """
WITH claimed AS (
    UPDATE surveys_invitation SET is_used = true WHERE id = %s AND NOT is_used RETURNING id
)
INSERT INTO surveys_pendingsubmission (id, wave_id, sector, answers)
SELECT %s, %s, %s, %s::jsonb FROM claimed
"""

_LOCK_CLAIM_AND_STORE = """
WITH open_wave AS (
    SELECT id FROM surveys_wave WHERE id = %s AND status = 'open' AND closes_at > %s FOR KEY SHARE
), claimed AS (
    UPDATE surveys_invitation SET is_used = true
    WHERE id = %s AND NOT is_used AND EXISTS (SELECT 1 FROM open_wave)
    RETURNING id
)
INSERT INTO surveys_pendingsubmission (id, wave_id, sector, answers)
SELECT %s, %s, %s, %s::jsonb FROM claimed
"""


def _closed() -> services.SubmissionRefused:
    return services.SubmissionRefused("wave_closed", "This survey has closed. Thank you for your interest.")


def _already() -> services.SubmissionRefused:
    return services.SubmissionRefused("already_received", "Your answers were already received. Thank you.")


def _invalid() -> services.SubmissionRefused:
    return services.SubmissionRefused(
        "invalid_token", "This link is not valid. Please use the most recent link you were sent."
    )


def _clean(row: tuple[Any, ...], answers: Any) -> dict[str, Any]:
    _id, _used, _wave, _status, _closes, instrument_id, checksum, sector_slugs, free_text, _sector = row
    spec: InstrumentSpec = _instrument_spec(instrument_id, checksum)
    # Django's psycopg set-up returns jsonb as text, for JSONField to decode.
    slugs = json.loads(sector_slugs) if isinstance(sector_slugs, str) else sector_slugs
    return answers_clean(spec=spec, sector_slugs=slugs, answers=answers, is_free_text_enabled=free_text)


def _encode(answers: dict[str, Any]) -> str:
    return json.dumps(answers, cls=DjangoJSONEncoder)


def submit_in_one_transaction(*, token_hash: str, answers: Any, now: datetime | None = None) -> None:
    """Proposal A: BEGIN, one locking join, one claim-and-insert, COMMIT."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INVITATION_LOCKING, [token_hash])
        row = cursor.fetchone()
        if row is None:
            raise _invalid()
        invitation_id, is_used, wave_id, wave_status, closes_at = row[:5]
        if wave_status != Wave.Status.OPEN or now >= closes_at:
            raise _closed()
        if is_used:
            raise _already()
        cleaned = _clean(row, answers)
        cursor.execute(_CLAIM_AND_STORE, [invitation_id, uuid.uuid4(), wave_id, row[9], _encode(cleaned)])
        if cursor.rowcount != 1:
            raise _already()


def submit_in_one_statement(*, token_hash: str, answers: Any, now: datetime | None = None) -> None:
    """Proposal B: an unlocked read, then one atomic lock-check-claim-insert statement."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INVITATION_PLAIN, [token_hash])
        row = cursor.fetchone()
        if row is None:
            raise _invalid()
        invitation_id, is_used, wave_id, wave_status, closes_at = row[:5]
        if wave_status != Wave.Status.OPEN or now >= closes_at:
            raise _closed()
        if is_used:
            raise _already()
        cleaned = _clean(row, answers)
        cursor.execute(
            _LOCK_CLAIM_AND_STORE,
            [wave_id, now, invitation_id, uuid.uuid4(), wave_id, row[9], _encode(cleaned)],
        )
        if cursor.rowcount == 1:
            return
        # Nothing stored: the wave closed or the invitation was used meanwhile. Say which.
        cursor.execute(_INVITATION_PLAIN, [token_hash])
        row = cursor.fetchone()
    if row is None:
        raise _invalid()
    if row[3] != Wave.Status.OPEN or now >= row[4]:
        raise _closed()
    raise _already()


class _ProposalApi(ResponseSubmitApi):
    """The real view (size limit, serializer, error shapes) over a prototype service."""

    submit = staticmethod(submit_in_one_transaction)

    def post(self, request: Request) -> Response:
        if len(request.body) > settings.SUBMISSION_MAX_BYTES:
            return Response({"code": "too_large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            hashed = services.submission_token_hash(serializer.validated_data["token"])
            self.submit(token_hash=hashed, answers=serializer.validated_data["answers"])
        except services.SubmissionRefused as refusal:
            return Response({"code": refusal.code, "detail": str(refusal)}, status=REFUSAL_STATUS[refusal.code])
        except AnswersInvalid as invalid:
            return Response(
                {
                    "code": "invalid_answers",
                    "detail": "Some answers are not valid; nothing was stored.",
                    "errors": [{"field": error.field, "message": error.message} for error in invalid.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"status": "received"}, status=status.HTTP_201_CREATED)


class ProposalOneTransactionApi(_ProposalApi):
    submit = staticmethod(submit_in_one_transaction)


class ProposalOneStatementApi(_ProposalApi):
    submit = staticmethod(submit_in_one_statement)
