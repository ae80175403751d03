"""Scoring: reverse keying, "na", the half-of-items rule, the health index, 0–100 and bands."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.engine.frame import responses_frame
from analytics.engine.scoring import (
    area_scores,
    band,
    health_index,
    item_scores,
    scale_item_scores,
    to_100,
)

DEFAULT_INSTRUMENT = Path(__file__).resolve().parents[2] / "surveys" / "data" / "instruments" / "default.json"
TEXT = {"en": "x"}


def mini_instrument() -> dict[str, Any]:
    """Two areas: `alpha` with three 5-point items (one reversed), `beta` with two 7-point items."""
    return {
        "scales": {"agree5": {"points": 5}, "agree7": {"points": 7}},
        "areas": [{"slug": "alpha"}, {"slug": "beta"}],
        "sections": [
            {
                "slug": "only",
                "items": [
                    {"slug": "alpha-1", "type": "scale", "scale": "agree5", "area": "alpha", "text": TEXT},
                    {"slug": "alpha-2", "type": "scale", "scale": "agree5", "area": "alpha", "text": TEXT},
                    {"slug": "alpha-3", "type": "scale", "scale": "agree5", "area": "alpha", "reverse": True},
                    {"slug": "beta-1", "type": "scale", "scale": "agree7", "area": "beta"},
                    {"slug": "beta-2", "type": "scale", "scale": "agree7", "area": "beta", "reverse": True},
                    {"slug": "change", "type": "single", "options": [{"slug": "better"}, {"slug": "worse"}]},
                ],
            }
        ],
        "dimensions": [],
    }


def test_item_scores_reverse_keyed_items_and_treat_na_and_invalid_answers_as_missing() -> None:
    raw = pd.Series([1, 5, "na", None, 3, 6, 2.5], dtype=object)

    reversed_scores = item_scores(raw=raw, points=5, reverse=True)
    plain_scores = item_scores(raw=raw, points=5, reverse=False)

    assert reversed_scores.tolist()[:2] == [5.0, 1.0]
    assert reversed_scores.tolist()[4] == 3.0
    assert reversed_scores.isna().tolist() == [False, False, True, True, False, True, True]
    assert plain_scores.tolist()[:2] == [1.0, 5.0]
    assert plain_scores.isna().sum() == 4


def test_scale_item_scores_keep_five_point_items_and_map_other_scales_onto_one_to_five() -> None:
    responses = responses_frame(
        [
            ("faith", {"alpha-1": 4, "alpha-3": 2, "beta-1": 4, "beta-2": 2}),
            ("faith", {"alpha-1": "na", "beta-1": 7, "beta-2": 7}),
        ]
    )

    scores = scale_item_scores(responses=responses, instrument=mini_instrument())

    assert list(scores.columns) == ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"]
    first, second = scores.iloc[0], scores.iloc[1]
    assert first["alpha-1"] == 4.0
    assert math.isnan(first["alpha-2"])  # nobody answered: no column in the frame
    assert first["alpha-3"] == 4.0  # 5 + 1 − 2
    assert first["beta-1"] == 3.0  # 1 + 4 · (4 − 1) / 6
    assert first["beta-2"] == pytest.approx(1 + 4 * 5 / 6, rel=1e-15)  # 7-point reversed: 8 − 2 = 6
    assert math.isnan(second["alpha-1"])
    assert second["beta-1"] == 5.0
    assert second["beta-2"] == 1.0


def test_area_scores_follow_the_half_of_the_items_rule() -> None:
    responses = responses_frame(
        [
            ("faith", {"alpha-1": 4, "alpha-2": 5, "alpha-3": 1}),  # 3 of 3 answered
            ("faith", {"alpha-1": 2, "alpha-3": 3}),  # 2 of 3: scored
            ("faith", {"alpha-1": 3, "alpha-2": "na", "alpha-3": "na"}),  # 1 of 3: "na" is not an answer
            ("faith", {"beta-2": 7}),  # 1 of 2 is half: scored
            ("faith", {}),
        ]
    )

    scores = area_scores(responses=responses, instrument=mini_instrument())

    assert list(scores.columns) == ["alpha", "beta"]
    assert scores["alpha"].iloc[0] == pytest.approx((4 + 5 + 5) / 3, rel=1e-15)
    assert scores["alpha"].iloc[1] == 2.5  # (2 + (6 − 3)) / 2
    assert scores["alpha"].isna().tolist() == [False, False, True, True, True]
    assert scores["beta"].isna().tolist() == [True, True, True, False, True]
    assert scores["beta"].iloc[3] == 1.0


def test_area_scores_of_the_default_instrument_reverse_the_negative_items_and_strain_ratings() -> None:
    instrument = json.loads(DEFAULT_INSTRUMENT.read_text(encoding="utf-8"))
    responses = responses_frame(
        [
            ("police", {"power-1": 4, "power-2": 5, "power-3": 2, "power-strain": 1}),
            ("police", {"power-1": "na", "power-2": 3, "power-strain": "na"}),
            ("police", {"power-1": 1, "power-strain": 4, "trust-3": 5}),
        ]
    )

    scores = area_scores(responses=responses, instrument=instrument)

    assert list(scores.columns) == [area["slug"] for area in instrument["areas"]]
    assert scores["power"].iloc[0] == 4.5  # (4 + 5 + (6 − 2) + (6 − 1)) / 4
    assert math.isnan(scores["power"].iloc[1])  # 1 of 4 answered
    assert scores["power"].iloc[2] == 1.5  # (1 + (6 − 4)) / 2
    assert math.isnan(scores["trust"].iloc[2])  # 1 of 4 answered
    assert scores.drop(columns="power").isna().all().all()


def test_health_index_averages_the_available_areas_when_at_least_half_are_scored() -> None:
    areas = [f"area-{index}" for index in range(14)]
    seven = [4.0, 3.0, 2.0, 5.0, 4.5, 3.5, 1.0] + [np.nan] * 7
    six = [4.0, 3.0, 2.0, 5.0, 4.5, 3.5] + [np.nan] * 8
    scores = pd.DataFrame([seven, six, [3.0] * 14], columns=areas, index=[10, 11, 12])

    index = health_index(area_scores=scores)

    assert index.index.tolist() == [10, 11, 12]
    assert index.loc[10] == pytest.approx(23.0 / 7, rel=1e-15)
    assert math.isnan(index.loc[11])
    assert index.loc[12] == 3.0


@pytest.mark.parametrize(
    ("score", "expected"),
    [(1.0, 0.0), (3.0, 50.0), (5.0, 100.0), (4.2, 80.0), (2.5, 37.5)],
)
def test_to_100_maps_one_to_five_onto_zero_to_hundred(score: float, expected: float) -> None:
    assert to_100(score=score) == pytest.approx(expected, rel=1e-15, abs=1e-13)


def test_to_100_works_on_arrays() -> None:
    assert to_100(score=np.array([1.0, 2.0, 5.0])).tolist() == [0.0, 25.0, 100.0]


@pytest.mark.parametrize(
    ("mean", "expected"),
    [
        pytest.param(5.0, "strength", id="top"),
        pytest.param(4.0, "strength", id="4.0-is-strength"),
        pytest.param(3.99, "watch", id="3.99-is-watch"),
        pytest.param(3.9999999, "watch", id="unrounded-just-below-4"),
        pytest.param(3.0, "watch", id="3.0-is-watch"),
        pytest.param(2.999, "concern", id="2.999-is-concern"),
        pytest.param(1.0, "concern", id="bottom"),
    ],
)
def test_band_uses_unrounded_means(mean: float, expected: str) -> None:
    assert band(mean=mean) == expected


def test_band_thresholds_are_configurable() -> None:
    assert band(mean=3.6, strength=3.5, watch=2.5) == "strength"
    assert band(mean=2.5, strength=3.5, watch=2.5) == "watch"
    assert band(mean=2.49, strength=3.5, watch=2.5) == "concern"


def test_band_refuses_a_missing_mean() -> None:
    with pytest.raises(ValueError, match="missing mean"):
        band(mean=math.nan)


def test_responses_frame_puts_the_sector_first_and_keeps_the_stored_answers() -> None:
    frame = responses_frame(
        iter(
            [
                ("faith", {"power-1": 4, "gender": ["woman", "man"], "pair:faith": "none"}),
                ("funders", {"power-1": "na", "lived-experience": "no"}),
            ]
        )
    )

    assert list(frame.columns) == ["sector", "power-1", "gender", "pair:faith", "lived-experience"]
    assert frame["sector"].tolist() == ["faith", "funders"]
    assert frame["power-1"].tolist() == [4, "na"]
    assert frame["gender"].iloc[0] == ["woman", "man"]
    assert frame["pair:faith"].iloc[0] == "none"
    assert frame[["gender", "pair:faith"]].iloc[1].isna().tolist() == [True, True]
    assert frame["lived-experience"].tolist()[1] == "no"


def test_responses_frame_of_no_rows_has_only_the_sector_column() -> None:
    frame = responses_frame([])

    assert list(frame.columns) == ["sector"]
    assert len(frame) == 0


def test_the_frame_keeps_one_row_per_response_when_nobody_answered_anything() -> None:
    responses = responses_frame([("faith", {}), ("health", {})])

    assert responses.to_dict(orient="list") == {"sector": ["faith", "health"]}
