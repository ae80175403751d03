"""Writes of the analytics side: requesting, claiming, computing and storing a wave's results.

`breakdowns_compute` is what the `analytics.compute_breakdowns` task runs. A
run is claimed by a conditional update (PENDING → RUNNING), so a redelivered
or repeated task finds nothing to claim; its tables are replaced in one
transaction, so readers see the previous result until the new one is
complete; only suppressed tables are stored (PRIVACY.md rule 4).
"""

import io
import json
import logging
import queue
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.engine import ENGINE_VERSION
from analytics.engine.frame import (
    NO_RELATIONSHIP,
    NOT_APPLICABLE,
    PAIR_PREFIX,
    SECTOR,
    dimensions,
    responses_frame,
    scale_items,
)
from analytics.engine.publication import PAIR_COLUMNS, PUBLISHED_COLUMNS, Publication, publish
from analytics.models import AnalyticsRun, PublishedPairMatrix, PublishedTable
from surveys.models import Response, Wave

logger = logging.getLogger(__name__)

# A run whose worker has shown no sign of life for this long is given back to the queue.
STUCK_AFTER = timedelta(minutes=15)
# The loader hands COPY output to the parser in chunks of about this size.
_COPY_CHUNK_BYTES = 1 << 20
# The statistics of each stored cell, in order after its groups (analytics.selectors.CELL_FIELDS).
_CELL_STATISTICS = [column for column in PUBLISHED_COLUMNS if column not in ("dimensions", "groups", "measure", "area")]


class AnalyticsError(Exception):
    """A run that cannot succeed, with a reason written for coalition staff."""


def run_request(*, wave_id: int, force: bool = False) -> AnalyticsRun:
    """Return the wave's run for the current engine version, made PENDING if it has to be computed.

    A finished run is left alone unless `force`; a failed one is requested
    again; a running one is left to its worker.
    """
    wave = Wave.objects.get(pk=wave_id)
    if wave.status != Wave.Status.CLOSED:
        raise AnalyticsError(
            _("Results are computed only once a wave has closed (this one is %(status)s).")
            % {"status": wave.get_status_display()}
        )
    run, _created = AnalyticsRun.objects.get_or_create(wave=wave, engine_version=ENGINE_VERSION)
    again = [AnalyticsRun.Status.FAILED, *([AnalyticsRun.Status.SUCCEEDED] if force else [])]
    AnalyticsRun.objects.filter(pk=run.pk, status__in=again).update(
        status=AnalyticsRun.Status.PENDING, stage=AnalyticsRun.Stage.QUEUED, progress=0, error=""
    )
    run.refresh_from_db()
    return run


def _claim(run_id: int) -> bool:
    now = timezone.now()
    return bool(
        AnalyticsRun.objects.filter(pk=run_id, status=AnalyticsRun.Status.PENDING).update(
            status=AnalyticsRun.Status.RUNNING,
            stage=AnalyticsRun.Stage.LOADING,
            progress=5,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            error="",
        )
    )


def _progress(run_id: int, stage: str, progress: int) -> None:
    AnalyticsRun.objects.filter(pk=run_id, status=AnalyticsRun.Status.RUNNING).update(
        stage=stage, progress=progress, heartbeat_at=timezone.now()
    )


def answer_keys(*, instrument: Mapping[str, Any], sectors: Sequence[str]) -> list[str]:
    """Return the answer keys the engine reads: scale items, social-location dimensions, pair ratings."""
    keys = [item.slug for item in scale_items(instrument)]
    keys += [dimension.slug for dimension in dimensions(instrument)]
    keys += [PAIR_PREFIX + sector for sector in sectors]
    return keys


def responses_load(
    *, wave_id: int, keys: Sequence[str] | None = None, scale_keys: Collection[str] = (), raw: bool = False
) -> pd.DataFrame:
    """Return the wave's responses frame, from one query (no model instances), in the order of the response ids.

    The order is fixed so that a wave's figures are the same in every run:
    floating-point sums depend on the order of their terms, and a parallel
    scan returns rows in any order (a 0–100 score once rounded to 67 in one
    run and 68 in the next).

    On PostgreSQL with `keys`, the database extracts just those answers and
    streams them as CSV (COPY), which pandas' C parser reads: several times
    faster than decoding every stored JSON document in Python. Values keep
    the meaning the engine expects (numbers as text, "na", "none", lists).
    `jsonb_to_record` gives a JSON string without its quotes and any other
    value as JSON text, so a multi-select answer arrives as '["woman"]'.
    With `raw`, scale items and pair ratings stay as stored too (numbers
    as text, "na", "none") instead of numbers with those as missing: the
    exports give "don't know" and "no working relationship" codes of their own.
    """
    if keys is not None and connection.vendor == "postgresql":
        return _responses_copy(wave_id=wave_id, keys=list(keys), scale_keys=frozenset(scale_keys), raw=raw)
    responses = Response.objects.filter(wave_id=wave_id).order_by("id")
    return responses_frame(responses.values_list("sector", "answers").iterator(5000))


_ORDER = "_order"


def _responses_copy(*, wave_id: int, keys: list[str], scale_keys: Collection[str], raw: bool = False) -> pd.DataFrame:
    from psycopg import sql  # PostgreSQL only

    # One jsonb_to_record per row: each `answers ->> key` would decompress a stored (TOASTed) document again.
    record = sql.SQL(", ").join([sql.SQL("{} text").format(sql.Identifier(key)) for key in keys])
    # The rows come in any order (parallel workers); each carries the first 64 bits of its id, by which
    # pandas puts them in id order. An ORDER BY here made PostgreSQL sort the extracted answers, on disk
    # at 200 000 responses: about 2 s more.
    statement = sql.SQL(
        "COPY (SELECT ('x' || translate(left(r.id::text, 18), '-', ''))::bit(64)::bigint, r.sector, {}"
        " FROM {} AS r, jsonb_to_record(r.answers) AS x({}) WHERE r.wave_id = {})"
        " TO STDOUT (FORMAT csv)"
    ).format(
        sql.SQL(", ").join([sql.SQL("x.{}").format(sql.Identifier(key)) for key in keys]),
        sql.Identifier(Response._meta.db_table),
        record,
        sql.Literal(wave_id),
    )
    names = [SECTOR, *keys]
    # Unquoted empty fields are SQL NULL (a skipped question); no other value is empty. Scale items
    # and pair ratings are parsed as numbers straight away: "na" (don't know) and "none" (no
    # working relationship) are missing values to the engine, like a skipped question.
    numeric = [] if raw else [key for key in keys if key in scale_keys or key.startswith(PAIR_PREFIX)]
    with transaction.atomic(), connection.cursor() as cursor:
        # Extracting the answers is most of the query's time and the planner does not see it (a function
        # costs 1): let it split a large wave over parallel workers. A small wave keeps its index scan.
        # SET LOCAL ends with this transaction (or with the caller's, when nested).
        cursor.execute("SET LOCAL parallel_setup_cost = 0")
        cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        stream = _CopyStream(cursor.cursor, statement)
        try:
            frame = pd.read_csv(
                io.BufferedReader(stream, buffer_size=_COPY_CHUNK_BYTES),
                header=None,
                names=[_ORDER, *names],
                dtype={_ORDER: "int64", **{name: ("float64" if name in numeric else object) for name in names}},
                keep_default_na=False,
                na_values={
                    name: (["", NOT_APPLICABLE, NO_RELATIONSHIP] if name in numeric else [""]) for name in names
                },
            )
        finally:
            stream.finish()
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    # Unsigned, as the ids compare (a tie of 64 bits between two random ids is left to chance).
    order = np.argsort(frame.pop(_ORDER).to_numpy().view(np.uint64), kind="stable")
    frame = frame.take(order).reset_index(drop=True)
    # Only social-location answers can be lists (multi-select); scale items and pair ratings never are.
    for key in (key for key in keys if not key.startswith(PAIR_PREFIX) and key not in scale_keys):
        frame[key] = _lists_decoded(frame[key])
    return frame


class _CopyStream(io.RawIOBase):
    """The output of a COPY … TO STDOUT, read by a second thread while this one parses it.

    PostgreSQL extracts the answers while pandas parses the rows already
    received, instead of one waiting for the other. The thread receives rows
    (the socket wait releases the GIL) and hands them over in chunks through a
    bounded queue; it always reads the COPY to its end, so the connection is
    left usable even when the parser stops early, and its error, if any, is
    raised by `finish`.
    """

    def __init__(self, cursor: Any, statement: Any) -> None:
        super().__init__()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._pending = memoryview(b"")
        self._is_done = False
        self._is_abandoned = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._receive, args=(cursor, statement), daemon=True)
        self._thread.start()

    def _receive(self, cursor: Any, statement: Any) -> None:
        try:
            with cursor.copy(statement) as copy:
                rows: list[bytes] = []
                size = 0
                for row in copy:
                    if self._is_abandoned:
                        continue
                    rows.append(bytes(row))
                    size += len(row)
                    if size >= _COPY_CHUNK_BYTES:
                        self._chunks.put(b"".join(rows))
                        rows, size = [], 0
                if rows and not self._is_abandoned:
                    self._chunks.put(b"".join(rows))
        except BaseException as error:  # handed to the parsing thread by `finish`
            self._error = error
        finally:
            self._chunks.put(None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._is_done:
            chunk = self._chunks.get()
            if chunk is None:
                self._is_done = True
            else:
                self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def finish(self) -> None:
        """Wait for the COPY to end (draining what the parser did not read) and raise its error."""
        self._is_abandoned = True
        while not self._is_done:
            self._is_done = self._chunks.get() is None
        self._thread.join()
        if self._error is not None:
            raise self._error


def _lists_decoded(column: pd.Series) -> pd.Series:
    """Return the column with its JSON arrays ('["woman"]') decoded into lists, other values as they are.

    A dimension's answers take few distinct values, so each distinct text is
    decoded once (rows with the same answer share one list, which nothing
    mutates): decoding row by row took seconds on a large wave.
    """
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    distinct = np.empty(len(uniques), dtype=object)
    is_list = False
    for position, value in enumerate(uniques.tolist()):
        if isinstance(value, str) and value.startswith("["):
            distinct[position] = json.loads(value)
            is_list = True
        else:
            distinct[position] = value
    if not is_list:
        return column
    values = column.to_numpy(dtype=object).copy()
    answered = codes >= 0
    values[answered] = distinct[codes[answered]]
    return pd.Series(values, index=column.index, name=column.name)


def publication_compute(*, wave: Wave, responses: pd.DataFrame, on_stage: Callable[[str, int], None]) -> Publication:
    """Return the wave's publication with the coalition's thresholds."""
    coalition = wave.coalition
    snapshot = wave.sectors_snapshot or []
    on_stage(AnalyticsRun.Stage.COMPUTING, 30)
    return publish(
        responses=responses,
        instrument=wave.instrument.definition,
        sectors=[sector["slug"] for sector in snapshot],
        sensitive_sectors=[sector["slug"] for sector in snapshot if sector.get("is_sensitive")],
        k=coalition.minimum_cell_size,
        k_sensitive=coalition.sensitive_cell_size,
        gap_threshold=float(coalition.gap_threshold),
    )


def _json_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    """Return the frame's rows as JSON-ready tuples (JSON arrays): NaN and NA become None, numpy scalars Python.

    Column by column (`tolist` converts in C), then zipped: converting value
    by value through an object array took most of the store's time.
    """
    converted = [_json_column(frame[column]) for column in columns]
    return list(zip(*converted, strict=True))


def _json_column(column: pd.Series) -> list[Any]:
    missing = column.isna().to_numpy()
    if column.dtype.kind in "fiub":
        if column.dtype.kind == "f":
            # Python floats made in C; value by value through an object array took most of the store.
            values = column.to_numpy(dtype="float64").astype(object)
        else:
            # Nullable integers: to_numpy() would turn them into floats when one is missing.
            values = column.to_numpy(dtype=object, na_value=None)
        if missing.any():
            values[missing] = None
        return list(values.tolist())
    # Tuples (groups) are written as JSON arrays as they are; numpy scalars become Python values.
    values = column.to_numpy(dtype=object).copy()
    if any(issubclass(kind, np.generic) for kind in set(map(type, values.tolist()))):
        for index, value in enumerate(values.tolist()):
            if isinstance(value, np.generic):
                values[index] = value.item()
    if missing.any():
        values[missing] = None
    return list(values.tolist())


def _tables(run: AnalyticsRun, publication: Publication) -> list[PublishedTable]:
    """Return one table per (dimensions, measure, area), in the engine's order of first appearance."""
    cells = publication.cells
    # A hidden cell is stored as its groups alone (analytics.selectors.cell_fields): every figure of
    # it is null anyway, and most cells of a small wave are hidden, so the write shrinks severalfold.
    # Only the shown cells' figures are converted (the conversion is value by value, so the same).
    rows: list[tuple[Any, ...]] = [(group,) for group in _json_column(cells["groups"])]
    shown = np.flatnonzero(~cells["suppressed"].to_numpy(dtype=bool))
    for index, row in zip(shown.tolist(), _json_rows(cells.iloc[shown], ["groups", *_CELL_STATISTICS]), strict=True):
        rows[index] = row
    # Plain lists: indexing pandas columns cell by cell costs more than the rest of this function.
    dimensions_of = cells["dimensions"].tolist()
    measures = cells["measure"].tolist()
    areas = cells["area"].tolist()
    positions_of: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for position, key in enumerate(zip(dimensions_of, areas, strict=True)):
        positions_of.setdefault(key, []).append(position)
    tables: list[PublishedTable] = []
    for positions in positions_of.values():
        first = positions[0]
        dimensions = list(dimensions_of[first])
        tables.append(
            PublishedTable(
                run=run,
                dimensions=dimensions,
                table_key=",".join(dimensions),
                measure=measures[first],
                area=areas[first],
                position=len(tables),
                cells=[rows[position] for position in positions],
            )
        )
    return tables


def _tables_insert(tables: list[PublishedTable]) -> None:
    """Insert the tables: on PostgreSQL with COPY (no SQL literal escaping of megabytes of JSON)."""
    if connection.vendor != "postgresql":
        PublishedTable.objects.bulk_create(tables, batch_size=500)
        return
    from psycopg import sql  # PostgreSQL only

    columns = ["run_id", "dimensions", "table_key", "measure", "area", "position", "cells"]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(PublishedTable._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for table in tables:
            copy.write_row(
                (
                    table.run_id,
                    json.dumps(table.dimensions),
                    table.table_key,
                    table.measure,
                    table.area,
                    table.position,
                    json.dumps(table.cells, separators=(",", ":")),
                )
            )


def _store(run: AnalyticsRun, publication: Publication) -> bool:
    """Replace the run's tables and mark it SUCCEEDED, in one transaction; False if the claim was lost."""
    tables = _tables(run, publication)
    pairs = _json_rows(publication.pairs, PAIR_COLUMNS)
    with transaction.atomic():
        locked = AnalyticsRun.objects.select_for_update().filter(pk=run.pk, status=AnalyticsRun.Status.RUNNING)
        if not locked.exists():
            return False
        PublishedTable.objects.filter(run=run).delete()
        PublishedPairMatrix.objects.filter(run=run).delete()
        _tables_insert(tables)
        PublishedPairMatrix.objects.create(run=run, cells=pairs)
        AnalyticsRun.objects.filter(pk=run.pk).update(
            status=AnalyticsRun.Status.SUCCEEDED,
            stage=AnalyticsRun.Stage.DONE,
            progress=100,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
    return True


def breakdowns_compute(*, wave_id: int) -> AnalyticsRun | None:
    """Claim, compute and store the wave's results for the current engine version.

    Returns the run, or None when there was nothing to claim (already done,
    or being computed elsewhere). Raises what went wrong after marking the
    run: a transient error hands the run back to the queue (PENDING) for a
    retry; `run_fail` records any other.
    """
    run = run_request(wave_id=wave_id)
    if not _claim(run.pk):
        return None
    try:
        wave = Wave.objects.select_related("coalition", "instrument").get(pk=wave_id)
        snapshot = [sector["slug"] for sector in wave.sectors_snapshot or []]
        definition = wave.instrument.definition
        responses = responses_load(
            wave_id=wave_id,
            keys=answer_keys(instrument=definition, sectors=snapshot),
            scale_keys=[item.slug for item in scale_items(definition)],
        )
        publication = publication_compute(
            wave=wave, responses=responses, on_stage=lambda stage, percent: _progress(run.pk, stage, percent)
        )
        _progress(run.pk, AnalyticsRun.Stage.STORING, 90)
        if not _store(run, publication):
            return None
    except Exception:
        run_release(run_id=run.pk)
        raise
    run.refresh_from_db()
    return run


def run_release(*, run_id: int) -> None:
    """Hand a run that was interrupted back to the queue."""
    AnalyticsRun.objects.filter(pk=run_id, status=AnalyticsRun.Status.RUNNING).update(
        status=AnalyticsRun.Status.PENDING, stage=AnalyticsRun.Stage.QUEUED, progress=0
    )


def run_fail(*, wave_id: int, reason: str) -> None:
    """Mark the wave's current run failed with a reason people can read; its previous results stay."""
    AnalyticsRun.objects.filter(wave_id=wave_id, engine_version=ENGINE_VERSION).exclude(
        status=AnalyticsRun.Status.SUCCEEDED
    ).update(status=AnalyticsRun.Status.FAILED, stage=AnalyticsRun.Stage.DONE, error=reason, finished_at=timezone.now())


def runs_reset_stuck(*, now: Any = None) -> list[int]:
    """Give runs stuck in RUNNING (no sign of life for `STUCK_AFTER`) back to the queue; return their wave ids."""
    limit = (now or timezone.now()) - STUCK_AFTER
    stuck = AnalyticsRun.objects.filter(status=AnalyticsRun.Status.RUNNING, heartbeat_at__lt=limit)
    wave_ids = list(stuck.values_list("wave_id", flat=True))
    stuck.update(status=AnalyticsRun.Status.PENDING, stage=AnalyticsRun.Stage.QUEUED, progress=0)
    return wave_ids


def runs_pending_wave_ids() -> list[int]:
    """Return the waves whose current-version run waits for a worker."""
    return list(
        AnalyticsRun.objects.filter(status=AnalyticsRun.Status.PENDING, engine_version=ENGINE_VERSION).values_list(
            "wave_id", flat=True
        )
    )


def breakdowns_enqueue(*, wave_id: int, force: bool = False) -> AnalyticsRun:
    """Request the wave's results and enqueue the job once the current transaction commits."""
    from analytics import tasks  # the task module imports this one

    run = run_request(wave_id=wave_id, force=force)
    # robust: a failing enqueue (broker down) is logged and left to the sweeper, never undoing the caller.
    transaction.on_commit(lambda: tasks.compute_breakdowns.delay(wave_id), robust=True)
    return run
