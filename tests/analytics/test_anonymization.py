"""Microdata anonymization (PRIVACY.md rule 15): hierarchies, hand-worked cases, and k checked independently.

k-anonymity of every output is verified with pyCANON (`pycanon.anonymity.k_anonymity`),
an independent implementation, never with the engine's own class counting.
"""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from analytics.engine.anonymization import (
    DEFAULT_HIERARCHIES_PATH,
    MORE_THAN_ONE,
    SUPPRESSED_CLASS,
    AnonymizationError,
    anonymize,
    load_hierarchies,
    pattern_values,
    validate_hierarchies,
)
from analytics.engine.frame import PREFER_NOT_TO_SAY, SECTOR, dimensions, responses_frame

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENT: dict[str, Any] = json.loads((ROOT / "surveys/data/instruments/default.json").read_text(encoding="utf-8"))
SECTORS: list[dict[str, Any]] = json.loads((ROOT / "surveys/data/sectors.json").read_text(encoding="utf-8"))
SECTOR_SLUGS = [sector["slug"] for sector in SECTORS]
HIERARCHIES = load_hierarchies()
# pyCANON groups by a one-element list, which pandas 3 warns about; its result is unaffected.
pytestmark = pytest.mark.filterwarnings("ignore:In a future version, the keys of `groups`")
SUPPRESSED = HIERARCHIES["suppressed"]
ANY = HIERARCHIES["any"]
NOT_ANSWERED = HIERARCHIES["not_answered"]


def instrument_with(*slugs: str) -> dict[str, Any]:
    """Return the default instrument keeping only the named dimensions (in the instrument's order)."""
    instrument = copy.deepcopy(INSTRUMENT)
    instrument["dimensions"] = [dimension for dimension in instrument["dimensions"] if dimension["slug"] in slugs]
    return instrument


def frame(rows: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    return responses_frame(rows)


def repeat(count: int, sector: str, **answers: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(sector, {key.replace("_", "-"): value for key, value in answers.items()}) for _ in range(count)]


def pycanon_k(result: Any) -> int:
    """Return pyCANON's k over the quasi-identifiers kept (all rows form one class when none is kept)."""
    kept = [column for column in result.quasi_identifiers.columns if column not in result.dropped]
    data = result.quasi_identifiers.astype(str).reset_index(drop=True)
    if not kept:
        return len(data)
    return int(anonymity.k_anonymity(data, kept))


def assert_k_anonymous(result: Any, rows: int) -> None:
    """Check the output with pyCANON and plain facts, independently of the engine's bookkeeping."""
    qi = result.quasi_identifiers
    assert len(qi) == rows
    lived_kept = "lived-experience" in qi.columns and "lived-experience" not in result.dropped
    required = 10 if lived_kept else 5
    assert result.k == required
    assert pycanon_k(result) >= required
    # Dropped quasi-identifiers carry nothing; suppressed rows hold "suppressed" everywhere.
    for column in result.dropped:
        assert set(qi.loc[~result.suppressed, column].astype(str)) <= {ANY}
    suppressed_rows = qi.astype(str).eq(SUPPRESSED).all(axis=1).to_numpy()
    assert np.array_equal(suppressed_rows, result.suppressed)
    assert not qi[~suppressed_rows].astype(str).eq(SUPPRESSED).any().any()
    assert suppressed_rows.sum() <= int(rows * 0.05 + 1e-9)
    assert suppressed_rows.sum() == 0 or suppressed_rows.sum() >= required
    # While the sector is not generalized, survivor-leaders' classes need 10.
    kept = [column for column in qi.columns if column not in result.dropped]
    if result.levels[SECTOR] == 0:
        survivors = qi[qi[SECTOR].astype(str) == "survivor-leaders"].astype(str).reset_index(drop=True)
        if len(survivors):
            assert int(anonymity.k_anonymity(survivors, kept)) >= 10
    # The audit's classes partition the rows and are exactly the classes of the export.
    masks = np.array(list(result.classes.values()))
    assert masks.shape == (len(result.classes), rows)
    assert (masks.sum(axis=0) == 1).all()
    if kept:
        sizes = sorted(qi.astype(str).groupby(kept).size().tolist())
    else:
        sizes = [rows]
    assert sorted(masks.sum(axis=1).tolist()) == sizes
    if result.suppressed.any():
        assert np.array_equal(result.classes[SUPPRESSED_CLASS], result.suppressed)
    assert result.report["rows_suppressed"] == int(suppressed_rows.sum())
    assert result.report["dropped"] == list(result.dropped)
    assert result.report["k"] == required


# --- the hierarchies file ---------------------------------------------------------------------------------------


def test_hierarchies_file_matches_its_schema() -> None:
    schema = json.loads((DEFAULT_HIERARCHIES_PATH.parent / "generalization.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(HIERARCHIES, schema, cls=jsonschema.Draft202012Validator)


def test_every_level_is_a_total_function_of_the_level_below() -> None:
    validate_hierarchies(HIERARCHIES)
    for slug, hierarchy in HIERARCHIES["quasi_identifiers"].items():
        levels = hierarchy["levels"]
        below = list(levels[0]["values"])
        assert len(below) == len(set(below)), slug
        for level in levels[1:]:
            mapping = level["map"]
            assert set(mapping) <= set(below), slug
            assert set(below) <= set(mapping) or "default" in level, slug
            # A dict maps each key once: each value of the level below has exactly one image.
            below = list(dict.fromkeys([*mapping.values(), *([level["default"]] if "default" in level else [])]))
        assert below == [ANY], slug
        assert all(level["name"] and level["description"] for level in levels), slug


def test_hierarchies_cover_every_option_of_the_default_instrument_and_every_default_sector() -> None:
    quasi_identifiers = HIERARCHIES["quasi_identifiers"]
    for dimension in dimensions(INSTRUMENT):
        first = set(quasi_identifiers[dimension.slug]["levels"][0]["values"])
        assert set(pattern_values(dimension, not_answered=NOT_ANSWERED)) <= first, dimension.slug
        for option in dimension.options:
            if option != PREFER_NOT_TO_SAY or not dimension.is_multiple:
                assert option in first
        if dimension.is_multiple:
            assert MORE_THAN_ONE in first
    sector_levels = quasi_identifiers[SECTOR]["levels"]
    assert set(SECTOR_SLUGS) <= set(sector_levels[0]["values"])
    # Every default sector has a documented family (not the catch-all default).
    assert set(SECTOR_SLUGS) <= set(sector_levels[1]["map"])
    assert sector_levels[0]["sensitive"] == ["survivor-leaders"]
    assert set(HIERARCHIES["tie_order"]) == {SECTOR, *(dimension.slug for dimension in dimensions(INSTRUMENT))}


def test_generalization_never_merges_lived_experience_yes_with_another_answer() -> None:
    levels = HIERARCHIES["quasi_identifiers"]["lived-experience"]["levels"]
    for level in levels[1:-1]:
        images = level["map"]
        yes_image = images["yes"]
        assert [value for value, image in images.items() if image == yes_image] == ["yes"]


@pytest.mark.parametrize(
    "breakage",
    ["unmapped value", "unknown value", "no any at the top", "any too early", "suppressed as a value"],
)
def test_broken_hierarchies_are_rejected(breakage: str) -> None:
    broken = copy.deepcopy(HIERARCHIES)
    age = broken["quasi_identifiers"]["age"]["levels"]
    if breakage == "unmapped value":
        del age[1]["map"]["25-34"]
    elif breakage == "unknown value":
        age[1]["map"]["17-24"] = "under-35"
    elif breakage == "no any at the top":
        age[-1]["map"]["under-35"] = "young"
    elif breakage == "any too early":
        age[1]["map"]["65-plus"] = ANY
    else:
        age[1]["map"]["65-plus"] = SUPPRESSED
    with pytest.raises(ValueError, match="age"):
        validate_hierarchies(broken)


def test_a_hierarchy_missing_an_option_of_the_instrument_is_rejected() -> None:
    instrument = instrument_with("age")
    instrument["dimensions"][0]["options"].insert(0, {"slug": "under-18", "label": {"en": "x", "es": "x"}})
    responses = frame(repeat(10, "law-enforcement", age="25-34"))
    with pytest.raises(ValueError, match="under-18"):
        anonymize(responses=responses, instrument=instrument, hierarchies=HIERARCHIES)


# --- hand-worked cases --------------------------------------------------------------------------------------------


def test_nothing_to_do_when_every_class_is_large_enough() -> None:
    responses = frame(repeat(5, "law-enforcement", age="25-34") + repeat(5, "prosecution", age="35-44"))
    result = anonymize(responses=responses, instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "age": 0}
    assert not result.suppressed.any()
    assert result.dropped == ()
    assert result.report["steps"] == []
    assert sorted(result.classes) == [
        "microdata:sector=law-enforcement;age=25-34",
        "microdata:sector=prosecution;age=35-44",
    ]
    assert list(result.quasi_identifiers[SECTOR].astype(str)) == ["law-enforcement"] * 5 + ["prosecution"] * 5
    assert_k_anonymous(result, 10)


def test_the_step_that_clears_the_most_small_rows_is_taken() -> None:
    # Law enforcement: 3 under 25 and 3 aged 25-34 (both too small); prosecution: 6 aged 35-44.
    # Sector families leave the same 6 rows too small; age bands clear them all.
    rows = (
        repeat(3, "law-enforcement", age="under-25")
        + repeat(3, "law-enforcement", age="25-34")
        + repeat(6, "prosecution", age="35-44")
    )
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "age": 1}
    assert result.level_names["age"] == "twenty-year band"
    assert result.report["steps"] == [{"quasi_identifier": "age", "level": 1, "level_name": "twenty-year band"}]
    assert list(result.quasi_identifiers["age"].astype(str)) == ["under-35"] * 6 + ["35-54"] * 6
    assert not result.suppressed.any()
    assert_k_anonymous(result, 12)


def test_small_classes_are_suppressed_when_they_fit_in_five_percent() -> None:
    singles = [
        ("health", "under-25"),
        ("faith", "65-plus"),
        ("business", "45-54"),
        ("funders", "55-64"),
        ("education", "35-44"),
    ]
    rows = repeat(50, "law-enforcement", age="25-34") + repeat(45, "prosecution", age="35-44")
    rows += [(sector, {"age": age}) for sector, age in singles]
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "age": 0}
    assert np.flatnonzero(result.suppressed).tolist() == [95, 96, 97, 98, 99]
    assert set(result.quasi_identifiers.iloc[95:].astype(str).to_numpy().ravel()) == {SUPPRESSED}
    assert result.report["rows_suppressed"] == 5
    assert result.report["values_suppressed"] == 10
    assert set(result.classes) == {
        "microdata:sector=law-enforcement;age=25-34",
        "microdata:sector=prosecution;age=35-44",
        SUPPRESSED_CLASS,
    }
    assert_k_anonymous(result, 100)


def test_a_suppressed_class_below_k_is_filled_from_the_largest_class() -> None:
    # Three too-small rows: the suppressed class would hold 3 < k, so the last two rows of the
    # largest class (law enforcement, 52 rows) are suppressed too.
    rows = repeat(52, "law-enforcement", age="25-34") + repeat(45, "prosecution", age="35-44")
    rows += [("health", {"age": "under-25"}), ("faith", {"age": "65-plus"}), ("business", {"age": "45-54"})]
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "age": 0}
    assert np.flatnonzero(result.suppressed).tolist() == [50, 51, 97, 98, 99]
    assert result.classes["microdata:sector=law-enforcement;age=25-34"].sum() == 50
    assert_k_anonymous(result, 100)


def test_the_suppression_cap_forces_generalization() -> None:
    # Six singletons in 100 rows: suppressing them would exceed 5 rows. By hand:
    # 1. age bands or sector families: 6 small rows either way; tie → age (first in tie_order);
    # 2. sector families (6 small) before age under/over 35 (6 small): the lower level first;
    # 3. public / non-governmental leaves health + community (under 35), faith + funders (55+)
    #    and business (35-54) small: 5 rows, against 6 for under/over 35;
    # 4. those 5 rows are suppressed: 5 ≤ 5% of 100 and 5 ≥ k.
    singles = [
        ("health", "under-25"),
        ("faith", "65-plus"),
        ("business", "45-54"),
        ("funders", "55-64"),
        ("education", "35-44"),
        ("community", "25-34"),
    ]
    rows = repeat(49, "law-enforcement", age="25-34") + repeat(45, "prosecution", age="35-44")
    rows += [(sector, {"age": age}) for sector, age in singles]
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert [(step["quasi_identifier"], step["level"]) for step in result.report["steps"]] == [
        ("age", 1),
        (SECTOR, 1),
        (SECTOR, 2),
    ]
    assert result.levels == {SECTOR: 2, "age": 1}
    assert result.level_names == {SECTOR: "public or non-governmental", "age": "twenty-year band"}
    assert np.flatnonzero(result.suppressed).tolist() == [94, 95, 96, 97, 99]
    assert result.class_labels == (
        "microdata:sector=public-sector;age=under-35",
        "microdata:sector=public-sector;age=35-54",
        SUPPRESSED_CLASS,
    )
    assert [int(mask.sum()) for mask in result.classes.values()] == [49, 46, 5]
    assert_k_anonymous(result, 100)
    # With no suppression allowed, the 5 rows must be absorbed: dropping the sector leaves only the
    # two 55+ rows small (against 5 for under/over 35), then under/over 35 clears them.
    strict = anonymize(
        responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES, max_suppressed_share=0
    )
    assert strict.levels == {SECTOR: 3, "age": 2}
    assert strict.dropped == (SECTOR,)
    assert not strict.suppressed.any()
    assert strict.class_labels == ("microdata:age=under-35", "microdata:age=35-plus")
    assert_k_anonymous(strict, 100)


def test_the_checker_sees_a_violation() -> None:
    # A negative control: pyCANON reports the raw quasi-identifiers of a wave as far below k.
    responses = random_wave(200, 3)
    raw = responses[[SECTOR, "age", "tenure", "financial"]].astype(str)
    assert int(anonymity.k_anonymity(raw, list(raw.columns))) < 5


def test_a_dimension_is_dropped_when_nothing_else_helps() -> None:
    # One sector; two respondents in each of five age bands. Age goes to twenty-year bands
    # (4, 4, 2), then under/over 35 (4, 6), then, with 4 rows still too small and no
    # suppression possible in 10 rows, it is dropped.
    rows: list[tuple[str, dict[str, Any]]] = []
    for age in ["under-25", "25-34", "35-44", "45-54", "55-64"]:
        rows += repeat(2, "law-enforcement", age=age)
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "age": 3}
    assert result.dropped == ("age",)
    assert [step["level"] for step in result.report["steps"]] == [1, 2, 3]
    assert result.report["quasi_identifiers"][1]["dropped"] is True
    assert set(result.quasi_identifiers["age"].astype(str)) == {ANY}
    assert list(result.classes) == ["microdata:sector=law-enforcement"]
    assert_k_anonymous(result, 10)


def test_lived_experience_kept_needs_ten_per_class() -> None:
    # 7 + 7 "no": fine for k = 5, too small for k = 10 while lived experience is kept.
    rows = repeat(7, "law-enforcement", lived_experience="no") + repeat(7, "prosecution", lived_experience="no")
    result = anonymize(responses=frame(rows), instrument=instrument_with("lived-experience"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 1, "lived-experience": 0}
    assert result.k == 10
    assert list(result.classes) == ["microdata:sector=justice-system;lived-experience=no"]
    assert_k_anonymous(result, 14)


def test_dropping_lived_experience_lowers_k_to_five() -> None:
    # 3 "yes" and 3 "no" in each of two sectors: no class reaches 10 while lived experience is
    # kept; its first level changes nothing (tie: the non-dropping step), then dropping it is the
    # step that clears every small class, since k falls to 5.
    rows: list[tuple[str, dict[str, Any]]] = []
    for sector in ["law-enforcement", "prosecution"]:
        rows += repeat(3, sector, lived_experience="yes") + repeat(3, sector, lived_experience="no")
    result = anonymize(responses=frame(rows), instrument=instrument_with("lived-experience"), hierarchies=HIERARCHIES)
    assert [step["quasi_identifier"] for step in result.report["steps"]] == ["lived-experience", "lived-experience"]
    assert result.levels == {SECTOR: 0, "lived-experience": 2}
    assert result.dropped == ("lived-experience",)
    assert result.k == 5
    assert result.report["sensitive_dimensions_kept"] == []
    assert_k_anonymous(result, 12)


def test_survivor_leaders_classes_need_ten_while_the_sector_is_kept() -> None:
    rows = repeat(6, "survivor-leaders", age="25-34") + repeat(6, "advocacy", age="25-34")
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 1, "age": 0}
    assert set(result.quasi_identifiers[SECTOR].astype(str)) == {"civil-society"}
    assert_k_anonymous(result, 12)
    # A coalition that marks no sector sensitive keeps both sectors at k = 5.
    relaxed = anonymize(
        responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES, sensitive_sectors=()
    )
    assert relaxed.levels == {SECTOR: 0, "age": 0}


def test_multi_select_answers_are_reduced_to_patterns() -> None:
    rows = (
        repeat(5, "law-enforcement", gender=["woman"])
        + repeat(5, "law-enforcement", gender=["woman", "transgender"])
        + repeat(5, "law-enforcement", gender=["man", "prefer-not-to-say"])
        + repeat(5, "law-enforcement", gender=[])
        + repeat(5, "law-enforcement", gender=["unknown-option"])
    )
    result = anonymize(responses=frame(rows), instrument=instrument_with("gender"), hierarchies=HIERARCHIES)
    assert result.levels == {SECTOR: 0, "gender": 0}
    assert list(result.quasi_identifiers["gender"].astype(str)) == (
        ["woman"] * 5 + [MORE_THAN_ONE] * 5 + [PREFER_NOT_TO_SAY] * 5 + [NOT_ANSWERED] * 10
    )
    assert_k_anonymous(result, 25)


def test_unknown_sectors_are_kept_then_go_to_other() -> None:
    rows = repeat(5, "harbour-police", age="25-34") + repeat(3, "ports", age="25-34") + repeat(2, "other", age="25-34")
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES)
    assert result.levels[SECTOR] == 1
    assert set(result.quasi_identifiers[SECTOR].astype(str)) == {"other-sectors"}
    assert_k_anonymous(result, 10)


def test_a_custom_dimension_gets_a_generic_hierarchy() -> None:
    instrument = instrument_with("age")
    instrument["dimensions"].append(
        {
            "slug": "region",
            "label": {"en": "x", "es": "x"},
            "multiple": False,
            "sensitive": False,
            "options": [
                {"slug": "north", "label": {"en": "x", "es": "x"}},
                {"slug": "south", "label": {"en": "x", "es": "x"}},
                {"slug": "prefer-not-to-say", "label": {"en": "x", "es": "x"}},
            ],
        }
    )
    rows = repeat(6, "law-enforcement", age="25-34", region="north") + repeat(
        3, "law-enforcement", age="25-34", region="south"
    )
    result = anonymize(responses=frame(rows), instrument=instrument, hierarchies=HIERARCHIES)
    assert result.dropped == ("region",)
    assert result.report["quasi_identifiers"][2]["generic_hierarchy"] is True
    assert_k_anonymous(result, 9)


def test_too_few_responses_cannot_be_anonymized_and_none_is_trivial() -> None:
    with pytest.raises(AnonymizationError):
        anonymize(
            responses=frame(repeat(4, "law-enforcement", collab_1=3)), instrument=INSTRUMENT, hierarchies=HIERARCHIES
        )
    empty = anonymize(responses=frame([]), instrument=INSTRUMENT, hierarchies=HIERARCHIES)
    assert len(empty.quasi_identifiers) == 0
    assert empty.classes == {}


@pytest.mark.parametrize(
    "arguments",
    [
        {"k": 4},
        {"k_lived": 9},
        {"k": 12, "k_lived": 10},
        {"max_suppressed_share": 0.06},
        {"max_suppressed_share": -0.01},
    ],
)
def test_thresholds_below_the_rules_are_rejected(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="k|share"):
        anonymize(
            responses=frame(repeat(10, "law-enforcement", collab_1=3)),
            instrument=INSTRUMENT,
            hierarchies=HIERARCHIES,
            **arguments,
        )


def test_a_raised_k_is_honoured() -> None:
    rows = repeat(7, "law-enforcement", age="25-34") + repeat(7, "prosecution", age="25-34")
    result = anonymize(responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES, k=7)
    assert result.levels == {SECTOR: 0, "age": 0}
    raised = anonymize(
        responses=frame(rows), instrument=instrument_with("age"), hierarchies=HIERARCHIES, k=8, k_lived=10
    )
    assert raised.levels == {SECTOR: 1, "age": 0}
    assert int(anonymity.k_anonymity(raised.quasi_identifiers.astype(str), [SECTOR, "age"])) >= 8


# --- random waves, checked by pyCANON ---------------------------------------------------------------------------

SECTOR_WEIGHTS = np.array([14, 8, 10, 16, 8, 6, 3, 4, 3, 6, 8, 8, 6], dtype=float)


def random_wave(size: int, seed: int) -> pd.DataFrame:
    """Return a wave with skewed answers (some large groups, a long tail), skips and multi-selects."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, dict[str, Any]]] = []
    for _ in range(size):
        answers: dict[str, Any] = {"collab-1": int(rng.integers(1, 6))}
        for dimension in dimensions(INSTRUMENT):
            if rng.random() < 0.07:
                continue
            options = list(dimension.options)
            weights = np.geomspace(1.0, 0.25, num=len(options))
            weights /= weights.sum()
            if dimension.is_multiple and rng.random() < 0.12:
                answers[dimension.slug] = [str(option) for option in rng.choice(options[:-1], size=2, replace=False)]
            elif dimension.is_multiple:
                answers[dimension.slug] = [str(rng.choice(options, p=weights))]
            else:
                answers[dimension.slug] = str(rng.choice(options, p=weights))
        sector = str(rng.choice(SECTOR_SLUGS, p=SECTOR_WEIGHTS / SECTOR_WEIGHTS.sum()))
        rows.append((sector, answers))
    return frame(rows)


@pytest.mark.parametrize(("size", "seed"), [(50, 1), (50, 2), (200, 3), (200, 4), (2000, 5), (2000, 6)])
def test_random_waves_are_k_anonymous_by_pycanon(size: int, seed: int) -> None:
    responses = random_wave(size, seed)
    result = anonymize(responses=responses, instrument=INSTRUMENT, hierarchies=HIERARCHIES)
    assert_k_anonymous(result, size)
    # Item answers are untouched and rows keep the frame's index and order.
    assert result.quasi_identifiers.index.equals(responses.index)


@pytest.mark.parametrize("size", [200, 2000])
def test_random_waves_keeping_lived_experience_reach_ten(size: int) -> None:
    # Only lived experience and the sector: lived experience stays, so pyCANON's k must be ≥ 10.
    responses = random_wave(size, size + 7)
    result = anonymize(responses=responses, instrument=instrument_with("lived-experience"), hierarchies=HIERARCHIES)
    assert "lived-experience" not in result.dropped
    assert result.k == 10
    assert pycanon_k(result) >= 10
    assert_k_anonymous(result, size)


def test_same_input_same_output() -> None:
    responses = random_wave(500, 11)
    first = anonymize(responses=responses, instrument=INSTRUMENT, hierarchies=HIERARCHIES)
    second = anonymize(responses=responses.copy(), instrument=INSTRUMENT, hierarchies=copy.deepcopy(HIERARCHIES))
    pd.testing.assert_frame_equal(first.quasi_identifiers, second.quasi_identifiers)
    assert np.array_equal(first.suppressed, second.suppressed)
    assert first.report == second.report
    assert list(first.classes) == list(second.classes)
    assert all(np.array_equal(first.classes[label], second.classes[label]) for label in first.classes)
    assert json.loads(json.dumps(first.report)) == first.report
