"""Time the analytics engine on a synthetic wave: area scores and the full breakdown.

    .venv/bin/python -m bench.analytics_engine --responses 200000

The wave: 50 scale items in 14 areas (8 areas of 4 items, 6 of 3; one strain
rating per area, reverse-keyed), 13 sectors, 6 social-location dimensions
with 4–7 options (2 multi-select, one sensitive), a 13-sector pair matrix,
and realistic gaps: about 5 % "na" and 5 % skipped per item. The frame has
the dtypes `responses_frame` produces (object columns mixing ints, "na" and
missing values; lists for multi-select answers).

Wall time is measured with time.perf_counter over `--repeat` runs without
tracing; peak memory with tracemalloc in one further run (numpy and pandas
report their buffers to tracemalloc), since tracing slows the code down.
"""

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analytics.engine.breakdowns import breakdown_cells, pair_matrix
from analytics.engine.frame import responses_frame
from analytics.engine.scoring import area_scores

SECTORS = [f"sector-{index:02d}" for index in range(13)]
# (slug, option count, multi-select, sensitive): 4–7 options, prefer-not-to-say last.
DIMENSIONS = [
    ("gender", 6, True, False),
    ("race-ethnicity", 7, True, False),
    ("financial", 5, False, False),
    ("role-level", 5, False, False),
    ("org-budget", 7, False, False),
    ("lived-experience", 4, False, True),
]
TEXT = {"en": "x"}


def synthetic_instrument() -> dict[str, Any]:
    """Return an instrument with 14 areas and 50 scale items; the last item of each area is its strain rating."""
    scales = {
        "agree5": {"points": 5, "labels": {"en": list("abcde")}},
        "strain5": {"points": 5, "labels": {"en": list("abcde")}},
    }
    areas = [f"area-{index:02d}" for index in range(14)]
    items: list[dict[str, Any]] = []
    for index, area in enumerate(areas):
        for number in range(1, 4 if index < 8 else 3):
            items.append({"slug": f"{area}-{number}", "type": "scale", "scale": "agree5", "area": area, "text": TEXT})
        items.append(
            {"slug": f"{area}-strain", "type": "scale", "scale": "strain5", "area": area, "reverse": True, "text": TEXT}
        )
    dimensions = []
    for slug, option_count, is_multiple, is_sensitive in DIMENSIONS:
        options = [f"{slug}-{number}" for number in range(option_count - 1)] + ["prefer-not-to-say"]
        dimension: dict[str, Any] = {
            "slug": slug,
            "label": TEXT,
            "multiple": is_multiple,
            "sensitive": is_sensitive,
            "options": [{"slug": option, "label": TEXT} for option in options],
        }
        if is_sensitive:
            dimension["sensitive_options"] = [options[0]]
        dimensions.append(dimension)
    return {
        "scales": scales,
        "areas": [{"slug": area} for area in areas],
        "sections": [{"slug": "all", "items": items}],
        "dimensions": dimensions,
    }


def _with_gaps(values: np.ndarray, rng: np.random.Generator, *, na_share: float, skip_share: float) -> np.ndarray:
    column = values.astype(object)
    draw = rng.random(len(values))
    column[draw < na_share] = "na"
    column[(draw >= na_share) & (draw < na_share + skip_share)] = np.nan
    return column


def synthetic_responses(count: int, instrument: dict[str, Any], *, seed: int = 2024) -> pd.DataFrame:
    """Return a responses frame for `count` respondents of the synthetic instrument."""
    rng = np.random.default_rng(seed)
    sector_index = rng.integers(0, len(SECTORS), count)
    sector_effect = rng.normal(0, 0.4, len(SECTORS))[sector_index]
    latent = 3.4 + sector_effect + rng.normal(0, 0.7, count)
    columns: dict[str, Any] = {"sector": np.array(SECTORS, dtype=object)[sector_index]}
    for section in instrument["sections"]:
        for item in section["items"]:
            answer = np.clip(np.rint(latent + rng.normal(0, 0.9, count)), 1, 5).astype(np.int64)
            if item.get("reverse"):
                answer = 6 - answer
            columns[item["slug"]] = _with_gaps(answer, rng, na_share=0.05, skip_share=0.05)
    for dimension in instrument["dimensions"]:
        options = np.array([option["slug"] for option in dimension["options"]], dtype=object)
        answers = options[:-1][rng.integers(0, len(options) - 1, count)]
        draw = rng.random(count)
        if dimension["multiple"]:
            second = options[:-1][rng.integers(0, len(options) - 1, count)]
            lists = [
                [first] if first == other or share >= 0.12 else [first, other]
                for first, other, share in zip(answers, second, draw, strict=True)
            ]
            column = np.empty(count, dtype=object)
            for index, chosen in enumerate(lists):
                column[index] = chosen
            for position in np.flatnonzero((draw >= 0.90) & (draw < 0.95)):
                column[position] = ["prefer-not-to-say"]
        else:
            column = answers.copy()
            column[(draw >= 0.90) & (draw < 0.95)] = "prefer-not-to-say"
        column[draw >= 0.95] = np.nan
        columns[dimension["slug"]] = column
    for rated in SECTORS:
        strain = np.clip(np.rint(2.5 + rng.normal(0, 1.0, count)), 1, 5).astype(np.int64)
        column = strain.astype(object)
        column[rng.random(count) < 0.3] = "none"
        columns["pair:" + rated] = column
    return pd.DataFrame(columns)


def _answer_rows(responses: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """Return the frame as stored rows: (sector, answers without skipped keys)."""
    answer_columns = [column for column in responses.columns if column != "sector"]
    rows = []
    for sector, *values in responses[["sector", *answer_columns]].itertuples(index=False, name=None):
        answers = {
            key: value
            for key, value in zip(answer_columns, values, strict=True)
            if isinstance(value, list) or not pd.isna(value)
        }
        rows.append((sector, answers))
    return rows


def _time(function: Callable[[], object], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def _peak_mib(function: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        function()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the analytics engine on a synthetic wave.")
    parser.add_argument("--responses", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frame", action="store_true", help="also time responses_frame on stored-style rows")
    arguments = parser.parse_args()

    instrument = synthetic_instrument()
    responses = synthetic_responses(arguments.responses, instrument)
    sensitive = {SECTORS[6]}

    def scores() -> object:
        return area_scores(responses=responses, instrument=instrument)

    def breakdown() -> object:
        return breakdown_cells(responses=responses, instrument=instrument, sensitive_sectors=sensitive)

    def both() -> object:
        scores()
        return breakdown()

    def pairs() -> object:
        return pair_matrix(responses=responses, sectors=SECTORS)

    cells = breakdown()
    assert isinstance(cells, pd.DataFrame)
    print(
        f"wave: {arguments.responses} responses, 50 items in 14 areas, {len(SECTORS)} sectors, "
        f"{len(DIMENSIONS)} dimensions; {len(cells)} cells, {int(cells['flag'].sum())} flagged"
    )
    timings = {
        "area_scores": _time(scores, arguments.repeat),
        "breakdown_cells": _time(breakdown, arguments.repeat),
        "area_scores + breakdown_cells": _time(both, arguments.repeat),
        "pair_matrix": _time(pairs, arguments.repeat),
    }
    peaks = {"area_scores": _peak_mib(scores), "breakdown_cells": _peak_mib(breakdown)}
    peaks["area_scores + breakdown_cells"] = _peak_mib(both)
    peaks["pair_matrix"] = _peak_mib(pairs)
    if arguments.frame:
        rows = _answer_rows(responses)
        timings["responses_frame"] = _time(lambda: responses_frame(rows), arguments.repeat)
        peaks["responses_frame"] = _peak_mib(lambda: responses_frame(rows))

    input_mib = responses.memory_usage(deep=True).sum() / 2**20
    print(f"input frame: {input_mib:.0f} MiB (deep)")
    print(f"{'step':32} {'best s':>8} {'median s':>9} {'peak MiB':>9}")
    for step, seconds in timings.items():
        print(f"{step:32} {min(seconds):8.3f} {statistics.median(seconds):9.3f} {peaks[step]:9.0f}")


if __name__ == "__main__":
    main()
