"""Statistics of respondent scores: cell summaries, gaps, Benjamini–Hochberg, flags.

Scalar functions take a Series of respondent scores (NaN = did not answer)
and are what a reader checks against a textbook. The `*_from_moments`
functions compute the same figures for whole arrays of cells from their
moments (count, mean, sum of squared deviations); `breakdowns` uses those,
and the scalar functions call them too, so there is one implementation.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
GAP_THRESHOLD = 0.5
ALPHA = 0.05
# The statistics of a published cell, in output order; a hidden cell has every one blanked.
STATISTIC_COLUMNS = (
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "score_100",
    "gap",
    "p_value",
    "q_value",
    "hedges_g",
    "flag",
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CellStats:
    """Summary of one cell: respondents with a value, mean, SD (ddof=1) and 95% Student-t interval."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class GapStats:
    """A group against everyone else: mean difference, Welch two-sided p-value, Hedges' g."""

    gap: float | None
    p_value: float | None
    hedges_g: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class Moments:
    """Arrays of cell moments: count, mean (NaN when the count is 0), sum of squared deviations."""

    n: FloatArray
    mean: FloatArray
    m2: FloatArray


@dataclass(frozen=True)
class CellArrays:
    """`CellStats` for arrays of cells; NaN where a figure is undefined (n < 2)."""

    sd: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray


@dataclass(frozen=True)
class GapArrays:
    """`GapStats` for arrays of cells; NaN where a figure is undefined."""

    gap: FloatArray
    p_value: FloatArray
    hedges_g: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else value


def _moments(values: FloatArray) -> Moments:
    """Return the moments of one sample (no missing values) as one-element arrays."""
    count = values.size
    mean = float(values.mean()) if count else math.nan
    m2 = float(((values - mean) ** 2).sum()) if count else 0.0
    return Moments(n=np.array([count], dtype=np.float64), mean=np.array([mean]), m2=np.array([m2]))


def cell_statistics_from_moments(*, moments: Moments) -> CellArrays:
    """Return SD (ddof=1) and the 95% Student-t interval (n − 1 df) of each cell."""
    n = moments.n
    enough = n >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(enough, moments.m2 / (n - 1), np.nan)
        sd = np.sqrt(np.maximum(variance, 0.0))
        critical = np.asarray(stats.t.ppf((1 + CONFIDENCE) / 2, np.where(enough, n - 1, np.nan)), dtype=np.float64)
        half_width = critical * sd / np.sqrt(n)
    return CellArrays(sd=sd, ci_low=moments.mean - half_width, ci_high=moments.mean + half_width)


def gap_statistics_from_moments(*, group: Moments, rest: Moments) -> GapArrays:
    """Return gap, Welch p-value, Hedges' g and the gap's 95% Welch interval; NaN unless both n ≥ 2.

    Matches scipy.stats.ttest_ind(equal_var=False), including its degenerate
    case: with no variance on either side, df is taken as 1, so a nonzero
    gap gets p = 0 and a zero gap gets no p-value.
    """
    n1, n2 = group.n, rest.n
    enough = (n1 >= 2) & (n2 >= 2)
    gap = np.where(enough, group.mean - rest.mean, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        error1 = group.m2 / (n1 - 1) / n1
        error2 = rest.m2 / (n2 - 1) / n2
        welch_t = gap / np.sqrt(error1 + error2)
        df = (error1 + error2) ** 2 / (error1**2 / (n1 - 1) + error2**2 / (n2 - 1))
        df = np.where(np.isnan(df) & enough, 1.0, df)
        p_value = np.asarray(2 * stats.t.sf(np.abs(welch_t), df), dtype=np.float64)
        pooled_sd = np.sqrt((group.m2 + rest.m2) / (n1 + n2 - 2))
        correction = 1 - 3 / (4 * (n1 + n2) - 9)
        hedges_g = np.where(pooled_sd > 0, correction * gap / pooled_sd, np.nan)
        # Welch–Satterthwaite interval of the difference, as scipy's TtestResult.confidence_interval().
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, df) * np.sqrt(error1 + error2)
    return GapArrays(
        gap=gap,
        p_value=np.where(enough, p_value, np.nan),
        hedges_g=hedges_g,
        ci_low=np.where(enough, gap - half, np.nan),
        ci_high=np.where(enough, gap + half, np.nan),
    )


def _present(values: pd.Series) -> FloatArray:
    return np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)


def cell_statistics(*, values: pd.Series) -> CellStats:
    """Return n (respondents with a value), mean, SD (ddof=1) and the 95% t interval; SD and CI need n ≥ 2."""
    scores = _present(values)
    moments = _moments(scores[~np.isnan(scores)])
    summary = cell_statistics_from_moments(moments=moments)
    return CellStats(
        n=int(moments.n[0]),
        mean=_optional(float(moments.mean[0])),
        sd=_optional(float(summary.sd[0])),
        ci_low=_optional(float(summary.ci_low[0])),
        ci_high=_optional(float(summary.ci_high[0])),
    )


def gap_statistics(*, values: pd.Series, in_group_mask: pd.Series | npt.NDArray[np.bool_]) -> GapStats:
    """Return the group's mean minus everyone else's, Welch's two-sided p, Hedges' g and the gap's 95% interval.

    `in_group_mask` is positional: True for the group's respondents. Everyone
    else is every other respondent with a value. Each figure is None unless
    both sides have at least 2 values. Hedges' g uses the pooled SD and the
    correction J = 1 − 3 / (4(n1 + n2) − 9).
    """
    scores = _present(values)
    in_group = np.asarray(in_group_mask, dtype=bool)
    if in_group.shape != scores.shape:
        raise ValueError("in_group_mask must have one entry per value")
    present = ~np.isnan(scores)
    result = gap_statistics_from_moments(
        group=_moments(scores[present & in_group]), rest=_moments(scores[present & ~in_group])
    )
    return GapStats(
        gap=_optional(float(result.gap[0])),
        p_value=_optional(float(result.p_value[0])),
        hedges_g=_optional(float(result.hedges_g[0])),
        ci_low=_optional(float(result.ci_low[0])),
        ci_high=_optional(float(result.ci_high[0])),
    )


def benjamini_hochberg(*, p_values: npt.ArrayLike) -> FloatArray:
    """Return Benjamini–Hochberg q-values (step-up, monotone, capped at 1); NaN p-values stay NaN.

    The number of tests is the number of p-values that are not NaN.
    """
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    q = np.full(flat.shape, np.nan)
    tested = ~np.isnan(flat)
    count = int(tested.sum())
    if count:
        order = np.argsort(flat[tested], kind="stable")
        scaled = flat[tested][order] * count / np.arange(1, count + 1)
        # Step-up: each q is the smallest scaled p at its rank or any larger rank.
        monotone = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        adjusted = np.empty(count)
        adjusted[order] = monotone
        q[tested] = adjusted
    return q.reshape(p.shape)


def flags(
    *, gap: npt.ArrayLike, q: npt.ArrayLike, threshold: float = GAP_THRESHOLD, alpha: float = ALPHA
) -> npt.NDArray[np.bool_]:
    """Return `flag` for arrays of gaps and q-values."""
    gaps = np.asarray(gap, dtype=np.float64)
    q_values = np.asarray(q, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        flagged: npt.NDArray[np.bool_] = (np.abs(gaps) >= threshold) & (q_values <= alpha)
    return flagged


def flag(*, gap: float | None, q: float | None, threshold: float = GAP_THRESHOLD, alpha: float = ALPHA) -> bool:
    """Return True when |gap| ≥ threshold and q ≤ alpha (BH rejects); a missing gap or q never flags."""
    if gap is None or q is None:
        return False
    return bool(flags(gap=gap, q=q, threshold=threshold, alpha=alpha))
