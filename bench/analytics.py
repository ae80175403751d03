"""The analytics job on PostgreSQL (issue 3, Performance): load → engine → disclosure → store, and DuckDB.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.analytics                    # 200, 20 000, 200 000; 2 rounds
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.analytics --sizes 200 --rounds 3
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.analytics --instrument synthetic   # 50 items, 6 dimensions

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for `postgres`) and the
bench-only packages (`.venv/bin/pip install -r bench/requirements.txt`: DuckDB).

What a run does:

1. **Database.** Drops and creates `coalition_pulse_analytics_bench`
   (`BENCH_DATABASE_URL` overrides it; a name that does not end in `_bench`
   is refused; `DATABASE_URL` is ignored) and runs the migrations, with
   `bench.settings` (DEBUG off, as in production).
2. **Waves.** One coalition with the 13 default sectors (survivor-leaders
   sensitive) and one closed wave per size, with `sectors_snapshot`. The
   instrument is the project's default (`--instrument default`: 55 scale
   items in 14 areas, 9 social-location dimensions, 2 of them multi-select,
   the practice questions and the 13-sector pair matrix) or the synthetic
   one of `bench.analytics_engine` (`--instrument synthetic`: 50 scale items,
   6 dimensions, 2 multi-select, the shape named in the issue). Answers are
   seeded and shaped like stored `Response.answers`: ints 1..5 from a latent
   score with sector and group effects, 5 % "na", 3 % skipped items;
   sectors of unequal size; each sector's answers to a dimension drawn from
   its own Dirichlet distribution (small cells, as in real coalitions);
   "prefer-not-to-say" and skipped dimensions; lists for multi-select
   questions; "pair:<sector>" ratings 1..5 or "none". Rows go in with COPY,
   then VACUUM ANALYZE.
3. **The job.** For each round and size, a fresh Python process (imports
   done, database connected, nothing else warm) deletes the wave's runs and
   calls `analytics.services.breakdowns_compute(wave_id=…)` `--job-repeat`
   times; the first call is "cold" (first job of a worker), the others
   "warm". Stages are timed from outside by wrapping module functions
   (no project code is edited): `load` = `services.responses_load` (one
   query → DataFrame), `engine` = `breakdown_cells`, `disclosure` =
   `publish` − `breakdown_cells` (group sets, `protect` with the joint audit,
   per-measure suppression, formatting, the pair matrix; the parts are
   listed too; the audit runs in a second thread beside `breakdown_cells`,
   so `disclosure` is what disclosure control adds to the wall time beyond
   the engine, and the audit's parts overlap the engine), `store` =
   `services._store`, `other` = the rest (claim,
   progress updates, reading the wave). Peak memory = `ru_maxrss` of the
   child process after the first job minus its RSS just before it (resource
   .getrusage; the child starts at its post-import size, so the delta is
   the job's own high-water mark).
4. **DuckDB.** In one more fresh process per round, on the largest wave:
   the frame is loaded once (untimed); then, interleaved `--compare-repeat`
   times, the engine's `breakdown_cells` and DuckDB computing the same cells
   (n, mean, SD, gap against everyone else, for the overall table, each
   dimension alone and sector × each dimension, on the overall index, every
   area and every item) from a DuckDB table of the scored respondents (one
   row per response; the multi-select groups, "alone" and "more than one",
   are derived in SQL), in two formulations: `direct` (GROUPING SETS with
   count/avg/stddev_samp) and `rollup` (count, sum and sum of squares to
   sector × group, rolled up), each with DuckDB's default threads and
   `rollup` with 1 thread too. Scoring alone is timed, as DuckDB gets scored
   data, and `responses_load` is split into query, JSON decoding and frame.
   Every cell is checked: same cells, n exact, mean, SD and gap within 1e-9.

Results are printed and written to `bench/results/analytics-<UTC>.json`
(git-ignored). `--keep-db` keeps the database.
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/coalition_pulse_analytics_bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

import django  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 20261128
PREFER_NOT_TO_SAY = "prefer-not-to-say"
# Relative sector sizes (the default sectors); others get 5.
SECTOR_WEIGHTS = {
    "victim-services": 14,
    "law-enforcement": 12,
    "prosecution": 6,
    "government": 9,
    "advocacy": 7,
    "faith": 5,
    "survivor-leaders": 8,
    "business": 2,
    "funders": 4,
    "education": 4,
    "community": 8,
    "health": 9,
    "other": 1,
}
BUDGET_JOB_S = 10.0
BUDGET_SMALL_S = 1.0
BUDGET_DUCKDB_RATIO = 3.0
TOLERANCE = 1e-9


# --- Synthetic waves ------------------------------------------------------------


def instrument_definition(kind: str) -> dict[str, Any]:
    """Return the instrument definition: the project's default file, or the synthetic one of the engine bench."""
    if kind == "synthetic":
        from bench.analytics_engine import synthetic_instrument

        definition = synthetic_instrument()
        definition.update({"slug": "bench-synthetic", "title": {"en": "Synthetic"}})
        return definition
    from surveys.instruments import DEFAULT_INSTRUMENT_PATH

    return dict(json.loads(DEFAULT_INSTRUMENT_PATH.read_text(encoding="utf-8")))


def _object_column(values: np.ndarray) -> np.ndarray:
    """Return an object array of plain Python values (ints, not numpy ints, so that json.dumps takes them)."""
    column = np.empty(len(values), dtype=object)
    column[:] = values.tolist()
    return column


def answers_generate(
    *, instrument: dict[str, Any], sectors: Sequence[str], count: int, seed: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Return `count` (sector, answers) pairs shaped like stored responses; see the module docstring."""
    rng = np.random.default_rng(seed)
    weights = np.array([SECTOR_WEIGHTS.get(sector, 5) for sector in sectors], dtype=np.float64)
    sector_index = rng.choice(len(sectors), size=count, p=weights / weights.sum())
    latent = 3.3 + rng.normal(0, 0.35, len(sectors))[sector_index] + rng.normal(0, 0.6, count)
    columns: dict[str, np.ndarray] = {}

    for number, dimension in enumerate(instrument["dimensions"]):
        options = [str(option["slug"]) for option in dimension["options"]]
        answers = [option for option in options if option != PREFER_NOT_TO_SAY]
        # Each sector has its own mix of answers: some groups are small within a sector.
        mix = rng.dirichlet(np.full(len(answers), 1.5), size=len(sectors)).cumsum(axis=1)[sector_index]
        first = np.minimum((rng.random(count)[:, np.newaxis] > mix).sum(axis=1), len(answers) - 1)
        latent += rng.normal(0, 0.25, len(answers))[first]  # planted group differences
        draw = rng.random(count)
        chosen = np.array(answers, dtype=object)[first]
        if dimension["multiple"]:
            second = np.array(answers, dtype=object)[rng.integers(0, len(answers), count)]
            share = 0.04 if number == 0 else 0.10
            column = np.empty(count, dtype=object)
            column[:] = [
                [one] if one == other or extra >= share else [one, other]
                for one, other, extra in zip(chosen.tolist(), second.tolist(), rng.random(count).tolist(), strict=True)
            ]
        else:
            column = chosen.copy()
        if PREFER_NOT_TO_SAY in options:
            hidden = np.flatnonzero((draw >= 0.93) & (draw < 0.97))
            for position in hidden.tolist():
                column[position] = [PREFER_NOT_TO_SAY] if dimension["multiple"] else PREFER_NOT_TO_SAY
        column[draw >= 0.97] = None
        columns[str(dimension["slug"])] = column

    scales = instrument["scales"]
    area_slugs = [str(area["slug"]) for area in instrument["areas"]]
    for section in instrument["sections"]:
        for item in section["items"]:
            slug = str(item["slug"])
            if item["type"] == "scale":
                points = int(scales[item["scale"]]["points"])
                answer = np.clip(np.rint(latent + rng.normal(0, 0.8, count)), 1, points).astype(np.int64)
                if item.get("reverse"):
                    answer = points + 1 - answer
                column = _object_column(answer)
                draw = rng.random(count)
                column[draw < 0.05] = "na"
                column[(draw >= 0.05) & (draw < 0.08)] = None
                columns[slug] = column
            elif item["type"] == "pair_matrix":
                for rated in sectors:
                    column = _object_column(np.clip(np.rint(2.6 + rng.normal(0, 1.0, count)), 1, 5).astype(np.int64))
                    column[rng.random(count) < 0.25] = "none"
                    columns["pair:" + rated] = column
            elif item["type"] in ("single", "multiple"):
                choices = np.array([str(option["slug"]) for option in item.get("options", [])] or area_slugs)
                picked = choices[rng.integers(0, len(choices), count)]
                if item["type"] == "single":
                    columns[slug] = _object_column(picked)
                else:
                    extra = choices[rng.integers(0, len(choices), count)]
                    column = np.empty(count, dtype=object)
                    column[:] = [
                        [one] if one == other else [one, other]
                        for one, other in zip(picked.tolist(), extra.tolist(), strict=True)
                    ]
                    columns[slug] = column
            # Free text is off by default (PRIVACY.md): no comment answers.

    if not any(key.startswith("pair:") for key in columns):
        # An instrument without a pair-matrix question (the synthetic one): stored answers still carry the matrix.
        for rated in sectors:
            column = _object_column(np.clip(np.rint(2.6 + rng.normal(0, 1.0, count)), 1, 5).astype(np.int64))
            column[rng.random(count) < 0.25] = "none"
            columns["pair:" + rated] = column
    keys = list(columns)
    values = [column.tolist() for column in columns.values()]
    rows = [
        {key: value for key, value in zip(keys, row, strict=True) if value is not None}
        for row in zip(*values, strict=True)
    ]
    return np.array(sectors, dtype=object)[sector_index].tolist(), rows


# --- Database and fixture -----------------------------------------------------------


def _database_name() -> str:
    from django.conf import settings

    name = str(settings.DATABASES["default"]["NAME"])
    if not name.endswith("_bench"):
        raise SystemExit(f"Refusing to recreate database {name!r}: its name must end in '_bench'.")
    return name


def _maintenance(statement: str) -> None:
    import psycopg
    from django.conf import settings
    from psycopg import sql

    database = settings.DATABASES["default"]
    with psycopg.connect(
        dbname="postgres",
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        autocommit=True,
    ) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(_database_name())))


def database_recreate() -> None:
    """Drop and create the bench database, then run the migrations."""
    from django.core.management import call_command

    _maintenance("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    _maintenance("CREATE DATABASE {}")
    call_command("migrate", verbosity=0, interactive=False)


def database_drop() -> None:
    """Drop the bench database."""
    from django.db import connections

    connections.close_all()
    _maintenance("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def responses_copy(*, wave_id: int, sectors: Sequence[str], answers: Sequence[dict[str, Any]]) -> None:
    """Insert the responses with COPY (the JSON text goes straight into the jsonb column)."""
    from django.db import connection, transaction

    from surveys.models import Response

    table = Response._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} (id, wave_id, sector, answers) FROM STDIN") as copy:  # noqa: S608 (model table)
            for sector, answer in zip(sectors, answers, strict=True):
                copy.write_row((uuid.uuid4(), wave_id, sector, json.dumps(answer, separators=(",", ":"))))


def fixture_create(*, sizes: Sequence[int], instrument_kind: str, seed: int) -> dict[int, dict[str, Any]]:
    """Create the coalition, instrument and one closed wave per size; return wave id and set-up times per size."""
    from django.db import connection
    from django.utils import timezone

    from surveys import services
    from surveys.models import Instrument, Response, Wave

    definition = instrument_definition(instrument_kind)
    if instrument_kind == "default":
        instrument, _created = services.instrument_load_default()
    else:
        instrument = Instrument.objects.create(
            slug=definition["slug"], version=1, titles=definition["title"], definition=definition, checksum="bench"
        )
    coalition = services.coalition_create(slug="analytics-bench", name="Analytics bench")
    snapshot = [
        {"slug": sector.slug, "names": sector.names, "is_sensitive": sector.is_sensitive}
        for sector in coalition.sectors.filter(is_active=True).order_by("position", "slug")
    ]
    slugs = [sector["slug"] for sector in snapshot]
    now = timezone.now()
    waves: dict[int, dict[str, Any]] = {}
    for size in sizes:
        wave = Wave.objects.create(
            coalition=coalition,
            instrument=instrument,
            label=f"bench {size}",
            opens_at=now - timedelta(days=30),
            closes_at=now - timedelta(days=1),
            status=Wave.Status.CLOSED,
            sectors_snapshot=snapshot,
            invited_count=size,
            released_count=size,
        )
        start = time.perf_counter()
        sectors, answers = answers_generate(instrument=definition, sectors=slugs, count=size, seed=seed + size)
        generated = time.perf_counter()
        responses_copy(wave_id=wave.pk, sectors=sectors, answers=answers)
        copied = time.perf_counter()
        waves[size] = {
            "wave_id": wave.pk,
            "generate_s": generated - start,
            "copy_s": copied - generated,
            "answer_keys_mean": float(np.mean([len(answer) for answer in answers])),
            "json_bytes_mean": float(np.mean([len(json.dumps(answer)) for answer in answers[:2000]])),
        }
        del sectors, answers
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Response._meta.db_table}")
        cursor.execute("SELECT pg_total_relation_size(%s)", [Response._meta.db_table])
        total_bytes = cursor.fetchone()[0]
    for entry in waves.values():
        entry["table_bytes_all_waves"] = int(total_bytes)
    return waves


# --- Child: the job ---------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@contextmanager
def _timed_functions(targets: Sequence[tuple[Any, str, str]], seconds: dict[str, float]) -> Iterator[dict[str, Any]]:
    """Wrap `module.name` for each (module, name, key): add its wall time to `seconds[key]`; keep its last result."""
    last: dict[str, Any] = {}
    originals: list[tuple[Any, str, Any]] = []

    def wrapper(function: Callable[..., Any], key: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start
            last[key] = result
            return result

        return timed

    for module, name, key in targets:
        if module is not None and hasattr(module, name):  # the disclosure code is being reworked: time what exists
            original = getattr(module, name)
            originals.append((module, name, original))
            setattr(module, name, wrapper(original, key))
    try:
        yield last
    finally:
        for module, name, original in reversed(originals):
            setattr(module, name, original)


def job_measure(*, wave_id: int, repeat: int) -> dict[str, Any]:
    """Run the whole job `repeat` times on a wave (deleting its runs before each); return stage times."""
    from django.db import connection

    from analytics import services
    from analytics.engine import publication
    from analytics.models import AnalyticsRun, PublishedTable

    targets = [
        (services, "responses_load", "load"),
        (services, "publish", "publish"),
        (publication, "breakdown_cells", "engine"),
        (publication, "group_sets", "disclosure: group_sets"),
        (publication, "disclosure_problem", "disclosure: audit problem"),
        (publication, "protect", "disclosure: protect (joint audit)"),
        (publication, "_hidden_for_measure", "disclosure: per-measure suppression"),
        (getattr(publication, "_MeasureSuppression", None), "hidden", "disclosure: per-measure suppression"),
        (publication, "_formatted", "disclosure: formatting"),
        (publication, "_published_pairs", "disclosure: pair matrix"),
        (services, "_store", "store"),
    ]
    connection.ensure_connection()
    runs: list[dict[str, Any]] = []
    for attempt in range(repeat):
        AnalyticsRun.objects.filter(wave_id=wave_id).delete()
        gc.collect()
        seconds: dict[str, float] = {}
        rss_before = _rss_kib()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        with _timed_functions(targets, seconds) as last:
            start = time.perf_counter()
            run = services.breakdowns_compute(wave_id=wave_id)
            seconds["total"] = time.perf_counter() - start
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        maxrss_after = usage_after.ru_maxrss
        # CPU of this process (all threads): on a shared machine, wall time minus this is mostly waiting.
        seconds["cpu"] = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
        if run is None or run.status != AnalyticsRun.Status.SUCCEEDED:
            raise SystemExit(f"the job did not succeed: {run and run.status} {run and run.error}")
        # `publish` runs the audit (group sets, audit problem, protect) in a second thread while
        # this one computes `breakdown_cells`: the two overlap, so `disclosure` (publish − engine)
        # is what disclosure control adds to the job's wall time, and the audit's own parts are
        # wall times of the other thread.
        audit_keys = ("disclosure: group_sets", "disclosure: audit problem", "disclosure: protect (joint audit)")
        seconds["disclosure: audit thread"] = sum(seconds.get(key, 0.0) for key in audit_keys)
        seconds["disclosure"] = seconds["publish"] - seconds["engine"]
        after = sum(
            value
            for key, value in seconds.items()
            if key.startswith("disclosure: ") and key not in (*audit_keys, "disclosure: audit thread")
        )
        span = max(seconds["engine"], seconds["disclosure: audit thread"])
        seconds["disclosure: rest of publish"] = seconds["publish"] - span - after
        seconds["other"] = seconds["total"] - seconds["load"] - seconds["publish"] - seconds["store"]
        cells = last["publish"].cells
        runs.append(
            {
                "attempt": attempt,
                "seconds": seconds,
                "rss_before_mib": rss_before / 1024,
                "maxrss_mib": maxrss_after / 1024,
                "peak_delta_mib": max(maxrss_after, maxrss_before) / 1024 - rss_before / 1024,
                "peak_measured": maxrss_after > maxrss_before,
                "responses": len(last["load"]),
                "cells": len(cells),
                "suppressed_cells": int(cells["suppressed"].sum()),
                "flagged_cells": int((cells["flag"] == True).sum()),  # noqa: E712 (object column with None)
                "tables": PublishedTable.objects.filter(run=run).count(),
            }
        )
    return {"wave_id": wave_id, "runs": runs}


# --- Child: DuckDB against the engine --------------------------------------------------


def _groups_sql(dimension: dict[str, Any]) -> str:
    """Return a SQL expression of the list of groups a respondent belongs to in a multi-select dimension."""
    column = f'"{dimension["slug"]}"'
    options = [str(option["slug"]) for option in dimension["options"]]
    known = "[" + ", ".join(f"'{option}'" for option in options) + "]"
    chosen = f"list_distinct(list_filter(coalesce({column}, []), lambda x: list_contains({known}, x)))"
    answers = f"list_filter({chosen}, lambda x: x <> '{PREFER_NOT_TO_SAY}')"
    parts = [
        answers,
        f"CASE WHEN len({chosen}) = 1 AND {chosen}[1] <> '{PREFER_NOT_TO_SAY}' "
        f"THEN ['alone:' || {chosen}[1]] ELSE [] END",
        f"CASE WHEN len({answers}) >= 2 THEN ['more-than-one'] ELSE [] END",
    ]
    if PREFER_NOT_TO_SAY in options:
        parts.append(
            f"CASE WHEN list_contains({chosen}, '{PREFER_NOT_TO_SAY}') THEN ['{PREFER_NOT_TO_SAY}'] ELSE [] END"
        )
    return "flatten([" + ", ".join(parts) + "])"


def duckdb_sql(*, instrument: dict[str, Any], measure_count: int) -> str:
    """Return one query: n, mean, SD and gap (against everyone else) of every cell of every table, wide by measure."""
    measures = [f"m{index}" for index in range(measure_count)]
    aggregates = ", ".join(
        f"count({m}) AS n_{m}, avg({m}) AS mean_{m}, stddev_samp({m}) AS sd_{m}, sum({m}) AS s_{m}" for m in measures
    )
    listed = ", ".join(measures)
    parts = [
        "SELECT CASE WHEN grouping(sector) = 1 THEN '' ELSE 'sector' END AS dims, sector AS g1, "
        f"NULL::VARCHAR AS g2, {aggregates} FROM responses GROUP BY GROUPING SETS ((), (sector))"
    ]
    for dimension in instrument["dimensions"]:
        slug = str(dimension["slug"])
        if dimension["multiple"]:
            source = f"(SELECT sector, unnest({_groups_sql(dimension)}) AS grp, {listed} FROM responses)"
            where = ""
        else:
            options = ", ".join(f"'{option['slug']}'" for option in dimension["options"])
            source = f'(SELECT sector, "{slug}" AS grp, {listed} FROM responses)'
            where = f"WHERE grp IN ({options})"
        parts.append(
            f"SELECT CASE WHEN grouping(sector) = 1 THEN '{slug}' ELSE 'sector,{slug}' END AS dims, "
            "CASE WHEN grouping(sector) = 1 THEN grp ELSE sector END AS g1, "
            "CASE WHEN grouping(sector) = 1 THEN NULL ELSE grp END AS g2, "
            f"{aggregates} FROM {source} {where} "
            "GROUP BY GROUPING SETS ((grp), (sector, grp)) HAVING grouping(sector) = 1 OR sector IS NOT NULL"
        )
    totals = ", ".join(f"count({m}) AS tn_{m}, sum({m}) AS ts_{m}" for m in measures)
    outputs = ", ".join(
        f"n_{m}, mean_{m}, sd_{m}, CASE WHEN dims = '' THEN NULL "
        f"ELSE mean_{m} - (ts_{m} - s_{m}) / nullif(tn_{m} - n_{m}, 0) END AS gap_{m}"
        for m in measures
    )
    cells = " UNION ALL ".join(parts)
    return f"WITH totals AS (SELECT {totals} FROM responses), cells AS ({cells}) SELECT dims, g1, g2, {outputs} FROM cells CROSS JOIN totals"  # noqa: S608,E501


def duckdb_sql_rollup(*, instrument: dict[str, Any], measure_count: int) -> str:
    """Return the same cells as `duckdb_sql`, grouping once per dimension to sector × group and rolling up.

    Only count, sum and sum of squares are aggregated (cheap, and exact to
    roll up); mean, SD and gap are derived from them at the end.
    """
    measures = [f"m{index}" for index in range(measure_count)]
    sums = ", ".join(f"count({m}) AS n_{m}, sum({m}) AS s_{m}, sum({m} * {m}) AS q_{m}" for m in measures)
    rolled = ", ".join(f"sum(n_{m}) AS n_{m}, sum(s_{m}) AS s_{m}, sum(q_{m}) AS q_{m}" for m in measures)
    kept = ", ".join(f"n_{m}, s_{m}, q_{m}" for m in measures)
    listed = ", ".join(measures)
    ctes = [f"base AS (SELECT sector, {sums} FROM responses GROUP BY sector)"]
    cells = [
        f"SELECT '' AS dims, NULL::VARCHAR AS g1, NULL::VARCHAR AS g2, {rolled} FROM base",
        f"SELECT 'sector', sector, NULL, {kept} FROM base WHERE sector IS NOT NULL",
    ]
    for number, dimension in enumerate(instrument["dimensions"]):
        slug = str(dimension["slug"])
        if dimension["multiple"]:
            source = f"(SELECT sector, unnest({_groups_sql(dimension)}) AS grp, {listed} FROM responses)"
            where = ""
        else:
            options = ", ".join(f"'{option['slug']}'" for option in dimension["options"])
            source = f'(SELECT sector, "{slug}" AS grp, {listed} FROM responses)'
            where = f"WHERE grp IN ({options})"
        ctes.append(f"d{number} AS (SELECT sector, grp, {sums} FROM {source} {where} GROUP BY sector, grp)")
        cells.append(f"SELECT '{slug}', grp, NULL, {rolled} FROM d{number} GROUP BY grp")
        cells.append(f"SELECT 'sector,{slug}', sector, grp, {kept} FROM d{number} WHERE sector IS NOT NULL")
    totals = ", ".join(f"sum(n_{m}) AS tn_{m}, sum(s_{m}) AS ts_{m}" for m in measures)
    ctes.append(f"totals AS (SELECT {totals} FROM base)")
    ctes.append("cells AS (" + " UNION ALL ".join(cells) + ")")
    outputs = ", ".join(
        f"n_{m}, s_{m} / nullif(n_{m}, 0) AS mean_{m}, "
        f"CASE WHEN n_{m} >= 2 THEN sqrt(greatest((q_{m} - s_{m} * s_{m} / n_{m}) / (n_{m} - 1), 0)) END AS sd_{m}, "
        f"CASE WHEN dims = '' THEN NULL "
        f"ELSE s_{m} / nullif(n_{m}, 0) - (ts_{m} - s_{m}) / nullif(tn_{m} - n_{m}, 0) END AS gap_{m}"
        for m in measures
    )
    return "WITH " + ", ".join(ctes) + f" SELECT dims, g1, g2, {outputs} FROM cells CROSS JOIN totals"  # noqa: S608


def _duckdb_input(responses: pd.DataFrame, instrument: dict[str, Any]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Return one row per respondent with its sector, dimension answers and scored measures (m0…), and the measures."""
    from analytics.engine.breakdowns import OVERALL
    from analytics.engine.frame import area_slugs
    from analytics.engine.scoring import area_scores_from_items, health_index, scale_item_scores

    items = scale_item_scores(responses=responses, instrument=instrument)
    areas = area_scores_from_items(items=items, instrument=instrument)
    overall = health_index(area_scores=areas)
    measures = [("overall", OVERALL)] + [("area", area) for area in area_slugs(instrument)]
    measures += [("item", str(slug)) for slug in items.columns]
    values = np.column_stack([overall.to_numpy(dtype="float64"), areas.to_numpy(dtype="float64"), items.to_numpy()])
    frame = pd.DataFrame({"sector": responses["sector"].astype(object).to_numpy()})
    for dimension in instrument["dimensions"]:
        slug = str(dimension["slug"])
        raw = responses[slug] if slug in responses.columns else pd.Series([None] * len(responses))
        column = np.empty(len(raw), dtype=object)
        if dimension["multiple"]:
            column[:] = [value if isinstance(value, list) else None for value in raw.tolist()]
        else:
            column[:] = [value if isinstance(value, str) else None for value in raw.tolist()]
        frame[slug] = column
    for index in range(values.shape[1]):
        frame[f"m{index}"] = values[:, index]
    return frame, measures


def _duckdb_long(wide: pd.DataFrame, measures: Sequence[tuple[str, str]]) -> pd.DataFrame:
    parts = []
    for index, (measure, area) in enumerate(measures):
        m = f"m{index}"
        part = pd.DataFrame(
            {
                "dims": wide["dims"],
                "g1": wide["g1"],
                "g2": wide["g2"],
                "measure": measure,
                "area": area,
                "n": wide[f"n_{m}"].astype(np.int64),
                "mean": wide[f"mean_{m}"].astype("float64"),
                "sd": wide[f"sd_{m}"].astype("float64"),
                "gap": wide[f"gap_{m}"].astype("float64"),
            }
        )
        parts.append(part[part["n"] > 0])
    return pd.concat(parts, ignore_index=True)


def cells_agree(engine: pd.DataFrame, duck: pd.DataFrame) -> dict[str, Any]:
    """Compare every cell: the same cells, n exact, mean, SD and gap within TOLERANCE where both define them."""
    ours = pd.DataFrame(
        {
            "dims": [",".join(dims) for dims in engine["dimensions"]],
            "g1": [groups[0] if groups else None for groups in engine["groups"]],
            "g2": [groups[1] if len(groups) > 1 else None for groups in engine["groups"]],
            "measure": engine["measure"],
            "area": engine["area"],
            "n": engine["n"].astype(np.int64),
            "mean": engine["mean"].astype("float64"),
            "sd": engine["sd"].astype("float64"),
            "gap": engine["gap"].astype("float64"),
        }
    )
    keys = ["dims", "g1", "g2", "measure", "area"]
    merged = ours.merge(duck, on=keys, how="outer", suffixes=("_engine", "_duckdb"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    report: dict[str, Any] = {
        "engine_cells": len(ours),
        "duckdb_cells": len(duck),
        "only_engine": int((merged["_merge"] == "left_only").sum()),
        "only_duckdb": int((merged["_merge"] == "right_only").sum()),
        "n_mismatches": int((both["n_engine"] != both["n_duckdb"]).sum()),
    }
    for statistic in ("mean", "sd", "gap"):
        left, right = both[f"{statistic}_engine"].to_numpy(), both[f"{statistic}_duckdb"].to_numpy()
        # The engine leaves SD and gap undefined below n = 2 on either side; DuckDB's gap is compared where it is.
        defined = ~np.isnan(left)
        difference = np.abs(left[defined] - right[defined])
        report[f"{statistic}_compared"] = int(defined.sum())
        report[f"{statistic}_max_abs_diff"] = float(np.nanmax(difference)) if difference.size else 0.0
        report[f"{statistic}_missing_in_duckdb"] = int(np.isnan(right[defined]).sum())
    sample = both.sort_values(keys).iloc[:: max(1, len(both) // 5)].head(5)
    report["sample"] = [
        {
            "cell": f"{row.dims or 'overall'} {row.g1 or ''} {row.g2 or ''} {row.measure}:{row.area}".strip(),
            "n": [int(row.n_engine), int(row.n_duckdb)],
            "mean": [float(row.mean_engine), float(row.mean_duckdb)],
        }
        for row in sample.itertuples()
    ]
    report["agree"] = (
        report["only_engine"] == 0
        and report["only_duckdb"] == 0
        and report["n_mismatches"] == 0
        and all(
            report[f"{s}_max_abs_diff"] <= TOLERANCE and report[f"{s}_missing_in_duckdb"] == 0
            for s in ("mean", "sd", "gap")
        )
    )
    return report


def _load_split(wave_id: int) -> dict[str, float]:
    """Return where `responses_load` spends its time: the query and transfer, JSON decoding, the DataFrame."""
    from django.db import connection

    from analytics.engine.frame import responses_frame
    from surveys.models import Response

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT sector, answers::text FROM {Response._meta.db_table} WHERE wave_id = %s", [wave_id])  # noqa: S608
        texts = cursor.fetchall()
    fetched = time.perf_counter()
    rows = [(sector, json.loads(text)) for sector, text in texts]
    decoded = time.perf_counter()
    responses_frame(rows)
    framed = time.perf_counter()
    return {
        "query_and_transfer": fetched - start,
        "json_decode": decoded - fetched,
        "responses_frame": framed - decoded,
    }


def compare_measure(*, wave_id: int, repeat: int) -> dict[str, Any]:
    """Time the engine's breakdowns and DuckDB's same cells on one wave, interleaved; check they agree."""
    import duckdb

    from analytics import services
    from analytics.engine.breakdowns import breakdown_cells
    from analytics.engine.scoring import area_scores_from_items, health_index, scale_item_scores
    from surveys.models import Wave

    wave = Wave.objects.select_related("instrument").get(pk=wave_id)
    instrument = wave.instrument.definition
    sensitive = [sector["slug"] for sector in wave.sectors_snapshot if sector.get("is_sensitive")]
    responses = services.responses_load(wave_id=wave_id)
    frame, measures = _duckdb_input(responses, instrument)
    queries = {
        "direct": duckdb_sql(instrument=instrument, measure_count=len(measures)),
        "rollup": duckdb_sql_rollup(instrument=instrument, measure_count=len(measures)),
    }
    cores = os.cpu_count() or 1
    variants = [("direct", cores), ("rollup", cores), ("rollup", 1)]
    connections = {threads: duckdb.connect(config={"threads": threads}) for threads in {cores, 1}}
    timings: dict[str, list[float]] = {"engine": [], "scoring": [], "duckdb_ingest": []}
    timings |= {f"duckdb_{style}_{threads}_threads": [] for style, threads in variants}
    engine_cells = pd.DataFrame()
    wide: dict[str, pd.DataFrame] = {}

    def scoring() -> object:
        items = scale_item_scores(responses=responses, instrument=instrument)
        return health_index(area_scores=area_scores_from_items(items=items, instrument=instrument))

    for _ in range(repeat):
        start = time.perf_counter()
        engine_cells = breakdown_cells(responses=responses, instrument=instrument, sensitive_sectors=sensitive)
        timings["engine"].append(time.perf_counter() - start)
        start = time.perf_counter()
        scoring()
        timings["scoring"].append(time.perf_counter() - start)
        for threads, connection in connections.items():
            start = time.perf_counter()
            connection.register("source", frame)
            connection.execute("CREATE OR REPLACE TABLE responses AS SELECT * FROM source")
            connection.unregister("source")
            if threads == 1:
                timings["duckdb_ingest"].append(time.perf_counter() - start)
        for style, threads in variants:
            start = time.perf_counter()
            wide[style] = connections[threads].execute(queries[style]).df()
            timings[f"duckdb_{style}_{threads}_threads"].append(time.perf_counter() - start)
    agreement = {style: cells_agree(engine_cells, _duckdb_long(table, measures)) for style, table in wide.items()}
    load_parts = _load_split(wave_id)
    return {
        "wave_id": wave_id,
        "responses": len(responses),
        "measures": len(measures),
        "duckdb_version": duckdb.__version__,
        "timings": timings,
        "agreement": agreement,
        "load_parts": load_parts,
    }


# --- Parent --------------------------------------------------------------------------


def _child(mode: str, *, wave_id: int, repeat: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.analytics", "--child", mode, "--wave-id", str(wave_id)]
    command += ["--child-repeat", str(repeat)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=dict(os.environ))  # noqa: S603
    if completed.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def machine_describe() -> dict[str, Any]:
    """Return the machine, versions and thread settings of the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": server,
        "packages": {
            name: metadata.version(name) for name in ("numpy", "pandas", "scipy", "Django", "psycopg", "duckdb")
        },
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "loadavg_at_start": os.getloadavg(),
    }


def _range(values: Sequence[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" else f"{low:.{digits}f}–{high:.{digits}f}"


STAGES = ["load", "engine", "disclosure", "store", "other", "total", "cpu"]


def report_print(result: dict[str, Any]) -> None:
    """Print the figures: per size the range over rounds of each stage (cold and warm jobs), memory, DuckDB."""
    for label, attempt in (("cold (first job of the process)", 0), ("warm (a later job)", 1)):
        if not any(len(job["runs"]) > attempt for entry in result["jobs"].values() for job in entry):
            continue
        print(f"\nThe whole job, {label}; seconds, range over {result['rounds']} rounds")
        print(f"{'responses':>10} " + " ".join(f"{stage:>12}" for stage in STAGES) + f" {'peak MiB':>10}")
        for size, entry in result["jobs"].items():
            runs = [job["runs"][attempt] for job in entry if len(job["runs"]) > attempt]
            if not runs:
                continue
            cells = " ".join(f"{_range([run['seconds'][stage] for run in runs]):>12}" for stage in STAGES)
            memory = _range([run["peak_delta_mib"] for run in runs], 0) if attempt == 0 else ""
            print(f"{size:>10} {cells} {memory:>10}")
    print("\nDisclosure parts (cold, seconds):")
    for size, entry in result["jobs"].items():
        parts = sorted({key for job in entry for key in job["runs"][0]["seconds"] if key.startswith("disclosure:")})
        text = ", ".join(
            f"{part[12:]} {_range([job['runs'][0]['seconds'].get(part, 0.0) for job in entry])}" for part in parts
        )
        first = entry[0]["runs"][0]
        print(f"  {size}: {text}; cells {first['cells']}, suppressed {first['suppressed_cells']}")
    for compare in result["compare"]:
        timings = compare["timings"]
        print(f"\nDuckDB {compare['duckdb_version']} vs engine, {compare['responses']} responses (best / median s):")
        for name, seconds in timings.items():
            print(f"  {name:24} {min(seconds):7.3f} {statistics.median(seconds):7.3f}")
        for style, agreement in compare["agreement"].items():
            print(
                f"  agreement ({style}): {agreement['agree']} ({agreement['engine_cells']} engine cells, "
                f"{agreement['duckdb_cells']} DuckDB cells; max |Δ| mean {agreement['mean_max_abs_diff']:.1e}, "
                f"sd {agreement['sd_max_abs_diff']:.1e}, gap {agreement['gap_max_abs_diff']:.1e})"
            )
        load_text = ", ".join(f"{key} {value:.2f} s" for key, value in compare["load_parts"].items())
        print(f"  responses_load split: {load_text}")
    for name, verdict in result["budgets"].items():
        print(f"budget {name}: {verdict}")


def budgets(result: dict[str, Any]) -> dict[str, str]:
    """Return each budget of the issue with the measured range and whether every run met it."""
    verdicts: dict[str, str] = {}
    sizes = sorted(result["jobs"])
    largest, smallest = sizes[-1], sizes[0]

    def totals(size: int) -> list[float]:
        return [run["seconds"]["total"] for job in result["jobs"][size] for run in job["runs"]]

    if largest >= 200_000:
        values = totals(largest)
        verdicts[f"whole job at {largest} < {BUDGET_JOB_S} s"] = (
            f"{_range(values)} s: {'met' if max(values) < BUDGET_JOB_S else 'NOT met'}"
        )
    if smallest <= 200:
        values = totals(smallest)
        verdicts[f"{smallest}-response wave < {BUDGET_SMALL_S} s"] = (
            f"{_range(values)} s: {'met' if max(values) < BUDGET_SMALL_S else 'NOT met'}"
        )
    ratios = []
    for compare in result["compare"]:
        duck = min(
            seconds
            for key, seconds_list in compare["timings"].items()
            if key.startswith("duckdb_") and key.endswith("threads")
            for seconds in seconds_list
        )
        ratios.append(min(compare["timings"]["engine"]) / duck)
    if ratios:
        verdicts[f"engine within {BUDGET_DUCKDB_RATIO}× of DuckDB"] = (
            f"{_range(ratios, 1)}×: {'met' if max(ratios) <= BUDGET_DUCKDB_RATIO else 'NOT met'}"
        )
    return verdicts


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,20000,200000", help="responses per wave, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="fresh-process runs of the job per size (default 2)")
    parser.add_argument("--job-repeat", type=int, default=2, help="jobs per process: 1 cold, then warm (default 2)")
    parser.add_argument("--compare-repeat", type=int, default=3, help="engine/DuckDB repeats per round (default 3)")
    parser.add_argument("--instrument", choices=("default", "synthetic"), default="default")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-db", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-compare", action="store_true", help="skip the DuckDB comparison")
    parser.add_argument("--child", choices=("job", "compare"), help=argparse.SUPPRESS)
    parser.add_argument("--wave-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-repeat", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with --child, one measurement in this process)."""
    arguments = _parse_arguments(argv)
    django.setup()
    if arguments.child == "job":
        print(json.dumps(job_measure(wave_id=arguments.wave_id, repeat=arguments.child_repeat)))
        return 0
    if arguments.child == "compare":
        print(json.dumps(compare_measure(wave_id=arguments.wave_id, repeat=arguments.child_repeat)))
        return 0

    sizes = sorted(int(size) for size in arguments.sizes.split(","))
    started = datetime.now(UTC)
    database_recreate()
    try:
        machine = machine_describe()
        print(f"database {_database_name()}; instrument {arguments.instrument}; generating {sizes} …", flush=True)
        waves = fixture_create(sizes=sizes, instrument_kind=arguments.instrument, seed=arguments.seed)
        for size, wave in waves.items():
            print(
                f"  {size}: generated {wave['generate_s']:.1f} s, COPY {wave['copy_s']:.1f} s, "
                f"{wave['answer_keys_mean']:.0f} answers/response, ~{wave['json_bytes_mean']:.0f} B of JSON",
                flush=True,
            )
        from django.db import connections

        connections.close_all()
        jobs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
        compares: list[dict[str, Any]] = []
        for round_number in range(arguments.rounds):
            order = sizes if round_number % 2 == 0 else sizes[::-1]
            for size in order:
                job = _child("job", wave_id=waves[size]["wave_id"], repeat=arguments.job_repeat)
                job["round"] = round_number
                job["at"] = datetime.now(UTC).isoformat(timespec="seconds")
                jobs[size].append(job)
                print(
                    f"round {round_number + 1}, {size}: "
                    + ", ".join(f"{run['seconds']['total']:.2f} s" for run in job["runs"]),
                    flush=True,
                )
            if not arguments.no_compare:
                compare = _child("compare", wave_id=waves[sizes[-1]]["wave_id"], repeat=arguments.compare_repeat)
                compares.append(compare)
                print(f"round {round_number + 1}, DuckDB comparison done", flush=True)
        result: dict[str, Any] = {
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "instrument": arguments.instrument,
            "rounds": arguments.rounds,
            "machine": machine,
            "waves": waves,
            "jobs": jobs,
            "compare": compares,
        }
        result["budgets"] = budgets(result)
        report_print(result)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"analytics-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        print(f"\nwritten to {path}")
        failed = any(not check["agree"] for compare in compares for check in compare["agreement"].values())
        return 1 if failed else 0
    finally:
        if not arguments.keep_db:
            database_drop()


if __name__ == "__main__":
    sys.exit(main())
