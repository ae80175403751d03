"""Statistics: cell summaries, Welch gaps, Hedges' g, Benjamini–Hochberg and flags, against scipy and statsmodels."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics.engine.statistics import (
    CellStats,
    GapStats,
    benjamini_hochberg,
    cell_statistics,
    flag,
    gap_statistics,
)

TIGHT = {"rel": 1e-12, "abs": 1e-15}


def hedges_g(group: np.ndarray, rest: np.ndarray) -> float:
    """Hedges' g by the textbook formula: pooled SD (ddof=1) and J = 1 − 3 / (4(n1 + n2) − 9)."""
    n1, n2 = len(group), len(rest)
    pooled = math.sqrt(((n1 - 1) * group.var(ddof=1) + (n2 - 1) * rest.var(ddof=1)) / (n1 + n2 - 2))
    return (1 - 3 / (4 * (n1 + n2) - 9)) * (group.mean() - rest.mean()) / pooled


def test_cell_statistics_of_a_hand_worked_cell() -> None:
    values = pd.Series([2.0, 4.0, np.nan, 4.0, 5.0])

    cell = cell_statistics(values=values)

    # Deviations from 3.75: −1.75, 0.25, 0.25, 1.25; squares sum to 4.75.
    assert cell.n == 4
    assert cell.mean == 3.75
    assert cell.sd == pytest.approx(math.sqrt(4.75 / 3), **TIGHT)
    low, high = stats.t.interval(0.95, 3, loc=3.75, scale=math.sqrt(4.75 / 3) / 2)
    assert cell.ci_low == pytest.approx(low, **TIGHT)
    assert cell.ci_high == pytest.approx(high, **TIGHT)
    assert cell.ci_high - 3.75 == pytest.approx(3.182446305284263 * math.sqrt(4.75 / 3) / 2, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cell_statistics_match_numpy_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = rng.integers(1, 6, 40).astype(float)
    raw[rng.random(40) < 0.2] = np.nan
    present = raw[~np.isnan(raw)]

    cell = cell_statistics(values=pd.Series(raw))

    sem = present.std(ddof=1) / math.sqrt(len(present))
    low, high = stats.t.interval(0.95, len(present) - 1, loc=present.mean(), scale=sem)
    assert cell.n == len(present)
    assert cell.mean == pytest.approx(present.mean(), **TIGHT)
    assert cell.sd == pytest.approx(present.std(ddof=1), **TIGHT)
    assert cell.ci_low == pytest.approx(low, **TIGHT)
    assert cell.ci_high == pytest.approx(high, **TIGHT)


def test_cell_statistics_need_two_values_for_an_sd_and_an_interval() -> None:
    assert cell_statistics(values=pd.Series([np.nan, 4.0])) == CellStats(
        n=1, mean=4.0, sd=None, ci_low=None, ci_high=None
    )
    assert cell_statistics(values=pd.Series([np.nan])) == CellStats(n=0, mean=None, sd=None, ci_low=None, ci_high=None)


def test_cell_statistics_of_a_constant_cell_have_zero_sd_and_a_point_interval() -> None:
    assert cell_statistics(values=pd.Series([4.0, 4.0, 4.0])) == CellStats(
        n=3, mean=4.0, sd=0.0, ci_low=4.0, ci_high=4.0
    )


@pytest.mark.parametrize(
    ("group", "rest"),
    [
        pytest.param([4, 5, 5, 3, 4], [2, 3, 3, 4, 2, 1, 3], id="lower-rest"),
        pytest.param([1, 2], [5, 4, 4, 5, 3, 5], id="small-group"),
        pytest.param([3.5, 4.25, 2.75, 3.0], [3.25, 3.0, 4.5], id="area-scores"),
        pytest.param([2, 4], [3, 3, 2, 4], id="equal-means"),
    ],
)
def test_gap_statistics_match_welch_t_test_and_hedges_g(group: list[float], rest: list[float]) -> None:
    values = pd.Series([*group, np.nan, *rest, np.nan], dtype=float)
    mask = np.array([True] * len(group) + [True] + [False] * len(rest) + [False])

    result = gap_statistics(values=values, in_group_mask=mask)

    group_values, rest_values = np.array(group, dtype=float), np.array(rest, dtype=float)
    welch = stats.ttest_ind(group_values, rest_values, equal_var=False)
    assert result.gap == pytest.approx(group_values.mean() - rest_values.mean(), **TIGHT)
    assert result.p_value == pytest.approx(welch.pvalue, **TIGHT)
    assert result.hedges_g == pytest.approx(hedges_g(group_values, rest_values), **TIGHT)
    interval = welch.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(interval.low, **TIGHT),
        pytest.approx(interval.high, **TIGHT),
    )


def test_gap_statistics_of_a_hand_worked_gap() -> None:
    # Group 4, 5 (mean 4.5, variance 0.5); rest 2, 3, 4 (mean 3, variance 1).
    values = pd.Series([4.0, 5.0, 2.0, 3.0, 4.0])
    mask = pd.Series([True, True, False, False, False])

    result = gap_statistics(values=values, in_group_mask=mask)

    assert result.gap == 1.5
    # t = 1.5 / sqrt(0.5/2 + 1/3); df = (7/12)² / ((1/4)² + (1/3)² / 2).
    t = 1.5 / math.sqrt(7 / 12)
    df = (7 / 12) ** 2 / ((1 / 4) ** 2 + (1 / 3) ** 2 / 2)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, df), **TIGHT)
    half = stats.t.ppf(0.975, df) * math.sqrt(7 / 12)
    assert (result.ci_low, result.ci_high) == (pytest.approx(1.5 - half, **TIGHT), pytest.approx(1.5 + half, **TIGHT))
    # Pooled SD sqrt((0.5 + 2) / 3); J = 1 − 3 / 11.
    assert result.hedges_g == pytest.approx((8 / 11) * 1.5 / math.sqrt(2.5 / 3), **TIGHT)


@pytest.mark.parametrize(
    ("values", "mask"),
    [
        pytest.param([4.0, 2.0, 3.0, 1.0], [True, False, False, False], id="group-of-one"),
        pytest.param([4.0, 5.0, 3.0, np.nan], [True, True, False, False], id="rest-of-one"),
        pytest.param([4.0, 5.0, np.nan], [True, True, False], id="no-rest"),
    ],
)
def test_gap_statistics_need_two_values_on_each_side(values: list[float], mask: list[bool]) -> None:
    assert gap_statistics(values=pd.Series(values), in_group_mask=np.array(mask)) == GapStats(
        gap=None, p_value=None, hedges_g=None
    )


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_gap_statistics_without_variance_follow_scipy() -> None:
    values = pd.Series([5.0, 5.0, 5.0, 1.0, 1.0])
    mask = np.array([True, True, True, False, False])

    result = gap_statistics(values=values, in_group_mask=mask)

    assert stats.ttest_ind([5.0, 5.0, 5.0], [1.0, 1.0], equal_var=False).pvalue == 0.0
    welch = stats.ttest_ind([5.0, 5.0, 5.0], [1.0, 1.0], equal_var=False)
    assert (welch.df, tuple(welch.confidence_interval(0.95))) == (1.0, (4.0, 4.0))
    assert result == GapStats(gap=4.0, p_value=0.0, hedges_g=None, ci_low=4.0, ci_high=4.0)


def test_gap_statistics_refuse_a_mask_of_another_length() -> None:
    with pytest.raises(ValueError, match="one entry per value"):
        gap_statistics(values=pd.Series([1.0, 2.0]), in_group_mask=np.array([True]))


def test_benjamini_hochberg_of_a_hand_worked_list() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 → × 4 / rank: 0.02, 0.02, 0.04, 0.04 (already monotone).
    q = benjamini_hochberg(p_values=[0.01, 0.04, 0.03, 0.005])

    assert q.tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02], rel=1e-15)


def test_benjamini_hochberg_steps_up_and_caps_at_one() -> None:
    # Sorted 0.01, 0.02, 0.025, 0.9 → 0.04, 0.04, 0.0333…, 0.9: the step-up takes the later minimum.
    q = benjamini_hochberg(p_values=[0.02, 0.9, 0.01, 0.025])

    assert q.tolist() == pytest.approx([0.1 / 3, 0.9, 0.1 / 3, 0.1 / 3], rel=1e-15)
    assert benjamini_hochberg(p_values=[0.9, 0.95]).tolist() == [0.95, 0.95]


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_benjamini_hochberg_matches_statsmodels_and_passes_nan_through(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(60) ** 3, [0.5, 0.5, 0.5], [np.nan] * 5])
    rng.shuffle(p)

    q = benjamini_hochberg(p_values=p)

    tested = ~np.isnan(p)
    _reject, expected, _sidak, _bonferroni = multipletests(p[tested], method="fdr_bh")
    np.testing.assert_allclose(q[tested], expected, rtol=1e-14, atol=0)
    assert np.isnan(q[~tested]).all()


def test_benjamini_hochberg_of_nothing_is_nothing() -> None:
    assert benjamini_hochberg(p_values=[]).tolist() == []
    assert np.isnan(benjamini_hochberg(p_values=[np.nan, np.nan])).all()


@pytest.mark.parametrize(
    ("gap", "q", "expected"),
    [
        pytest.param(0.5, 0.05, True, id="both-at-the-boundary"),
        pytest.param(-0.7, 0.001, True, id="negative-gap"),
        pytest.param(0.49, 0.001, False, id="gap-too-small"),
        pytest.param(1.2, 0.0501, False, id="not-significant"),
        pytest.param(None, 0.01, False, id="no-gap"),
        pytest.param(1.0, None, False, id="no-q"),
        pytest.param(math.nan, 0.01, False, id="nan-gap"),
        pytest.param(1.0, math.nan, False, id="nan-q"),
    ],
)
def test_flag_needs_a_large_and_significant_gap(gap: float | None, q: float | None, expected: bool) -> None:
    assert flag(gap=gap, q=q) is expected


def test_flag_thresholds_are_configurable() -> None:
    assert flag(gap=0.3, q=0.08, threshold=0.25, alpha=0.1) is True
    assert flag(gap=0.3, q=0.08) is False
