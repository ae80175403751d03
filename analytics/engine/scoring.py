"""Scoring of responses: reverse keying, "don't know" as missing, area scores, health index, bands.

See DOMAIN.md, Scoring. All scores are on a 1–5 frame where a high score
means a healthy partnership.
"""

import math
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics.engine.frame import NOT_APPLICABLE, area_slugs, numeric_answers, scale_items

COMMON_POINTS = 5
STRENGTH = 4.0
WATCH = 3.0

Band = Literal["strength", "watch", "concern"]
Score = TypeVar("Score", float, npt.NDArray[np.float64])


def item_scores(*, raw: pd.Series, points: int, reverse: bool) -> pd.Series:
    """Return item scores on the item's own scale: reversed when keyed so, missing for "na".

    `raw` holds integers 1..points, "na", or missing values; anything else
    (out of range, not a whole number, not a number) is missing too.
    """
    values = numeric_answers(raw, text_answer=NOT_APPLICABLE)
    with np.errstate(invalid="ignore"):
        # floor(x) == x is x % 1 == 0 for every number in range (and false for NaN), ten times faster.
        is_answer = (values >= 1) & (values <= points) & (np.floor(values) == values)
    scores = np.where(is_answer, values, np.nan)
    if reverse:
        scores = (points + 1) - scores
    return pd.Series(scores, index=raw.index, name=raw.name)


def scale_item_scores(*, responses: pd.DataFrame, instrument: Mapping[str, Any]) -> pd.DataFrame:
    """Return every scale item's scores on the common 1–5 frame, one column per item slug.

    The bands, the 0.5 gap threshold and the 0–100 conversion are defined on
    a 1–5 scale, so every item is put on that frame: a k-point score x
    becomes 1 + 4(x − 1)/(k − 1). For 5-point items (all of the default
    instrument's) that is the identity, so their scores are the reverse-keyed
    answers themselves; only instruments with other scales are rescaled.
    An item nobody answered (no column) is all missing.
    """
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for item in scale_items(instrument):
        if item.slug not in responses.columns:
            columns[item.slug] = np.full(len(responses), np.nan)
            continue
        own_scale = item_scores(raw=responses[item.slug], points=item.points, reverse=item.is_reversed)
        scores = own_scale.to_numpy(dtype="float64")
        if item.points != COMMON_POINTS:
            scores = 1 + (COMMON_POINTS - 1) * (scores - 1) / (item.points - 1)
        columns[item.slug] = scores
    return pd.DataFrame(columns, index=responses.index)


def _mean_of_enough(values: npt.NDArray[np.float64], *, minimum: int) -> npt.NDArray[np.float64]:
    """Return each row's mean of its non-missing values, missing when fewer than `minimum` are present."""
    answered = np.count_nonzero(~np.isnan(values), axis=1)
    total = np.nansum(values, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: npt.NDArray[np.float64] = np.where(answered >= max(minimum, 1), total / answered, np.nan)
    return means


def area_scores_from_items(*, items: pd.DataFrame, instrument: Mapping[str, Any]) -> pd.DataFrame:
    """Return area scores from `scale_item_scores` output; see `area_scores`."""
    items_by_area: dict[str, list[str]] = {slug: [] for slug in area_slugs(instrument)}
    for item in scale_items(instrument):
        if item.area is not None:
            items_by_area[item.area].append(item.slug)
    columns = {
        area: _mean_of_enough(items[slugs].to_numpy(dtype="float64"), minimum=math.ceil(len(slugs) / 2))
        for area, slugs in items_by_area.items()
    }
    return pd.DataFrame(columns, index=items.index)


def area_scores(*, responses: pd.DataFrame, instrument: Mapping[str, Any]) -> pd.DataFrame:
    """Return each respondent's score per area (columns: area slugs in the instrument's order).

    The score is the mean of the respondent's answered scale items of the area
    after reverse keying, on the common 1–5 frame (`scale_item_scores`:
    5-point items as answered, other scales rescaled linearly). It needs at
    least half of the area's scale items, ceil(n / 2), answered ("na" is not
    an answer); otherwise it is missing (NaN).
    """
    items = scale_item_scores(responses=responses, instrument=instrument)
    return area_scores_from_items(items=items, instrument=instrument)


def health_index(*, area_scores: pd.DataFrame) -> pd.Series:
    """Return each respondent's mean of their area scores; needs ceil(half) of the areas, else NaN."""
    minimum = math.ceil(area_scores.shape[1] / 2)
    means = _mean_of_enough(area_scores.to_numpy(dtype="float64"), minimum=minimum)
    return pd.Series(means, index=area_scores.index, name="overall")


def to_100(*, score: Score) -> Score:
    """Return a 1–5 score on 0–100: 1 → 0, 3 → 50, 5 → 100."""
    return (score - 1) / 4 * 100


def band(*, mean: float, strength: float = STRENGTH, watch: float = WATCH) -> Band:
    """Return the band of an unrounded 1–5 mean: ≥ strength, ≥ watch, else concern.

    The thresholds are the coalition's own (DOMAIN.md); a missing mean has no band.
    """
    if math.isnan(mean):
        raise ValueError("a missing mean has no band")
    if mean >= strength:
        return "strength"
    if mean >= watch:
        return "watch"
    return "concern"
