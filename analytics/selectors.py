"""Reads of stored results. Every figure comes from suppressed tables; nothing is computed from responses."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, QuerySet

from analytics.engine.publication import PUBLISHED_COLUMNS
from analytics.models import AnalyticsRun, PublishedPairMatrix, PublishedTable
from surveys.models import Invitation, Member, Wave

# A stored row: the groups, then every published column after the labels (publication.PUBLISHED_COLUMNS).
# `gap_ci_low` and `gap_ci_high` came last in engine 2026.11.2: rows stored before read them as null.
CELL_FIELDS = ("groups", *PUBLISHED_COLUMNS[4:])
PAIR_FIELDS = ("rater_sector", "rated_sector", "n", "mean", "asymmetry", "flag", "suppressed")
RESULT_ROLES = (Member.Role.LEADER, Member.Role.RESEARCHER, Member.Role.STEWARD)
MEASURES = ("overall", "area", "item")


def user_has_results_access(*, user: User | AnonymousUser) -> bool:
    """Return whether the user holds a role that reads results in at least one coalition."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return Member.objects.filter(user=user, is_active=True, role__in=RESULT_ROLES).exists()


def waves_with_results_access(*, user: User | AnonymousUser) -> QuerySet[Wave]:
    """Return the waves whose results the user may read: their coalitions as leader, researcher or steward."""
    if not user.is_authenticated:
        return Wave.objects.none()
    waves = Wave.objects.select_related("coalition", "instrument")
    if getattr(user, "is_superuser", False):
        return waves.all()
    coalition_ids = Member.objects.filter(user=user, is_active=True, role__in=RESULT_ROLES).values("coalition_id")
    return waves.filter(coalition_id__in=coalition_ids)


def run_latest(*, wave: Wave) -> AnalyticsRun | None:
    """Return the wave's most recent run of any status (for progress), or None."""
    return AnalyticsRun.objects.filter(wave=wave).order_by("-requested_at", "-pk").first()


def run_published(*, wave: Wave) -> AnalyticsRun | None:
    """Return the run whose results are shown: the most recently finished successful one of a closed wave."""
    if wave.status != Wave.Status.CLOSED:
        return None
    return (
        AnalyticsRun.objects.filter(wave=wave, status=AnalyticsRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class TableFilter:
    """The documented narrowing of the fixed tables: a table (dimensions), a measure kind, an area or item."""

    dimensions: tuple[str, ...] | None = None
    measure: str | None = None
    area: str | None = None


def _tables(run: AnalyticsRun, table_filter: TableFilter) -> QuerySet[PublishedTable]:
    return _narrowed(PublishedTable.objects.filter(run=run), table_filter).order_by("position")


def _narrowed(tables: QuerySet[PublishedTable], table_filter: TableFilter) -> QuerySet[PublishedTable]:
    if table_filter.dimensions is not None:
        tables = tables.filter(table_key=",".join(table_filter.dimensions))
    if table_filter.measure is not None:
        tables = tables.filter(measure=table_filter.measure)
    if table_filter.area is not None:
        tables = tables.filter(area=table_filter.area)
    return tables


def cell_fields(row: Sequence[Any]) -> dict[str, Any]:
    """Return a stored row as a dict of `CELL_FIELDS`.

    A hidden cell is stored as `[groups]`: every figure None, `suppressed`
    true. Fields newer than the row's engine version are None.
    """
    if len(row) == 1:
        return {**dict.fromkeys(CELL_FIELDS), "groups": row[0], "suppressed": True}
    return {name: row[index] if index < len(row) else None for index, name in enumerate(CELL_FIELDS)}


def _cell(table: PublishedTable, row: Sequence[Any]) -> dict[str, Any]:
    cell = cell_fields(row)
    return {"dimensions": table.dimensions, "measure": table.measure, "area": table.area, **cell}


def breakdown_cells(*, run: AnalyticsRun, table_filter: TableFilter = TableFilter()) -> list[dict[str, Any]]:
    """Return the run's stored cells matching `table_filter`, in the engine's order (one query)."""
    return [_cell(table, row) for table in _tables(run, table_filter) for row in table.cells]


def table_options(*, run: AnalyticsRun) -> tuple[set[tuple[str, ...]], set[str]]:
    """Return the run's tables (as dimension tuples) and its areas/items (one query)."""
    rows = PublishedTable.objects.filter(run=run).values_list("table_key", "area").distinct()
    tables: set[tuple[str, ...]] = set()
    areas: set[str] = set()
    for key, area in rows:
        tables.add(tuple(key.split(",")) if key else ())
        areas.add(area)
    return tables, areas


def pair_cells(*, run: AnalyticsRun) -> list[dict[str, Any]]:
    """Return the run's stored sector-pair matrix."""
    matrix = PublishedPairMatrix.objects.filter(run=run).first()
    if matrix is None:
        return []
    return [dict(zip(PAIR_FIELDS, row, strict=True)) for row in matrix.cells]


def waves_closed_until(*, wave: Wave) -> list[Wave]:
    """Return the coalition's closed waves that opened no later than `wave`, oldest first."""
    return list(
        Wave.objects.filter(coalition=wave.coalition, status=Wave.Status.CLOSED, opens_at__lte=wave.opens_at).order_by(
            "opens_at", "pk"
        )
    )


def _published_runs(waves: Iterable[Wave]) -> dict[int, AnalyticsRun]:
    runs: dict[int, AnalyticsRun] = {}
    for run in AnalyticsRun.objects.filter(wave__in=list(waves), status=AnalyticsRun.Status.SUCCEEDED).order_by(
        "finished_at", "pk"
    ):
        runs[run.wave_id] = run  # the latest finished wins
    return runs


def trend_series(*, wave: Wave, table_filter: TableFilter) -> tuple[list[Wave], list[dict[str, Any]]]:
    """Return the closed waves up to `wave` and, per cell key, its value in each (three queries).

    Each series: `dimensions`, `groups`, `measure`, `area` and `points`, one
    per wave, oldest first: `wave`, `label`, `suppressed`, `mean`, `n`,
    `n_label`, `ci_low`, `ci_high`, and `change` from the previous wave —
    only where the cell is shown in both (PRIVACY.md rule 7). A wave without
    results gives hidden points.
    """
    waves = waves_closed_until(wave=wave)
    runs = _published_runs(waves)
    run_wave = {run.pk: run.wave_id for run in runs.values()}
    tables = _narrowed(PublishedTable.objects.filter(run__in=list(runs.values())), table_filter)
    values: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    order: list[tuple[Any, ...]] = []
    current_run = runs.get(wave.pk)
    for table in tables.order_by("position"):
        for row in table.cells:
            cell = cell_fields(row)
            key = (tuple(table.dimensions), tuple(cell["groups"]), table.measure, table.area)
            if key not in values:
                values[key] = {}
                order.append(key)
            values[key][run_wave[table.run_id]] = cell
    # Series of the current wave's cells first, in its order, then cells seen only in earlier waves.
    if current_run is not None:
        order.sort(key=lambda key: 0 if wave.pk in values[key] else 1)
    series = []
    for key in order:
        points: list[dict[str, Any]] = []
        previous: dict[str, Any] | None = None
        for each in waves:
            found = values[key].get(each.pk)
            shown_cell: dict[str, Any] = found or {}
            shown = found is not None and not found["suppressed"]
            point = {
                "wave": each.pk,
                "label": each.label,
                "suppressed": not shown,
                "mean": shown_cell["mean"] if shown else None,
                "n": shown_cell["n"] if shown else None,
                "n_label": shown_cell["n_label"] if shown else None,
                "ci_low": shown_cell["ci_low"] if shown else None,
                "ci_high": shown_cell["ci_high"] if shown else None,
                "change": None,
            }
            if shown and previous is not None and not previous["suppressed"] and point["mean"] is not None:
                point["change"] = round(point["mean"] - previous["mean"], 2)
            points.append(point)
            previous = point
        dimensions, groups, measure, area = key
        series.append(
            {"dimensions": list(dimensions), "groups": list(groups), "measure": measure, "area": area, "points": points}
        )
    return waves, series


def breakdown_cells_for_tables(
    *, run: AnalyticsRun, table_keys: Sequence[tuple[str, ...]], measure: str | None = None
) -> list[dict[str, Any]]:
    """Return the cells of the named fixed tables (dimension tuples, () for overall), in the engine's order.

    One query, whatever the wave's size: dashboards read a few whole tables at a time.
    """
    tables = PublishedTable.objects.filter(run=run, table_key__in=[",".join(key) for key in table_keys])
    if measure is not None:
        tables = tables.filter(measure=measure)
    return [_cell(table, row) for table in tables.order_by("position") for row in table.cells]


def wave_participation_rounded(*, wave: Wave) -> dict[str, int | None]:
    """Return the invited count and the submissions so far, rounded down to a multiple of 5 (one query).

    PRIVACY.md rule 6: while a wave is open this overall figure is all that is
    shown, so that watching it change does not date anyone's submission. Used
    invitations count both pooled and released submissions.
    """
    used = Invitation.objects.filter(wave=wave, is_used=True).count()
    rounded = used - used % 5
    rate = int(100 * rounded / wave.invited_count) if wave.invited_count else None
    return {"invited": wave.invited_count, "responses": rounded, "rate": rate}


def sector_invited_counts(*, wave: Wave) -> dict[str, int]:
    """Return the number of invitations of a wave per sector slug of the invited members (one query)."""
    rows = (
        Invitation.objects.filter(wave=wave).values_list("member__sector__slug").annotate(count=Count("id")).order_by()
    )
    return {slug: count for slug, count in rows}
