"""Breakdowns: hand-worked cells, group conventions, the pair matrix, trends, and a check against a naive loop."""

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics.engine.breakdowns import CELL_COLUMNS, TREND_KEYS, breakdown_cells, pair_matrix, trend
from analytics.engine.frame import responses_frame
from analytics.engine.scoring import area_scores, health_index, scale_item_scores

DEFAULT_INSTRUMENT = Path(__file__).resolve().parents[2] / "surveys" / "data" / "instruments" / "default.json"
PNTS = "prefer-not-to-say"
TIGHT = {"rel": 1e-12, "abs": 1e-12}


def options(*slugs: str) -> list[dict[str, Any]]:
    return [{"slug": slug, "label": {"en": slug}} for slug in slugs]


def wave_instrument(*, with_seven_point_item: bool = False) -> dict[str, Any]:
    """Areas alpha (3 items, one reversed) and beta (2 items); dimensions pay, lived (sensitive), race (multi)."""
    items = [
        {"slug": "alpha-1", "type": "scale", "scale": "agree5", "area": "alpha"},
        {"slug": "alpha-2", "type": "scale", "scale": "agree5", "area": "alpha"},
        {"slug": "alpha-3", "type": "scale", "scale": "agree5", "area": "alpha", "reverse": True},
        {"slug": "beta-1", "type": "scale", "scale": "agree5", "area": "beta"},
        {"slug": "beta-2", "type": "scale", "scale": "agree5", "area": "beta"},
    ]
    if with_seven_point_item:
        items.append({"slug": "beta-3", "type": "scale", "scale": "agree7", "area": "beta", "reverse": True})
    return {
        "scales": {"agree5": {"points": 5}, "agree7": {"points": 7}},
        "areas": [{"slug": "alpha"}, {"slug": "beta"}],
        "sections": [{"slug": "only", "items": items}],
        "dimensions": [
            {"slug": "pay", "multiple": False, "sensitive": False, "options": options("paid", "volunteer", PNTS)},
            {
                "slug": "lived",
                "multiple": False,
                "sensitive": True,
                "sensitive_options": ["yes"],
                "options": options("yes", "no", PNTS),
            },
            {"slug": "race", "multiple": True, "sensitive": False, "options": options("a", "b", "c", PNTS)},
        ],
    }


# Area scores, worked by hand (alpha-3 is reversed: 6 − x):
#   r0 alpha (4 + 5 + 4) / 3 = 13/3   beta 4.5
#   r1 alpha (2 + 3 + 2) / 3 = 7/3    beta 3 (one of two items is half)
#   r2 alpha (5 + 5 + 5) / 3 = 5      beta 4.5
#   r3 alpha (1 + 2 + 1) / 3 = 4/3    beta 2
#   r4 alpha (2 + 2) / 2     = 2      beta 1
#   r5 alpha 3                        beta 3
ITEMS = ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"]


def answers(scores: list[int | str | None], **dimensions: object) -> dict[str, object]:
    """Return stored answers: the five items in ITEMS order (None = skipped), then the dimensions."""
    return {item: score for item, score in zip(ITEMS, scores, strict=True) if score is not None} | dimensions


WAVE = [
    ("faith", answers([4, 5, 2, 4, 5], pay="paid", lived="yes", race=["a"])),
    ("faith", answers([2, 3, 4, 3, "na"], pay="volunteer", lived="no", race=["a", "b"])),
    ("faith", answers([5, 5, 1, 5, 4], pay="paid", race=["b"])),
    ("survivors", answers([1, 2, 5, 2, 2], pay=PNTS, lived="yes", race=[PNTS])),
    ("survivors", answers([2, "na", 4, None, 1], pay="paid", lived="no", race=["a", "b", "c"])),
    ("police", answers([3, 3, 3, 3, 3], lived="no")),
]
ALPHA = np.array([13 / 3, 7 / 3, 5, 4 / 3, 2, 3])


@pytest.fixture
def cells() -> pd.DataFrame:
    return breakdown_cells(
        responses=responses_frame(WAVE), instrument=wave_instrument(), sensitive_sectors={"survivors"}
    )


def cell(cells: pd.DataFrame, dimensions: tuple[str, ...], groups: tuple[str, ...], area: str) -> pd.Series:
    match = cells[(cells["dimensions"] == dimensions) & (cells["groups"] == groups) & (cells["area"] == area)]
    assert len(match) == 1, (dimensions, groups, area)
    return match.iloc[0]


def groups_of(cells: pd.DataFrame, dimensions: tuple[str, ...], area: str) -> dict[tuple[str, ...], int]:
    table = cells[(cells["dimensions"] == dimensions) & (cells["area"] == area)]
    return dict(zip(table["groups"], table["n"], strict=True))


def assert_gap_matches_scipy(row: pd.Series, group: np.ndarray, rest: np.ndarray) -> None:
    welch = stats.ttest_ind(group, rest, equal_var=False)
    n1, n2 = len(group), len(rest)
    pooled = math.sqrt(((n1 - 1) * group.var(ddof=1) + (n2 - 1) * rest.var(ddof=1)) / (n1 + n2 - 2))
    assert row["gap"] == pytest.approx(group.mean() - rest.mean(), **TIGHT)
    assert row["p_value"] == pytest.approx(welch.pvalue, **TIGHT)
    assert row["hedges_g"] == pytest.approx(
        (1 - 3 / (4 * (n1 + n2) - 9)) * (group.mean() - rest.mean()) / pooled, **TIGHT
    )


def test_the_overall_table_holds_everyone_without_a_gap(cells: pd.DataFrame) -> None:
    alpha = cell(cells, (), (), "alpha")

    assert alpha["measure"] == "area"
    assert alpha["n"] == 6
    assert alpha["mean"] == pytest.approx(3.0, **TIGHT)  # (13 + 7 + 15 + 4 + 6 + 9) / 18
    assert alpha["sd"] == pytest.approx(ALPHA.std(ddof=1), **TIGHT)
    low, high = stats.t.interval(0.95, 5, loc=3.0, scale=ALPHA.std(ddof=1) / math.sqrt(6))
    assert (alpha["ci_low"], alpha["ci_high"]) == (pytest.approx(low, **TIGHT), pytest.approx(high, **TIGHT))
    assert alpha["score_100"] == pytest.approx(50.0, **TIGHT)
    assert alpha[["gap", "p_value", "q_value", "hedges_g"]].isna().all()
    assert not alpha["flag"]
    assert cell(cells, (), (), "overall")["measure"] == "overall"
    assert cell(cells, (), (), "alpha-3")["measure"] == "item"
    assert cell(cells, (), (), "alpha-3")["mean"] == pytest.approx((4 + 2 + 5 + 1 + 2 + 3) / 6, **TIGHT)


def test_a_sector_cell_is_compared_with_everyone_else(cells: pd.DataFrame) -> None:
    faith = cell(cells, ("sector",), ("faith",), "alpha")

    assert faith["n"] == 3
    assert faith["mean"] == pytest.approx(35 / 9, **TIGHT)
    assert faith["gap"] == pytest.approx(35 / 9 - 19 / 9, **TIGHT)
    assert_gap_matches_scipy(faith, ALPHA[:3], ALPHA[3:])
    assert groups_of(cells, ("sector",), "alpha") == {("faith",): 3, ("police",): 1, ("survivors",): 2}


def test_multi_select_dimensions_report_each_option_alone_and_more_than_one(cells: pd.DataFrame) -> None:
    assert groups_of(cells, ("race",), "alpha") == {
        ("a",): 3,  # r0, r1, r4: alone or in combination
        ("b",): 3,  # r1, r2, r4
        ("c",): 1,  # r4
        ("alone:a",): 1,  # r0
        ("alone:b",): 1,  # r2; nobody chose c alone, so there is no alone:c cell
        ("more-than-one",): 2,  # r1, r4
        (PNTS,): 1,  # r3; r5 skipped the question and is in no group
    }
    option_a = cell(cells, ("race",), ("a",), "alpha")
    assert option_a["mean"] == pytest.approx(26 / 9, **TIGHT)
    assert_gap_matches_scipy(option_a, ALPHA[[0, 1, 4]], ALPHA[[2, 3, 5]])
    assert cell(cells, ("race",), ("more-than-one",), "alpha")["mean"] == pytest.approx((7 / 3 + 2) / 2, **TIGHT)


def test_prefer_not_to_say_is_a_group_and_a_skipped_dimension_puts_nobody_in_a_group(cells: pd.DataFrame) -> None:
    assert groups_of(cells, ("pay",), "alpha") == {("paid",): 3, ("volunteer",): 1, (PNTS,): 1}
    assert cell(cells, ("pay",), (PNTS,), "alpha")["mean"] == pytest.approx(4 / 3, **TIGHT)
    # Everyone else includes r5, who skipped the question.
    paid = cell(cells, ("pay",), ("paid",), "alpha")
    assert paid["gap"] == pytest.approx(34 / 9 - 20 / 9, **TIGHT)
    assert_gap_matches_scipy(paid, ALPHA[[0, 2, 4]], ALPHA[[1, 3, 5]])
    assert groups_of(cells, ("lived",), "alpha") == {("yes",): 2, ("no",): 3}


def test_crosses_compare_the_cross_cell_with_everyone_else_in_the_wave(cells: pd.DataFrame) -> None:
    faith_a = cell(cells, ("sector", "race"), ("faith", "a"), "alpha")

    assert faith_a["n"] == 2
    assert faith_a["mean"] == pytest.approx(10 / 3, **TIGHT)
    assert faith_a["gap"] == pytest.approx(10 / 3 - 17 / 6, **TIGHT)  # the rest: r2, r3, r4, r5
    assert_gap_matches_scipy(faith_a, ALPHA[[0, 1]], ALPHA[[2, 3, 4, 5]])
    assert groups_of(cells, ("sector", "race"), "alpha") == {
        ("faith", "a"): 2,
        ("faith", "b"): 2,
        ("faith", "alone:a"): 1,
        ("faith", "alone:b"): 1,
        ("faith", "more-than-one"): 1,
        ("survivors", "a"): 1,
        ("survivors", "b"): 1,
        ("survivors", "c"): 1,
        ("survivors", "more-than-one"): 1,
        ("survivors", PNTS): 1,
    }
    assert groups_of(cells, ("sector", "pay"), "beta") == {
        ("faith", "paid"): 2,
        ("faith", "volunteer"): 1,
        ("survivors", PNTS): 1,
        ("survivors", "paid"): 1,
    }


def test_tables_come_in_order_and_cells_without_respondents_are_left_out(cells: pd.DataFrame) -> None:
    tables = list(dict.fromkeys(cells["dimensions"]))

    assert tables == [
        (),
        ("sector",),
        ("pay",),
        ("sector", "pay"),
        ("lived",),
        ("sector", "lived"),
        ("race",),
        ("sector", "race"),
    ]
    assert list(cells.columns) == CELL_COLUMNS
    assert (cells["n"] > 0).all()
    assert cells["n"].dtype == np.int64
    assert cells[cells["dimensions"] == ()]["area"].tolist() == ["overall", "alpha", "beta", *ITEMS]


def test_sensitive_sectors_and_sensitive_options_mark_their_cells(cells: pd.DataFrame) -> None:
    sensitive = {
        (row.dimensions, row.groups) for row in cells[cells["area"] == "alpha"].itertuples() if row.is_sensitive
    }

    assert sensitive == {
        (("sector",), ("survivors",)),
        (("lived",), ("yes",)),
        (("sector", "lived"), ("faith", "yes")),
        (("sector", "lived"), ("survivors", "yes")),
        (("sector", "lived"), ("survivors", "no")),
        (("sector", "pay"), ("survivors", PNTS)),
        (("sector", "pay"), ("survivors", "paid")),
        (("sector", "race"), ("survivors", "a")),
        (("sector", "race"), ("survivors", "b")),
        (("sector", "race"), ("survivors", "c")),
        (("sector", "race"), ("survivors", "more-than-one")),
        (("sector", "race"), ("survivors", PNTS)),
    }


def test_a_sensitive_dimension_without_sensitive_options_protects_every_answer_but_prefer_not_to_say() -> None:
    instrument = wave_instrument()
    instrument["dimensions"][1].pop("sensitive_options")

    cells = breakdown_cells(responses=responses_frame(WAVE), instrument=instrument)

    lived = cells[(cells["dimensions"] == ("lived",)) & (cells["area"] == "alpha")]
    assert dict(zip(lived["groups"], lived["is_sensitive"], strict=True)) == {("yes",): True, ("no",): True}


def test_q_values_correct_every_gap_test_of_the_call_and_flags_need_a_large_gap(cells: pd.DataFrame) -> None:
    tested = cells["p_value"].notna()
    _reject, expected, _sidak, _bonferroni = multipletests(cells.loc[tested, "p_value"], method="fdr_bh")

    np.testing.assert_allclose(cells.loc[tested, "q_value"].to_numpy(), expected, rtol=1e-14, atol=0)
    assert cells.loc[~tested, "q_value"].isna().all()
    assert cells["flag"].tolist() == ((cells["gap"].abs() >= 0.5) & (cells["q_value"] <= 0.05)).tolist()


def test_the_gap_threshold_is_configurable() -> None:
    # Sector a: alpha 5 and 4.5, twenty times each (mean 4.75); sector b: alpha 4.5 forty times.
    sector_a = [("a", {"alpha-1": 5, "alpha-2": 5}), ("a", {"alpha-1": 4, "alpha-2": 5})] * 20
    sector_b = [("b", {"alpha-1": 5, "alpha-2": 4}), ("b", {"alpha-1": 4, "alpha-2": 5})] * 20
    responses = responses_frame(sector_a + sector_b)

    default = breakdown_cells(responses=responses, instrument=wave_instrument())
    lower = breakdown_cells(responses=responses, instrument=wave_instrument(), gap_threshold=0.2)

    sector_a = (default["groups"] == ("a",)) & (default["area"] == "alpha")
    assert default.loc[sector_a, "gap"].tolist() == pytest.approx([0.25], **TIGHT)
    assert default.loc[sector_a, "flag"].tolist() == [False]
    assert lower.loc[sector_a, "flag"].tolist() == [True]


def test_a_wave_without_responses_has_no_cells() -> None:
    cells = breakdown_cells(responses=responses_frame([]), instrument=wave_instrument())

    assert list(cells.columns) == CELL_COLUMNS
    assert len(cells) == 0


def test_pair_matrix_counts_ratings_and_flags_asymmetry_of_one_point_or_more() -> None:
    responses = responses_frame(
        [
            ("faith", {"pair:police": 4, "pair:funders": "none"}),
            ("faith", {"pair:police": 2, "pair:faith": 1}),
            ("police", {"pair:faith": 1, "pair:funders": 3}),
            ("police", {"pair:faith": 3}),
            ("funders", {"pair:police": 3}),
            ("funders", {"pair:police": 4, "pair:faith": "none"}),
            ("other", {"pair:faith": 5}),  # not an active sector: not a rater
        ]
    )

    matrix = pair_matrix(responses=responses, sectors=["faith", "police", "funders"]).set_index(
        ["rater_sector", "rated_sector"]
    )

    assert len(matrix) == 9
    assert matrix["n"].to_dict() == {
        ("faith", "faith"): 1,
        ("faith", "police"): 2,
        ("faith", "funders"): 0,  # "none" is not a rating
        ("police", "faith"): 2,
        ("police", "police"): 0,
        ("police", "funders"): 1,
        ("funders", "faith"): 0,
        ("funders", "police"): 2,
        ("funders", "funders"): 0,
    }
    assert matrix.loc[("faith", "police"), "mean"] == 3.0
    assert matrix.loc[("police", "faith"), "mean"] == 2.0
    assert matrix.loc[("faith", "police"), "asymmetry"] == 1.0
    assert matrix.loc[("police", "faith"), "asymmetry"] == 1.0
    assert matrix.loc[("police", "funders"), "asymmetry"] == 0.5
    assert math.isnan(matrix.loc[("faith", "funders"), "asymmetry"])
    assert math.isnan(matrix.loc[("faith", "faith"), "asymmetry"])
    assert matrix.index[matrix["flag"]].tolist() == [("faith", "police"), ("police", "faith")]


def test_trend_reports_the_change_of_mean_for_cells_in_both_waves() -> None:
    keys = {"dimensions": [(), ("sector",), ("sector",)], "measure": ["area"] * 3, "area": ["alpha"] * 3}
    current = pd.DataFrame(
        {**keys, "groups": [(), ("faith",), ("police",)], "n": [30, 12, 9], "mean": [3.5, 3.25, 4.0]}
    )
    previous = pd.DataFrame(
        {**keys, "groups": [(), ("faith",), ("funders",)], "n": [28, 11, 7], "mean": [3.0, 3.75, 2.0]}
    )

    changes = trend(current_cells=current, previous_cells=previous)

    assert changes.columns.tolist() == [
        *TREND_KEYS,
        "n_current",
        "mean_current",
        "n_previous",
        "mean_previous",
        "change",
    ]
    assert changes["groups"].tolist() == [(), ("faith",)]
    assert changes["n_current"].tolist() == [30, 12]
    assert changes["n_previous"].tolist() == [28, 11]
    assert changes["change"].tolist() == [0.5, -0.5]


# --- The vectorised breakdown against a naive per-group loop -------------------------------------------------------


def random_wave(rng: np.random.Generator, instrument: dict[str, Any], sectors: list[str], count: int) -> pd.DataFrame:
    """Return a wave with sector effects (so that some gaps flag), "na", skipped answers and every kind of group."""
    scales = instrument["scales"]
    effects = dict(zip(sectors, rng.normal(0, 0.8, len(sectors)), strict=True))
    rows = []
    for _ in range(count):
        sector = str(rng.choice(sectors))
        answers: dict[str, Any] = {}
        for section in instrument["sections"]:
            for item in section["items"]:
                if item["type"] != "scale":
                    continue
                points = scales[item["scale"]]["points"]
                draw = rng.random()
                if draw < 0.08:
                    answers[item["slug"]] = "na"
                elif draw >= 0.18:
                    latent = 1 + (points - 1) * (0.6 + effects[sector] / 4) + rng.normal(0, points / 4)
                    answers[item["slug"]] = int(np.clip(np.rint(latent), 1, points))
        for dimension in instrument["dimensions"]:
            slugs = [option["slug"] for option in dimension["options"]]
            draw = rng.random()
            if draw < 0.1:
                continue
            if draw < 0.18:
                answers[dimension["slug"]] = [PNTS] if dimension["multiple"] else PNTS
            elif dimension["multiple"]:
                chosen = rng.choice(slugs[:-1], size=int(rng.choice([1, 1, 1, 2, 3])), replace=False)
                answers[dimension["slug"]] = [str(slug) for slug in chosen]
            else:
                answers[dimension["slug"]] = str(rng.choice(slugs[:-1]))
        rows.append((sector, answers))
    return responses_frame(rows)


def naive_cells(responses: pd.DataFrame, instrument: dict[str, Any], sensitive_sectors: set[str]) -> pd.DataFrame:
    """Return the breakdown by looping over groups and measures with numpy, scipy and statsmodels."""
    items = scale_item_scores(responses=responses, instrument=instrument)
    areas = area_scores(responses=responses, instrument=instrument)
    measures = [("overall", "overall", health_index(area_scores=areas).to_numpy())]
    measures += [("area", area, areas[area].to_numpy()) for area in areas.columns]
    measures += [("item", item, items[item].to_numpy()) for item in items.columns]

    sector_of = responses["sector"].tolist()
    sectors = sorted(set(sector_of))
    everyone = np.ones(len(responses), dtype=bool)
    groups = [((), (), everyone, False)]
    groups += [(("sector",), (s,), np.array([x == s for x in sector_of]), s in sensitive_sectors) for s in sectors]
    for dimension in instrument["dimensions"]:
        slug = dimension["slug"]
        answers = responses[slug].tolist() if slug in responses.columns else [None] * len(responses)
        answer_options = [option["slug"] for option in dimension["options"] if option["slug"] != PNTS]
        sensitive_options = set(dimension.get("sensitive_options", []))
        dimension_groups = []
        if dimension["multiple"]:
            chosen = [answer if isinstance(answer, list) else [] for answer in answers]
            for option in answer_options:
                member = np.array([option in answer for answer in chosen])
                dimension_groups.append((option, member, option in sensitive_options))
            for option in answer_options:
                member = np.array([answer == [option] for answer in chosen])
                dimension_groups.append((f"alone:{option}", member, option in sensitive_options))
            several = np.array([len([x for x in answer if x != PNTS]) >= 2 for answer in chosen])
            dimension_groups.append(("more-than-one", several, bool(sensitive_options)))
            dimension_groups.append((PNTS, np.array([PNTS in answer for answer in chosen]), False))
        else:
            for option in [*answer_options, PNTS]:
                member = np.array([answer == option for answer in answers])
                dimension_groups.append((option, member, option in sensitive_options))
        groups += [((slug,), (group,), member, sensitive) for group, member, sensitive in dimension_groups]
        for s in sectors:
            in_sector = np.array([x == s for x in sector_of])
            groups += [
                (("sector", slug), (s, group), member & in_sector, sensitive or s in sensitive_sectors)
                for group, member, sensitive in dimension_groups
            ]

    rows = []
    for dimensions, group_slugs, member, is_sensitive in groups:
        for kind, slug, values in measures:
            present = ~np.isnan(values)
            group, rest = values[member & present], values[~member & present]
            if len(group) == 0:
                continue
            row = {"dimensions": dimensions, "groups": group_slugs, "measure": kind, "area": slug, "n": len(group)}
            row.update(mean=group.mean(), sd=np.nan, ci_low=np.nan, ci_high=np.nan, score_100=(group.mean() - 1) * 25)
            row.update(gap=np.nan, p_value=np.nan, hedges_g=np.nan, gap_ci_low=np.nan, gap_ci_high=np.nan)
            row.update(is_sensitive=is_sensitive)
            if len(group) >= 2:
                sd = group.std(ddof=1)
                # scipy refuses a zero scale; the interval of a constant cell is the point itself.
                low, high = (
                    stats.t.interval(0.95, len(group) - 1, loc=group.mean(), scale=sd / math.sqrt(len(group)))
                    if sd > 0
                    else (group.mean(), group.mean())
                )
                row.update(sd=sd, ci_low=low, ci_high=high)
            if len(group) >= 2 and len(rest) >= 2:
                n1, n2 = len(group), len(rest)
                gap = group.mean() - rest.mean()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    welch = stats.ttest_ind(group, rest, equal_var=False)
                    p_value = welch.pvalue
                    interval = welch.confidence_interval(0.95)
                pooled = math.sqrt(((n1 - 1) * group.var(ddof=1) + (n2 - 1) * rest.var(ddof=1)) / (n1 + n2 - 2))
                hedges = (1 - 3 / (4 * (n1 + n2) - 9)) * gap / pooled if pooled > 0 else np.nan
                row.update(
                    gap=gap, p_value=p_value, hedges_g=hedges, gap_ci_low=interval.low, gap_ci_high=interval.high
                )
            rows.append(row)
    frame = pd.DataFrame(rows)
    tested = frame["p_value"].notna()
    frame["q_value"] = np.nan
    frame.loc[tested, "q_value"] = multipletests(frame.loc[tested, "p_value"], method="fdr_bh")[1]
    frame["flag"] = (frame["gap"].abs() >= 0.5) & (frame["q_value"] <= 0.05)
    return frame[CELL_COLUMNS]


def assert_same_cells(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected)
    for column in ["dimensions", "groups", "measure", "area", "n", "flag", "is_sensitive"]:
        assert actual[column].tolist() == expected[column].tolist(), column
    for column in ["mean", "sd", "ci_low", "ci_high", "score_100", "gap", "p_value", "q_value", "hedges_g"]:
        np.testing.assert_allclose(
            actual[column].to_numpy(dtype=float),
            expected[column].to_numpy(dtype=float),
            rtol=1e-12,
            atol=1e-12,
            err_msg=column,
        )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_breakdown_matches_a_naive_loop_on_random_waves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    instrument = wave_instrument(with_seven_point_item=True)
    responses = random_wave(rng, instrument, ["faith", "funders", "police", "survivors"], 300)

    actual = breakdown_cells(responses=responses, instrument=instrument, sensitive_sectors={"survivors"})

    expected = naive_cells(responses, instrument, {"survivors"})
    assert_same_cells(actual, expected)
    assert actual["flag"].sum() > 0  # the sector effects make some gaps large and significant
    assert actual["p_value"].notna().sum() > 500


def test_the_breakdown_of_the_default_instruments_dimensions_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(2024)
    instrument = json.loads(DEFAULT_INSTRUMENT.read_text(encoding="utf-8"))
    # All nine dimensions, but three of the fourteen areas: the naive loop costs a scipy call per cell.
    instrument["areas"] = instrument["areas"][:3]
    instrument["sections"] = instrument["sections"][:3]
    responses = random_wave(rng, instrument, ["law-enforcement", "survivor-leaders", "victim-services"], 150)

    actual = breakdown_cells(responses=responses, instrument=instrument, sensitive_sectors={"survivor-leaders"})

    assert_same_cells(actual, naive_cells(responses, instrument, {"survivor-leaders"}))
    assert set(actual["dimensions"]) >= {("gender",), ("race-ethnicity",), ("sector", "lived-experience")}
