"""What a wave publishes: its breakdowns and pair matrix after disclosure control (PRIVACY.md rules 1–8).

`publish` is the only way results leave the engine for storage. It computes
`breakdown_cells` and `pair_matrix`, runs `disclosure.protect` over every
group that any table reports on (each group, its "everyone else"
remainder, and the partitions among them), then applies to each measure what
its own n needs, and returns tables where a hidden cell has every statistic
missing and `suppressed` true.

Steps, in order (the audit of step 1 runs in a second thread while
`breakdown_cells` computes the statistics: it needs only the groups'
members):

1. **Groups** (`group_sets`): the joint audit (rule 4) runs over the sets of
   respondents of every reported group and its remainder, with the
   partitions as parents: the sectors and each dimension's non-overlapping
   groups under the overall total; each row of a sector × dimension table
   under its sector and each column under its group; every group with its
   remainder. A hidden group hides all its measures.
2. **Measures.** A group's n for one measure counts those with a value for
   it (item nonresponse), so each measure then gets primary suppression on
   its own n (k, or k_sensitive for a sensitive group), a gap only where the
   remainder holds k or more, and complementary suppression within the same
   parents on its own n.
3. **Pair matrix.** A rater sector's row is shown where the sector is shown;
   each directed cell needs n ≥ k raters (k_sensitive for a sensitive rater
   sector). An asymmetry needs both directions shown.
4. **Multiplicity.** Benjamini–Hochberg q-values and flags are recomputed
   over the published gap tests only, so a hidden cell's p-value does not
   shift a published q-value.
5. **Formatting** (rules 2, 7, 8). Means, SDs, intervals, gaps and Hedges'
   g to two decimals, p- and q-values to three significant digits, the
   0–100 score whole. A sensitive group (rule 7) shows its size only as
   `n_label` "10 or more" (never `n`), and only its mean, interval and
   gap, to one decimal, its 0–100 score computed from that rounded mean,
   and its flag: together with the overall mean, an exact gap would give
   its size back (n = N·(M − m + gap) / gap).

What step 2 does not cover: the exact audit works on groups of
respondents, not on each measure's answering subset. Two published groups
that differ by k or more respondents can differ by fewer among those who
answered one item; docs/privacy-model.md lists this residual risk.
"""

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics.engine.breakdowns import GroupSet, breakdown_cells, group_sets, pair_matrix
from analytics.engine.disclosure import Cell, Parent, cells_from_masks, protect
from analytics.engine.disclosure.joint_audit import MINIMUM_K, MINIMUM_K_SENSITIVE, validate_thresholds
from analytics.engine.disclosure.suppression import ParentIndex
from analytics.engine.frame import SECTOR, area_slugs, scale_items
from analytics.engine.scoring import to_100
from analytics.engine.statistics import ALPHA, GAP_THRESHOLD, STATISTIC_COLUMNS, benjamini_hochberg, flags

OVERALL_ID = "overall"
SENSITIVE_SIZE_LABEL = "10 or more"
# The figures of a published cell that are numbers, each null in a hidden cell.
FIGURE_COLUMNS = [
    *(column for column in STATISTIC_COLUMNS if column != "flag"),
    "gap_ci_low",
    "gap_ci_high",
]
# Labels, then n and its label, the statistics, `suppressed`, and the gap's interval (added last,
# in engine 2026.11.2, so that stored rows of earlier versions still line up).
PUBLISHED_COLUMNS = [
    *("dimensions", "groups", "measure", "area"),
    "n",
    "n_label",
    *STATISTIC_COLUMNS[1:],
    "suppressed",
    "gap_ci_low",
    "gap_ci_high",
]
PAIR_COLUMNS = ["rater_sector", "rated_sector", "n", "mean", "asymmetry", "flag", "suppressed"]
# Statistics a sensitive group publishes (rule 7), to one decimal; the rest stay missing.
_SENSITIVE_STATISTICS = ("mean", "ci_low", "ci_high", "gap", "gap_ci_low", "gap_ci_high")
_TWO_DECIMALS = ("mean", "sd", "ci_low", "ci_high", "gap", "hedges_g", "gap_ci_low", "gap_ci_high")
_SIGNIFICANT = ("p_value", "q_value")


@dataclass(frozen=True)
class Publication:
    """A wave's publishable tables: `cells` (`PUBLISHED_COLUMNS`) and `pairs` (`PAIR_COLUMNS`)."""

    cells: pd.DataFrame
    pairs: pd.DataFrame


def cell_id(dimensions: Sequence[str], groups: Sequence[str]) -> str:
    """Return the disclosure-control id of a group: `overall`, `sector=x`, `sector=x&gender=woman`."""
    if not dimensions:
        return OVERALL_ID
    return "&".join(f"{dimension}={group}" for dimension, group in zip(dimensions, groups, strict=True))


def _remainder_id(group_id: str) -> str:
    return "else:" + group_id


def disclosure_problem(sets: Sequence[GroupSet]) -> tuple[list[Cell], list[Parent]]:
    """Return the audit's cells (each group and its remainder) and parents (the partitions) for `sets`."""
    masks: dict[str, Any] = {}
    sensitive: set[str] = set()
    parents: list[Parent] = []
    partitions: dict[tuple[str, ...], list[str]] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    for group in sets:
        identifier = cell_id(group.dimensions, group.groups)
        masks[identifier] = group.members
        if group.is_sensitive:
            sensitive.add(identifier)
        if group.partition is not None:
            # A row of a cross table lies under its sector, a dimension's partition under the total.
            total = cell_id(group.dimensions[:1], group.groups[:1]) if len(group.dimensions) == 2 else OVERALL_ID
            partitions.setdefault((total, group.partition), []).append(identifier)
        if len(group.dimensions) == 2:
            column = cell_id(group.dimensions[1:], group.groups[1:])
            columns.setdefault((column, SECTOR), []).append(identifier)
    for group in sets:
        if group.dimensions:
            identifier = cell_id(group.dimensions, group.groups)
            masks[_remainder_id(identifier)] = ~group.members
            parents.append(Parent(total_id=OVERALL_ID, child_ids=(identifier, _remainder_id(identifier))))
    # A partition is a parent only where its groups cover its total: where some skipped the question,
    # the total minus the shown groups is the hidden groups plus the unpublished skippers, which
    # reveals neither. The joint audit decides exactly in every case; parents only speed it up.
    for (total, _partition), children in [*partitions.items(), *((key, ids) for key, ids in columns.items())]:
        covered = np.logical_or.reduce([masks[child] for child in children])
        if np.array_equal(covered, masks[total]):
            parents.append(Parent(total_id=total, child_ids=tuple(children)))
    cells = cells_from_masks(masks, sensitive_ids=sensitive, total_ids={OVERALL_ID})
    return cells, parents


def publish(
    *,
    responses: pd.DataFrame,
    instrument: Mapping[str, Any],
    sectors: Sequence[str],
    sensitive_sectors: Collection[str] = frozenset(),
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
    gap_threshold: float = GAP_THRESHOLD,
    alpha: float = ALPHA,
) -> Publication:
    """Return the wave's tables with disclosure control applied; see the module docstring.

    `sectors` are the wave's sector slugs (the pair matrix's rows and
    columns); `k` and `k_sensitive` the coalition's thresholds.
    """
    validate_thresholds(k=k, k_sensitive=k_sensitive)

    groups_known: Future[tuple[list[GroupSet], list[Parent]]] = Future()

    def audited() -> frozenset[str]:
        try:
            sets = group_sets(
                responses=responses, instrument=instrument, sensitive_sectors=sensitive_sectors, sectors=sectors
            )
            audit_cells, parents = disclosure_problem(sets)
        except BaseException as error:
            groups_known.set_exception(error)
            raise
        groups_known.set_result((sets, parents))
        return protect(cells=audit_cells, parents=parents, k=k, k_sensitive=k_sensitive).hidden_ids

    # The audit needs only who is in which group, not the statistics, so it runs in a second thread
    # while this one computes the cells and prepares all that does not depend on the audit's result:
    # both spend much of their time in numpy, pandas and HiGHS code that releases the GIL, so on a
    # large wave the two overlap on two cores.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="disclosure") as pool:
        audit = pool.submit(audited)
        computed = breakdown_cells(
            responses=responses,
            instrument=instrument,
            sensitive_sectors=sensitive_sectors,
            gap_threshold=gap_threshold,
            alpha=alpha,
            sectors=sectors,
        )
        sets, parents = groups_known.result()
        raw = _every_cell(computed, sets=sets, instrument=instrument)
        group_ids = [cell_id(group.dimensions, group.groups) for group in sets]
        per_measure = _MeasureSuppression(
            group_ids=group_ids,
            group_sensitive=[group.is_sensitive for group in sets],
            parents=parents,
            k=k,
            k_sensitive=k_sensitive,
        )
        measure_rows = list(raw.groupby(["measure", "area"], sort=False).indices.values())
        pairs = pair_matrix(responses=responses, sectors=sectors)
        hidden_groups = audit.result()

    # `_every_cell` lists each group's measures together, in the order of `sets`.
    measure_count = len(raw) // len(sets)
    suppressed = np.repeat(_in(np.array(group_ids, dtype=object), hidden_groups), measure_count)
    hidden_mask = per_measure.mask(hidden_groups)
    counts = raw["n"].to_numpy()
    # Measures whose groups have the same n (no item nonresponse in between) hide the same cells.
    decided: dict[bytes, np.ndarray] = {}
    for rows in measure_rows:
        key = counts[rows].tobytes()
        if key not in decided:
            decided[key] = per_measure.hidden(group_index=rows // measure_count, n=counts[rows], hidden=hidden_mask)
        suppressed[rows] |= decided[key]
    cells = _formatted(raw, suppressed=suppressed, gap_threshold=gap_threshold, alpha=alpha)
    published_pairs = _published_pairs(
        pairs=pairs, sensitive_sectors=sensitive_sectors, hidden_groups=hidden_groups, k=k, k_sensitive=k_sensitive
    )
    return Publication(cells=cells, pairs=published_pairs)


def _every_cell(computed: pd.DataFrame, *, sets: Sequence[GroupSet], instrument: Mapping[str, Any]) -> pd.DataFrame:
    """Return a row for every fixed group × measure, in a fixed order; groups nobody is in get n = 0.

    `breakdown_cells` leaves out empty cells; a published table must not
    (rule 2): an empty cell is hidden like any other small cell, so whether
    a group is empty or holds a few people looks the same.
    """
    measures = [("overall", "overall")] + [("area", area) for area in area_slugs(instrument)]
    measures += [("item", item.slug) for item in scale_items(instrument)]
    keys = pd.DataFrame(
        {
            "dimensions": [group.dimensions for group in sets for _ in measures],
            "groups": [group.groups for group in sets for _ in measures],
            "measure": [measure for _ in sets for measure, _area in measures],
            "area": [area for _ in sets for _measure, area in measures],
            "is_sensitive": [group.is_sensitive for group in sets for _ in measures],
        }
    )
    key_columns = ["dimensions", "groups", "measure", "area"]
    merged = keys.merge(computed.drop(columns=["is_sensitive"]), on=key_columns, how="left", sort=False)
    merged["n"] = merged["n"].fillna(0).astype(np.int64)
    merged["flag"] = merged["flag"].fillna(False).astype(bool)
    return merged[computed.columns.tolist()]


class _MeasureSuppression:
    """Primary and complementary suppression on one measure's n, for every measure of a wave.

    The audit's cells are each group and its remainder ("everyone else"),
    under the same parents for every measure: they are indexed once
    (`ParentIndex`), group i at position i and its remainder after the
    groups, and each measure brings only its sizes.
    """

    def __init__(
        self,
        *,
        group_ids: Sequence[str],
        group_sensitive: Sequence[bool],
        parents: Sequence[Parent],
        k: int,
        k_sensitive: int,
    ) -> None:
        self.overall = group_ids.index(OVERALL_ID)
        self.others = np.array(
            [index for index, identifier in enumerate(group_ids) if identifier != OVERALL_ID], dtype=np.int64
        )
        ids = [*group_ids, *(_remainder_id(group_ids[index]) for index in self.others.tolist())]
        self.index = ParentIndex(parents=parents, ids=ids)
        # A remainder is held to k: it is not itself a sensitive group.
        self.thresholds = np.full(len(ids), k, dtype=np.int64)
        self.thresholds[: len(group_ids)][np.asarray(group_sensitive, dtype=bool)] = k_sensitive
        self.threshold_list = self.thresholds.tolist()
        self.group_count = len(group_ids)
        self.k = k

    def mask(self, ids: Collection[str]) -> npt.NDArray[np.bool_]:
        """Return the indexed cells (groups, then remainders) that are among `ids`."""
        mask = np.zeros(len(self.index.ids), dtype=np.bool_)
        mask[[self.index.position[i] for i in ids if i in self.index.position]] = True
        return mask

    def hidden(self, *, group_index: np.ndarray, n: np.ndarray, hidden: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Return which of one measure's rows (group positions, n) to hide: `hidden` (a `mask`), then more."""
        group_n = np.zeros(self.group_count, dtype=np.int64)
        group_n[group_index] = n
        sizes = np.concatenate([group_n, group_n[self.overall] - group_n[self.others]])
        hidden = hidden | (sizes < self.thresholds)
        added = self.index.hidden_by_size(
            sizes=sizes.tolist(), thresholds=self.threshold_list, hidden=np.flatnonzero(hidden).tolist(), k=self.k
        )
        hidden[added] = True
        return np.asarray(hidden[group_index], dtype=np.bool_)


def _in(ids: np.ndarray, members: Collection[str]) -> np.ndarray:
    """Return which ids are in `members` (a hash lookup each: np.isin on strings sorts, far slower)."""
    lookup = set(members)
    return np.fromiter((identifier in lookup for identifier in ids.tolist()), dtype=bool, count=len(ids))


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Return `values` to `digits` significant digits (by decimal formatting, so 0.0123 stays 0.0123)."""
    rounded = values.copy()
    finite = np.isfinite(values)
    rounded[finite] = [float(f"{value:.{digits}g}") for value in values[finite].tolist()]
    return rounded


def _formatted(raw: pd.DataFrame, *, suppressed: np.ndarray, gap_threshold: float, alpha: float) -> pd.DataFrame:
    """Return the published cells: BH and flags over published gaps, rounding, rule 7, hidden rows emptied."""
    cells = raw.copy()
    visible = ~suppressed
    q_values = np.full(len(cells), np.nan)
    q_values[visible] = benjamini_hochberg(p_values=cells["p_value"].to_numpy(dtype="float64")[visible])
    cells["q_value"] = q_values
    cells["flag"] = (
        flags(gap=cells["gap"].to_numpy(dtype="float64"), q=q_values, threshold=gap_threshold, alpha=alpha) & visible
    )
    for column in _TWO_DECIMALS:
        cells[column] = cells[column].astype("float64").round(2)
    for column in _SIGNIFICANT:
        values = cells[column].to_numpy(dtype="float64").copy()
        values[suppressed] = np.nan
        cells[column] = _round_significant(values, 3)
    cells["score_100"] = cells["score_100"].astype("float64").round(0)
    sensitive = cells["is_sensitive"].to_numpy(dtype=bool) & visible
    for column in _SENSITIVE_STATISTICS:
        cells.loc[sensitive, column] = raw.loc[sensitive, column].astype("float64").round(1)
    # From the rounded mean: a 0–100 score of the exact mean would carry a finer decimal of it.
    cells.loc[sensitive, "score_100"] = to_100(score=cells.loc[sensitive, "mean"].astype("float64")).round(0)
    cells["n"] = cells["n"].astype("Int64")
    cells.loc[sensitive, ["sd", "p_value", "q_value", "hedges_g"]] = np.nan
    cells.loc[sensitive, "n"] = pd.NA
    cells["n_label"] = pd.Series([SENSITIVE_SIZE_LABEL if flag else None for flag in sensitive], dtype=object)
    statistics = FIGURE_COLUMNS
    cells.loc[suppressed, statistics] = np.nan
    cells.loc[suppressed, "n"] = pd.NA
    cells["flag"] = cells["flag"].astype(object)
    cells.loc[suppressed, "flag"] = None
    cells["suppressed"] = suppressed
    return cells[PUBLISHED_COLUMNS].reset_index(drop=True)


def _published_pairs(
    *,
    pairs: pd.DataFrame,
    sensitive_sectors: Collection[str],
    hidden_groups: Collection[str],
    k: int,
    k_sensitive: int,
) -> pd.DataFrame:
    """Return the pair matrix (`pair_matrix`) with each directed cell hidden below its threshold or with its rater."""
    rater = pairs["rater_sector"].to_numpy(dtype=object)
    thresholds = np.array([k_sensitive if sector in sensitive_sectors else k for sector in rater])
    rater_hidden = np.array([cell_id((SECTOR,), (sector,)) in hidden_groups for sector in rater], dtype=bool)
    n = pairs["n"].to_numpy()
    suppressed = (n < thresholds) | rater_hidden
    by_pair = dict(zip(zip(pairs["rater_sector"], pairs["rated_sector"], strict=True), suppressed, strict=True))
    reverse_hidden = np.array(
        [by_pair[(rated, rater_sector)] for rater_sector, rated in zip(rater, pairs["rated_sector"], strict=True)]
    )
    published = pairs.copy()
    published["mean"] = published["mean"].round(2)
    published["asymmetry"] = published["asymmetry"].round(2).where(~(suppressed | reverse_hidden))
    published["flag"] = published["flag"].astype(object).where(~(suppressed | reverse_hidden), None)
    published["n"] = published["n"].astype("Int64").mask(suppressed)
    published.loc[suppressed, "mean"] = np.nan
    published.loc[suppressed, "flag"] = None
    published["suppressed"] = suppressed
    return published[PAIR_COLUMNS].reset_index(drop=True)
