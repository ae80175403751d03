"""Breakdowns of a wave: cell statistics and gaps per group, the sector-pair matrix, trends.

Tables and group slugs of `breakdown_cells` (`dimensions` → `groups`):

- `()` → `()`: everyone (the overall table).
- `("sector",)` → `(<sector slug>,)`: each sector present in the wave.
- `(<dimension>,)` → `(<group>,)`: each social-location dimension alone.
  A single-choice dimension has one group per option slug, and
  `prefer-not-to-say` is a group like any other. A multi-select dimension
  (gender, race/ethnicity) has, in this order:

  - `<option>`: everyone who chose the option, alone or with others;
  - `alone:<option>`: everyone who chose that option and no other;
  - `more-than-one`: everyone who chose two or more options (besides
    `prefer-not-to-say`, which stands alone);
  - `prefer-not-to-say`: everyone who chose it.

  The per-option groups overlap; `alone:*`, `more-than-one` and
  `prefer-not-to-say` do not. A respondent who skipped the dimension (or
  whose list names no known option) is in no group of it.
- `("sector", <dimension>)` → `(<sector slug>, <group>)`: each sector crossed
  with each group of each dimension.

Rows come in that order (overall, sectors, then each dimension in the
instrument's order followed by its sector cross), sectors sorted by slug,
groups in option order, measures as below.

Measures (`measure`, `area`): `("overall", "overall")` is the health index,
`("area", <area slug>)` an area score, `("item", <item slug>)` one scale item
on the common 1–5 frame. A cell is one group and one measure; cells with no
respondent (n = 0) are left out. The gap of a cell compares its respondents
with every other respondent of the wave who has a value for the measure
(for a cross cell too), so the overall table has no gap. Benjamini–Hochberg
runs over every gap test of one call.

`is_sensitive` marks cells that need the higher reporting threshold: the
group is in a sensitive sector, or its option is sensitive. An option is
sensitive when its dimension lists it in `sensitive_options`; a dimension
marked `sensitive` without `sensitive_options` makes all its options except
`prefer-not-to-say` sensitive. `alone:<option>` follows its option, and
`more-than-one` is sensitive when any option of the dimension is, since it
may hold people who chose that option.

How it stays fast: the respondents are split once per partition (sector,
then sector × answer pattern of each dimension) and one pandas groupby gives
every cell's count, mean and variance for all measures at once. Every
reported group, and everyone else outside it, is a union of such cells, so
its moments are combined from the cells' with the parallel-axis formula
(within-cell plus between-cell squared deviations). That formula only adds
non-negative terms: unlike sums of squares minus the squared sum, it does
not cancel, so a constant group's SD is 0 up to the rounding of its mean
rather than ~1e-8 of noise. The t-distribution calls then run once over all
cells.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics.engine.frame import (
    NO_RELATIONSHIP,
    PAIR_PREFIX,
    PREFER_NOT_TO_SAY,
    SECTOR,
    Dimension,
    area_slugs,
    dimensions,
    numeric_answers,
)
from analytics.engine.scoring import area_scores_from_items, health_index, scale_item_scores, to_100
from analytics.engine.statistics import (
    ALPHA,
    GAP_THRESHOLD,
    STATISTIC_COLUMNS,
    FloatArray,
    Moments,
    benjamini_hochberg,
    cell_statistics_from_moments,
    flags,
    gap_statistics_from_moments,
)

OVERALL = "overall"
ALONE_PREFIX = "alone:"
MORE_THAN_ONE = "more-than-one"
ASYMMETRY_THRESHOLD = 1.0
# The gap's 95% interval comes last, after the columns every published table shares.
CELL_COLUMNS = [
    "dimensions",
    "groups",
    "measure",
    "area",
    *STATISTIC_COLUMNS,
    "gap_ci_low",
    "gap_ci_high",
    "is_sensitive",
]
TREND_KEYS = ["dimensions", "groups", "measure", "area"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Groups:
    """Reported groups of one partition, each a union of the partition's cells (`membership`: groups × cells)."""

    dimensions: list[tuple[str, ...]]
    groups: list[tuple[str, ...]]
    is_sensitive: list[bool]
    membership: BoolArray


def _cell_moments(values: pd.DataFrame, *, codes: IntArray, cells: int) -> Moments:
    """Return count, mean and sum of squared deviations of every cell (rows) and measure (columns)."""
    grouped = values.groupby(codes, sort=True)
    every_cell = pd.RangeIndex(cells)
    count = grouped.count().reindex(every_cell, fill_value=0).to_numpy(dtype="float64")
    mean = grouped.mean().reindex(every_cell).to_numpy(dtype="float64")
    # pandas' grouped variance is a Welford pass per cell: stable, and exactly 0 for a constant cell.
    variance = grouped.var(ddof=0).reindex(every_cell).to_numpy(dtype="float64")
    return Moments(n=count, mean=mean, m2=np.nan_to_num(variance * count))


def _combine(cells: Moments, membership: BoolArray) -> Moments:
    """Return the moments of each union of cells (rows of `membership`)."""
    weights = membership.astype(np.float64)
    cell_mean = np.nan_to_num(cells.mean)
    n = weights @ cells.n
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weights @ (cells.n * cell_mean)) / n
    centre = np.nan_to_num(mean)
    # Σ_c w_gc·n_ck·(mean_ck − centre_gk)², added cell by cell in cell order (the order of an einsum
    # over c, so the same sums to the bit) on groups × measures arrays, instead of forming the
    # groups × cells × measures array of deviations: several times faster.
    # A group outside the cell would add an exact +0.0 (weight 0 times a finite, non-negative
    # term), so where few groups hold the cell only their rows are updated: the same sums.
    between = np.zeros_like(n)
    group_count = weights.shape[0]
    for cell in range(cell_mean.shape[0]):
        inside = np.flatnonzero(membership[:, cell])
        if 2 * inside.size >= group_count:
            deviation = cell_mean[cell][np.newaxis, :] - centre
            between += (weights[:, cell][:, np.newaxis] * cells.n[cell][np.newaxis, :]) * (deviation * deviation)
        elif inside.size:
            deviation = cell_mean[cell][np.newaxis, :] - centre[inside]
            between[inside] += (weights[inside, cell][:, np.newaxis] * cells.n[cell][np.newaxis, :]) * (
                deviation * deviation
            )
    return Moments(n=n, mean=mean, m2=weights @ cells.m2 + between)


def _option_is_sensitive(dimension: Dimension, option: str) -> bool:
    if dimension.sensitive_options:
        return option in dimension.sensitive_options
    return dimension.is_sensitive and option != PREFER_NOT_TO_SAY


def _positions(values: pd.Series, slugs: Sequence[str]) -> IntArray:
    """Return each value's index in `slugs`, -1 for a missing or unknown value."""
    return np.asarray(pd.Index(list(slugs), dtype=object).get_indexer(values), dtype=np.int64)


def _sector_codes(responses: pd.DataFrame, sectors: Collection[str] | None = None) -> tuple[IntArray, list[str]]:
    """Return each respondent's sector index (len(sectors) when missing) and the sorted sector slugs.

    The sectors are those present in the responses, or `sectors` when given
    (the wave's sectors, so that an empty one still has its groups); a
    respondent of a sector outside `sectors` then counts as having none.
    """
    if sectors is None:
        codes, uniques = pd.factorize(responses[SECTOR], sort=True)
        slugs = [str(sector) for sector in uniques]
    else:
        slugs = sorted(str(sector) for sector in sectors)
        codes = _positions(responses[SECTOR], slugs)
    return np.where(codes < 0, len(slugs), codes).astype(np.int64), slugs


@dataclass(frozen=True)
class _Patterns:
    """Each respondent's answer pattern to a dimension, and the dimension's groups as predicates over patterns."""

    codes: IntArray
    count: int
    slugs: list[str]
    predicates: list[BoolArray]
    is_sensitive: list[bool]


def _dimension_patterns(responses: pd.DataFrame, dimension: Dimension) -> _Patterns:
    """Return the respondents' answer patterns to `dimension` and its groups.

    A single-choice pattern is the option's index (len(options) when
    skipped or unknown); a multi-select pattern indexes the distinct sets of
    known options chosen (the empty set when skipped).
    """
    size = len(responses)
    column = responses[dimension.slug] if dimension.slug in responses.columns else pd.Series([np.nan] * size)
    options = list(dimension.options)
    if not dimension.is_multiple:
        codes = _positions(column, options)
        patterns = np.where(codes < 0, len(options), codes)
        every = np.arange(len(options) + 1)
        return _Patterns(
            codes=patterns,
            count=len(options) + 1,
            slugs=options,
            predicates=[every == index for index in range(len(options))],
            is_sensitive=[_option_is_sensitive(dimension, option) for option in options],
        )

    if len(options) > 62:
        raise ValueError(f"dimension {dimension.slug}: at most 62 options can be broken down")
    chosen = pd.Series(column.to_numpy(dtype=object), index=pd.RangeIndex(size)).explode()
    option_codes = _positions(chosen, options)
    known = option_codes >= 0
    masks = np.zeros(size, dtype=np.int64)
    np.bitwise_or.at(masks, chosen.index.to_numpy()[known], np.left_shift(1, option_codes[known]))
    # The empty set (skipped) is always a pattern, so that even a wave without answers has one.
    distinct = np.union1d(masks, [0]).astype(np.int64)

    def has(option: str) -> BoolArray:
        return np.asarray((distinct & (1 << options.index(option))) != 0, dtype=bool)

    answers = [option for option in options if option != PREFER_NOT_TO_SAY]
    answer_bits = sum(1 << options.index(option) for option in answers)
    counts = np.array([int(mask & answer_bits).bit_count() for mask in distinct.tolist()])
    slugs = answers + [ALONE_PREFIX + option for option in answers] + [MORE_THAN_ONE]
    predicates = [has(option) for option in answers]
    predicates += [distinct == (1 << options.index(option)) for option in answers]
    predicates.append(counts >= 2)
    sensitive = [_option_is_sensitive(dimension, option) for option in answers] * 2
    sensitive.append(any(_option_is_sensitive(dimension, option) for option in answers))
    if PREFER_NOT_TO_SAY in options:
        slugs.append(PREFER_NOT_TO_SAY)
        predicates.append(has(PREFER_NOT_TO_SAY))
        sensitive.append(_option_is_sensitive(dimension, PREFER_NOT_TO_SAY))
    return _Patterns(
        codes=np.searchsorted(distinct, masks).astype(np.int64),
        count=len(distinct),
        slugs=slugs,
        predicates=predicates,
        is_sensitive=sensitive,
    )


def _sector_groups(sectors: list[str], sensitive_sectors: Collection[str]) -> _Groups:
    """Return the overall and sector tables over the sector partition (cells: sectors, then no sector)."""
    cells = len(sectors) + 1
    sector_rows = np.eye(len(sectors), cells, dtype=bool)
    return _Groups(
        dimensions=[()] + [(SECTOR,)] * len(sectors),
        groups=[()] + [(sector,) for sector in sectors],
        is_sensitive=[False] + [sector in sensitive_sectors for sector in sectors],
        membership=np.vstack([np.ones((1, cells), dtype=bool), sector_rows]),
    )


def _dimension_groups(
    dimension: Dimension, *, patterns: _Patterns, sectors: list[str], sensitive_sectors: Collection[str]
) -> _Groups:
    """Return the dimension's table and its sector cross over cells `sector index × pattern count + pattern`."""
    sector_count = len(sectors) + 1  # the last sector index is "no sector"
    in_sector = np.eye(sector_count, dtype=bool)
    alone = [np.tile(predicate, sector_count) for predicate in patterns.predicates]
    crossed = [
        np.outer(in_sector[index], predicate).ravel()
        for index in range(len(sectors))
        for predicate in patterns.predicates
    ]
    return _Groups(
        dimensions=[(dimension.slug,)] * len(alone) + [(SECTOR, dimension.slug)] * len(crossed),
        groups=[(slug,) for slug in patterns.slugs] + [(sector, slug) for sector in sectors for slug in patterns.slugs],
        is_sensitive=patterns.is_sensitive
        + [sector in sensitive_sectors or flag for sector in sectors for flag in patterns.is_sensitive],
        membership=np.vstack(alone + crossed).reshape(len(alone) + len(crossed), sector_count * patterns.count),
    )


def _object_array(values: Sequence[object]) -> npt.NDArray[np.object_]:
    # Built element by element: numpy would otherwise unpack the tuples into a 2-D array.
    array = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        array[index] = value
    return array


def breakdown_cells(
    *,
    responses: pd.DataFrame,
    instrument: Mapping[str, Any],
    sensitive_sectors: Collection[str] = frozenset(),
    gap_threshold: float = GAP_THRESHOLD,
    alpha: float = ALPHA,
    sectors: Collection[str] | None = None,
) -> pd.DataFrame:
    """Return one row per cell (group × measure) of the wave with its statistics; see the module docstring.

    Columns: `CELL_COLUMNS`. `n` counts respondents with a value; `sd`, the
    95% t interval, the gap, its Welch p-value, BH q-value and Hedges' g are
    NaN where undefined (n < 2 on either side). `flag` is |gap| ≥
    `gap_threshold` with q ≤ `alpha`. `sectors` fixes the sector groups
    (default: the sectors present in `responses`).
    """
    items = scale_item_scores(responses=responses, instrument=instrument)
    areas = area_scores_from_items(items=items, instrument=instrument)
    overall = health_index(area_scores=areas)
    measures = [("overall", OVERALL)] + [("area", area) for area in area_slugs(instrument)]
    measures += [("item", str(slug)) for slug in items.columns]
    values = pd.DataFrame(
        np.column_stack([overall.to_numpy(dtype="float64"), areas.to_numpy(dtype="float64"), items.to_numpy()])
    )

    sector_codes, sectors = _sector_codes(responses, sectors)
    tables = [(_sector_groups(sectors, sensitive_sectors), sector_codes, len(sectors) + 1)]
    for dimension in dimensions(instrument):
        patterns = _dimension_patterns(responses, dimension)
        groups = _dimension_groups(dimension, patterns=patterns, sectors=sectors, sensitive_sectors=sensitive_sectors)
        tables.append((groups, sector_codes * patterns.count + patterns.codes, (len(sectors) + 1) * patterns.count))

    group_moments: list[Moments] = []
    rest_moments: list[Moments] = []
    for groups, codes, cell_count in tables:
        cells = _cell_moments(values, codes=codes, cells=cell_count)
        group_moments.append(_combine(cells, groups.membership))
        rest_moments.append(_combine(cells, ~groups.membership))

    def stacked(moments: list[Moments]) -> Moments:
        return Moments(
            n=np.vstack([m.n for m in moments]).ravel(),
            mean=np.vstack([m.mean for m in moments]).ravel(),
            m2=np.vstack([m.m2 for m in moments]).ravel(),
        )

    group, rest = stacked(group_moments), stacked(rest_moments)
    summary = cell_statistics_from_moments(moments=group)
    gaps = gap_statistics_from_moments(group=group, rest=rest)
    q_values = benjamini_hochberg(p_values=gaps.p_value)

    measure_count = len(measures)
    group_dimensions = [dims for groups, _codes, _cells in tables for dims in groups.dimensions]
    group_slugs = [slugs for groups, _codes, _cells in tables for slugs in groups.groups]
    group_sensitive = np.array([flag for groups, _codes, _cells in tables for flag in groups.is_sensitive], dtype=bool)
    group_index = np.repeat(np.arange(len(group_slugs)), measure_count)
    measure_index = np.tile(np.arange(measure_count), len(group_slugs))
    kept = group.n > 0
    group_index, measure_index = group_index[kept], measure_index[kept]

    def column(array: FloatArray) -> FloatArray:
        return array[kept]

    return pd.DataFrame(
        {
            "dimensions": _object_array(group_dimensions)[group_index],
            "groups": _object_array(group_slugs)[group_index],
            "measure": np.array([kind for kind, _slug in measures], dtype=object)[measure_index],
            "area": np.array([slug for _kind, slug in measures], dtype=object)[measure_index],
            "n": column(group.n).astype(np.int64),
            "mean": column(group.mean),
            "sd": column(summary.sd),
            "ci_low": column(summary.ci_low),
            "ci_high": column(summary.ci_high),
            "score_100": to_100(score=column(group.mean)),
            "gap": column(gaps.gap),
            "p_value": column(gaps.p_value),
            "q_value": column(q_values),
            "hedges_g": column(gaps.hedges_g),
            "flag": flags(gap=column(gaps.gap), q=column(q_values), threshold=gap_threshold, alpha=alpha),
            "gap_ci_low": column(gaps.ci_low),
            "gap_ci_high": column(gaps.ci_high),
            "is_sensitive": group_sensitive[group_index],
        },
        columns=CELL_COLUMNS,
    )


def pair_matrix(
    *, responses: pd.DataFrame, sectors: Sequence[str], asymmetry_threshold: float = ASYMMETRY_THRESHOLD
) -> pd.DataFrame:
    """Return the directed sector-pair strain matrix: one row per (rater sector, rated sector).

    Columns: `rater_sector`, `rated_sector`, `n` (ratings given), `mean`
    (mean strain as rated, 1 = not at all … 5 = severely strained; "none" is
    not a rating), `asymmetry` = |mean A→B − mean B→A| (NaN on the diagonal
    or when either direction has no rating) and `flag` (asymmetry ≥
    `asymmetry_threshold`). Rows follow `sectors` (the wave's active sectors)
    in both directions; respondents of other sectors are not raters.
    """
    sector_list = list(sectors)
    count = len(sector_list)
    raters = _positions(responses[SECTOR], sector_list)
    ratings = pd.DataFrame(
        {
            index: (
                numeric_answers(responses[PAIR_PREFIX + rated], text_answer=NO_RELATIONSHIP)
                if PAIR_PREFIX + rated in responses.columns
                else np.full(len(responses), np.nan)
            )
            for index, rated in enumerate(sector_list)
        },
        columns=pd.RangeIndex(count),
    )
    grouped = ratings[raters >= 0].groupby(raters[raters >= 0], sort=True)
    every_sector = pd.RangeIndex(count)
    n = grouped.count().reindex(every_sector, fill_value=0).to_numpy(dtype=np.int64)
    mean = grouped.mean().reindex(every_sector).to_numpy(dtype="float64")
    asymmetry = np.abs(mean - mean.T)
    np.fill_diagonal(asymmetry, np.nan)
    with np.errstate(invalid="ignore"):
        flagged = asymmetry >= asymmetry_threshold
    return pd.DataFrame(
        {
            "rater_sector": np.repeat(np.array(sector_list, dtype=object), count),
            "rated_sector": np.tile(np.array(sector_list, dtype=object), count),
            "n": n.ravel(),
            "mean": mean.ravel(),
            "asymmetry": asymmetry.ravel(),
            "flag": flagged.ravel(),
        }
    )


def trend(*, current_cells: pd.DataFrame, previous_cells: pd.DataFrame) -> pd.DataFrame:
    """Return the change of mean for every cell present in both waves' `breakdown_cells` tables.

    Columns: the cell keys (`TREND_KEYS`), `n_current`, `mean_current`,
    `n_previous`, `mean_previous` and `change` = current − previous, in the
    current table's order. Trends are shown only where both cells are
    publishable, so pass each wave's cells after disclosure control.
    """
    current = current_cells[[*TREND_KEYS, "n", "mean"]]
    previous = previous_cells[[*TREND_KEYS, "n", "mean"]]
    merged = current.merge(previous, on=TREND_KEYS, how="inner", suffixes=("_current", "_previous"), sort=False)
    merged["change"] = merged["mean_current"] - merged["mean_previous"]
    return merged[[*TREND_KEYS, "n_current", "mean_current", "n_previous", "mean_previous", "change"]]


@dataclass(frozen=True)
class GroupSet:
    """A reported group of `breakdown_cells` as a set of respondents, for disclosure control.

    `members` is a boolean mask over the responses' rows. `partition` names the
    partition the group belongs to, whose groups never overlap: `"sector"` for
    the sectors, the dimension's slug for its non-overlapping groups (every
    single-choice option; `alone:*`, `more-than-one` and `prefer-not-to-say` of
    a multi-select dimension), None for the overall group and for a
    multi-select dimension's per-option groups, which overlap.
    """

    dimensions: tuple[str, ...]
    groups: tuple[str, ...]
    members: BoolArray
    is_sensitive: bool
    partition: str | None


def group_sets(
    *,
    responses: pd.DataFrame,
    instrument: Mapping[str, Any],
    sensitive_sectors: Collection[str] = frozenset(),
    sectors: Collection[str] | None = None,
) -> list[GroupSet]:
    """Return every group that `breakdown_cells` reports on, with its members, in the same order.

    Groups with no member are included (their cells are left out of
    `breakdown_cells`, but disclosure control must know they are empty).
    """
    size = len(responses)
    sector_codes, sector_slugs = _sector_codes(responses, sectors)
    sets = [GroupSet((), (), np.ones(size, dtype=bool), False, None)]
    sets += [
        GroupSet((SECTOR,), (sector,), sector_codes == index, sector in sensitive_sectors, SECTOR)
        for index, sector in enumerate(sector_slugs)
    ]
    for dimension in dimensions(instrument):
        patterns = _dimension_patterns(responses, dimension)
        members = [predicate[patterns.codes] for predicate in patterns.predicates]
        overlapping = dimension.is_multiple
        partitions = [
            None
            if overlapping and not (slug.startswith(ALONE_PREFIX) or slug in (MORE_THAN_ONE, PREFER_NOT_TO_SAY))
            else dimension.slug
            for slug in patterns.slugs
        ]
        sets += [
            GroupSet((dimension.slug,), (slug,), mask, sensitive, partition)
            for slug, mask, sensitive, partition in zip(
                patterns.slugs, members, patterns.is_sensitive, partitions, strict=True
            )
        ]
        for index, sector in enumerate(sector_slugs):
            in_sector = sector_codes == index
            sets += [
                GroupSet(
                    (SECTOR, dimension.slug),
                    (sector, slug),
                    in_sector & mask,
                    sensitive or sector in sensitive_sectors,
                    partition,
                )
                for slug, mask, sensitive, partition in zip(
                    patterns.slugs, members, patterns.is_sensitive, partitions, strict=True
                )
            ]
    return sets
