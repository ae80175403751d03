"""The engine's inputs: the responses frame and the parts of an instrument definition it reads.

Inputs (docs/instrument-format.md describes both):

- `instrument`: the instrument definition, the plain dict of an instrument
  file (`surveys/data/instruments/default.json`). The engine reads `areas`
  (slugs, in order), `scales` (`points`), the `scale` items of
  `sections[].items[]` (`slug`, `scale`, `area`, optional `reverse`) and
  `dimensions` (`slug`, `multiple`, `sensitive`, optional
  `sensitive_options`, `options`). `scale_items` and `dimensions` below turn
  those into typed records.
- `responses`: a DataFrame with one row per response. Column `sector` holds
  the respondent's sector slug; every other column is one key of the stored
  answers JSON: a scale item (an int 1..points, "na", or missing), a
  single-choice dimension (an option slug), a multi-select dimension (a list
  of option slugs), a pair-matrix key "pair:<sector-slug>" (an int 1..5 or
  "none"). A skipped question is a missing value, or a missing column when
  nobody answered it. `responses_frame` builds this frame from stored rows.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

SECTOR = "sector"
NOT_APPLICABLE = "na"
NO_RELATIONSHIP = "none"
PAIR_PREFIX = "pair:"
PREFER_NOT_TO_SAY = "prefer-not-to-say"


@dataclass(frozen=True)
class ScaleItem:
    """A `scale` item of the instrument: where its answers live and how to score them."""

    slug: str
    points: int
    is_reversed: bool
    area: str | None


@dataclass(frozen=True)
class Dimension:
    """A social-location question; `options` in the instrument's order, `prefer-not-to-say` last."""

    slug: str
    options: tuple[str, ...]
    is_multiple: bool
    is_sensitive: bool
    sensitive_options: frozenset[str]


def responses_frame(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Return the responses frame for `(sector slug, answers dict)` rows, in the rows' order.

    Answers keep their stored values: the scoring functions read "na", "none"
    and lists themselves, so nothing is converted twice.
    """
    sectors: list[str] = []
    answers: list[Mapping[str, Any]] = []
    for sector, answer in rows:
        sectors.append(sector)
        answers.append(answer)
    # One row per response even when every answers dict is empty (from_records would give 0 rows).
    frame = (
        pd.DataFrame(answers, index=pd.RangeIndex(len(answers))) if answers else pd.DataFrame(index=pd.RangeIndex(0))
    )
    frame.insert(0, SECTOR, pd.Series(sectors, index=frame.index, dtype=object))
    return frame


def numeric_answers(raw: pd.Series, *, text_answer: str) -> npt.NDArray[np.float64]:
    """Return a column of numeric answers as floats: `text_answer` ("na", "none") and non-numbers are NaN."""
    if raw.dtype.kind in "fiu":
        return np.asarray(raw.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    values = raw.to_numpy(dtype=object)
    try:
        # Stored answers hold only ints, the text answer and missing values: one comparison and
        # one cast, several times faster than pd.to_numeric's string parsing on 200 000 rows.
        return np.where(values == text_answer, np.nan, values).astype(np.float64)
    except (TypeError, ValueError):
        return np.asarray(pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))


def area_slugs(instrument: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the instrument's area slugs in the order of the file."""
    return tuple(str(area["slug"]) for area in instrument["areas"])


def scale_items(instrument: Mapping[str, Any]) -> tuple[ScaleItem, ...]:
    """Return the instrument's `scale` items in the order of the file."""
    scales = instrument["scales"]
    return tuple(
        ScaleItem(
            slug=str(item["slug"]),
            points=int(scales[item["scale"]]["points"]),
            is_reversed=bool(item.get("reverse", False)),
            area=str(item["area"]) if item.get("area") else None,
        )
        for section in instrument["sections"]
        for item in section["items"]
        if item["type"] == "scale"
    )


def dimensions(instrument: Mapping[str, Any]) -> tuple[Dimension, ...]:
    """Return the instrument's social-location dimensions in the order of the file."""
    return tuple(
        Dimension(
            slug=str(dimension["slug"]),
            options=tuple(str(option["slug"]) for option in dimension["options"]),
            is_multiple=bool(dimension["multiple"]),
            is_sensitive=bool(dimension["sensitive"]),
            sensitive_options=frozenset(str(option) for option in dimension.get("sensitive_options", ())),
        )
        for dimension in instrument["dimensions"]
    )
