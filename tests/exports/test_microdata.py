"""Researcher microdata (issue 5): the joint audit with the published tables, determinism, coding (no database).

The attack checker is the test's own: it knows every respondent's true
sector and social location, takes the published groups and the microdata's
equivalence classes as sets of people, and looks for a set of 1..k−1
respondents (1..9 when all are sensitive) whose count follows from adding
and subtracting published counts (rank test over every small union of
atoms). It is shown to find the leak of a release that skipped the audit.
"""

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from analytics.engine.anonymization import anonymize, load_hierarchies
from analytics.engine.breakdowns import group_sets
from analytics.engine.disclosure import protect
from analytics.engine.frame import SECTOR
from analytics.engine.publication import cell_id, disclosure_problem
from exports.microdata import (
    DONT_KNOW,
    NOT_ANSWERED,
    NOT_RELEASED,
    SUPPRESSED,
    WaveInput,
    canonical_order,
    fitting_hierarchies,
    microdata,
    variable_name,
    wave_release,
)

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENT: dict[str, Any] = json.loads((ROOT / "surveys/data/instruments/default.json").read_text(encoding="utf-8"))
HIERARCHIES = load_hierarchies()
SECTORS = ("victim-services", "law-enforcement", "advocacy", "survivor-leaders", "funders")
K, K_SENSITIVE = 5, 10
PERSON = "_person"
# The smallest class of the released scenario (gender dropped by the audit): the 8 funders.
PYCANON_K = 8
pytestmark = pytest.mark.filterwarnings("ignore:In a future version, the keys of `groups`")


def people() -> list[dict[str, Any]]:
    """Respondents whose one rare combination is locally suppressed, and given back by the sector × gender table."""
    rows: list[dict[str, Any]] = []
    rows += [{"sector": "victim-services", "gender": ["woman"], "lived-experience": "no"} for _ in range(40)]
    rows += [{"sector": "victim-services", "gender": ["man"], "lived-experience": "no"} for _ in range(20)]
    rows += [{"sector": "law-enforcement", "gender": ["man"], "lived-experience": "no"} for _ in range(14)]
    rows += [{"sector": "law-enforcement", "gender": ["woman"], "lived-experience": "no"} for _ in range(8)]
    rows += [{"sector": "advocacy", "gender": ["woman"], "lived-experience": "no"} for _ in range(10)]
    rows += [{"sector": "advocacy", "gender": ["man"], "lived-experience": "no"} for _ in range(6)]
    rows += [{"sector": "survivor-leaders", "gender": ["woman"], "lived-experience": "yes"} for _ in range(12)]
    rows += [{"sector": "funders", "gender": ["man"], "lived-experience": "no"} for _ in range(7)]
    # The rare one: a non-binary funder. Suppressing their gender alone is what k-anonymity would do.
    rows.append({"sector": "funders", "gender": ["non-binary"], "lived-experience": "no"})
    for index, row in enumerate(rows):
        row[PERSON] = index
        for item in ("power-1", "power-2", "power-3", "trust-1"):
            row[item] = 1 + (index * 7 + len(item)) % 5
    return rows


def instrument_with(*slugs: str) -> dict[str, Any]:
    instrument = json.loads(json.dumps(INSTRUMENT))
    instrument["dimensions"] = [dimension for dimension in instrument["dimensions"] if dimension["slug"] in slugs]
    return instrument


def frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def published_ids(responses: pd.DataFrame, instrument: dict[str, Any]) -> frozenset[str]:
    """The groups the wave's dashboards show: every group that its protection does not hide."""
    sets = group_sets(
        responses=responses, instrument=instrument, sensitive_sectors=("survivor-leaders",), sectors=SECTORS
    )
    cells, parents = disclosure_problem(sets)
    hidden = protect(cells=cells, parents=parents, k=K, k_sensitive=K_SENSITIVE).hidden_ids
    return frozenset(
        cell_id(group.dimensions, group.groups)
        for group in sets
        if cell_id(group.dimensions, group.groups) not in hidden
    )


def wave_input(rows: Sequence[dict[str, Any]], instrument: dict[str, Any], ids: frozenset[str]) -> WaveInput:
    return WaveInput(
        label="2026 Q3",
        responses=frame(rows),
        sectors=SECTORS,
        sector_names={},
        sensitive_sectors=("survivor-leaders",),
        published_ids=ids,
        k=K,
        k_sensitive=K_SENSITIVE,
    )


def is_member(person: dict[str, Any], group_id: str) -> bool:
    """The test's own reading of a published group id (`sector=x&gender=woman`, `else:…`, `overall`)."""
    if group_id == "overall":
        return True
    if group_id.startswith("else:"):
        return not is_member(person, group_id.removeprefix("else:"))
    for part in group_id.split("&"):
        dimension, group = part.split("=", 1)
        if dimension == SECTOR:
            matched = person["sector"] == group
        elif dimension == "gender":
            chosen = set(person["gender"])
            if group == "more-than-one":
                matched = len(chosen - {"prefer-not-to-say"}) >= 2
            elif group.startswith("alone:"):
                matched = chosen == {group.removeprefix("alone:")}
            else:
                matched = group in chosen
        else:
            matched = person.get(dimension) == group
        if not matched:
            return False
    return True


def isolated(rows: Sequence[dict[str, Any]], sets: Sequence[set[int]]) -> list[list[int]]:
    """Return every forbidden-size set of people (by `_person`) that the published sets' counts isolate."""
    people_ids = [row[PERSON] for row in rows]
    matrix = np.array([[person in members for person in people_ids] for members in sets], dtype=float)
    columns = pd.DataFrame(matrix.T)
    atoms = [list(indices) for indices in columns.groupby(list(columns.columns), sort=False).indices.values()]
    atom_matrix = np.column_stack([matrix[:, atom[0]] for atom in atoms])
    rank = np.linalg.matrix_rank(atom_matrix)
    small = [index for index, atom in enumerate(atoms) if len(atom) < K_SENSITIVE]
    found = []
    for size in range(1, 4):
        for chosen in combinations(small, size):
            members = [people_ids[i] for index in chosen for i in atoms[index]]
            sensitive = all(rows[i]["lived-experience"] == "yes" for index in chosen for i in atoms[index])
            if len(members) > (K_SENSITIVE - 1 if sensitive else K - 1):
                continue
            indicator = np.zeros(len(atoms))
            indicator[list(chosen)] = 1.0
            if np.linalg.matrix_rank(np.vstack([atom_matrix, indicator])) == rank:
                found.append(sorted(members))
    return found


def published_sets(rows: Sequence[dict[str, Any]], ids: frozenset[str]) -> list[set[int]]:
    identifiers = ["overall", *ids, *(f"else:{group}" for group in ids if group != "overall")]
    return [{row[PERSON] for row in rows if is_member(row, group)} for group in identifiers]


def class_sets(release_responses: pd.DataFrame, class_of_row: np.ndarray) -> list[set[int]]:
    persons = release_responses[PERSON].to_numpy()
    return [set(persons[class_of_row == label].tolist()) for label in np.unique(class_of_row)]


def test_a_suppressed_value_that_the_dashboards_give_back_is_coarsened_until_nothing_is_isolated() -> None:
    rows = people()
    instrument = instrument_with("gender")
    ids = published_ids(frame(rows), instrument)
    funder = next(row[PERSON] for row in rows if row["gender"] == ["non-binary"])

    # Without the joint audit: k-anonymity alone suppresses the funder's row, and the dashboards give it back.
    plain = anonymize(
        responses=frame(rows).iloc[canonical_order(frame(rows))].reset_index(drop=True),
        instrument=instrument,
        hierarchies=HIERARCHIES,
        k=K,
        k_lived=K_SENSITIVE,
        sensitive_sectors=("survivor-leaders",),
    )
    ordered = frame(rows).iloc[canonical_order(frame(rows))].reset_index(drop=True)
    leaks = isolated(rows, [*published_sets(rows, ids), *class_sets(ordered, plain.class_of_row)])
    assert [funder] in leaks

    release = wave_release(wave=wave_input(rows, instrument, ids), instrument=instrument, hierarchies=HIERARCHIES)

    # Merging genders (woman / man / another) still lets the classes and the cells isolate the funder.
    assert release.audit_steps == (
        {"quasi_identifier": "gender", "level": 1},
        {"quasi_identifier": "gender", "level": 2},
    )
    assert (
        isolated(rows, [*published_sets(rows, ids), *class_sets(release.responses, release.anonymization.class_of_row)])
        == []
    )


def test_a_release_is_k_anonymous_by_pycanon_and_the_same_whatever_the_row_order() -> None:
    rows = people()
    instrument = instrument_with("gender")
    ids = published_ids(frame(rows), instrument)
    first = wave_release(wave=wave_input(rows, instrument, ids), instrument=instrument, hierarchies=HIERARCHIES)
    shuffled = [rows[i] for i in np.random.default_rng(3).permutation(len(rows))]
    second = wave_release(wave=wave_input(shuffled, instrument, ids), instrument=instrument, hierarchies=HIERARCHIES)

    qis = first.anonymization.quasi_identifiers
    kept = [column for column in qis.columns if column not in first.anonymization.dropped]
    data = qis[kept].astype(str).reset_index(drop=True)
    assert anonymity.k_anonymity(data, kept) == PYCANON_K
    assert first.responses[PERSON].tolist() == second.responses[PERSON].tolist()
    pd.testing.assert_frame_equal(first.anonymization.quasi_identifiers, second.anonymization.quasi_identifiers)
    assert first.audit_steps == second.audit_steps


def test_microdata_codes_answers_and_keeps_no_free_text_or_raw_social_location() -> None:
    rows = [
        {
            "sector": "victim-services",
            "gender": ["woman"],
            "power-1": 4,
            "power-2": "na",
            "power-3": 2,
            "comment": "call me",
            "top-areas": ["power", "trust"],
            "change": "better",
            "pair:advocacy": "none",
            "pair:funders": 2,
        }
        for _ in range(6)
    ]
    instrument = instrument_with("gender")
    release = wave_release(
        wave=WaveInput(
            label="2026 Q3",
            responses=frame(rows),
            sectors=("victim-services", "advocacy", "funders"),
            sector_names={"victim-services": {"en": "Victim services", "es": "Servicios a víctimas"}},
            sensitive_sectors=(),
            published_ids=frozenset({"overall"}),
            k=K,
            k_sensitive=K_SENSITIVE,
        ),
        instrument=instrument,
        hierarchies=HIERARCHIES,
    )
    data, variables = microdata([release], instrument=instrument, hierarchies=HIERARCHIES)

    names = [variable.name for variable in variables]
    assert "comment" not in names
    assert not any(name.startswith("gender_") for name in names)  # no raw multi-select options of a dimension
    assert data["power_1"].tolist() == [4] * 6
    assert data["power_2"].tolist() == [DONT_KNOW] * 6
    assert data["power_3"].tolist() == [2] * 6
    assert data["power_strain"].tolist() == [NOT_ANSWERED] * 6
    assert data["top_areas_power"].tolist() == [1] * 6
    assert data["top_areas_credit"].tolist() == [0] * 6
    assert data["pair_advocacy"].tolist() == [-6] * 6
    assert data["pair_funders"].tolist() == [2] * 6
    assert data["pair_victim_services"].tolist() == [NOT_ANSWERED] * 6
    assert data["wave"].tolist() == [1] * 6
    sector = next(variable for variable in variables if variable.name == "sector")
    assert sector.missing[SUPPRESSED]["en"] == "Suppressed for this respondent (disclosure control)"
    assert sector.missing[NOT_RELEASED]["es"] == "No publicado o no preguntado en esta ronda"
    # power-1 (4) and power-3 (reverse-keyed: 6 − 2 = 4) answered: 2 of 4 items, enough for a score.
    assert data["score_power"].tolist() == [4.0] * 6
    assert data["score_trust"].isna().tolist() == [True] * 6  # no trust item answered


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("power-1", "power_1"),
        ("pair:law-enforcement", "pair_law_enforcement"),
        ("1st-item", "v_1st_item"),
        ("practice-communication-organizing", "practice_communication_organi"),
    ],
)
def test_variable_names_are_safe_for_spss_and_stata(slug: str, expected: str) -> None:
    assert variable_name(slug, set()) == expected


def test_variable_names_stay_unique_when_shortened() -> None:
    taken: set[str] = set()
    first = variable_name("a-very-long-item-slug-of-the-instrument-one", taken)
    second = variable_name("a-very-long-item-slug-of-the-instrument-two", taken)

    assert (first, second) == ("a_very_long_item_slug_of_the", "a_very_long_item_slug_of_th_2")


def test_a_hierarchy_that_does_not_fit_a_custom_dimension_falls_back_to_the_generic_one() -> None:
    instrument = instrument_with("gender")
    instrument["dimensions"][0]["options"] = [
        {"slug": "f", "label": {"en": "F", "es": "F"}},
        {"slug": "m", "label": {"en": "M", "es": "M"}},
    ]
    instrument["dimensions"][0]["multiple"] = False
    rows = [{"sector": "victim-services", "gender": "f"} for _ in range(6)]
    rows += [{"sector": "victim-services", "gender": "m"} for _ in range(5)]

    fitted = fitting_hierarchies(HIERARCHIES, instrument)
    release = wave_release(
        wave=WaveInput(
            label="2026 Q3",
            responses=frame(rows),
            sectors=SECTORS,
            sector_names={},
            sensitive_sectors=(),
            published_ids=frozenset({"overall", "sector=victim-services"}),
            k=K,
            k_sensitive=K_SENSITIVE,
        ),
        instrument=instrument,
        hierarchies=HIERARCHIES,
    )

    assert "gender" not in fitted["quasi_identifiers"]
    assert "gender" not in fitted["tie_order"]
    assert "sector" in fitted["quasi_identifiers"]
    gender = next(qi for qi in release.anonymization.report["quasi_identifiers"] if qi["slug"] == "gender")
    assert (gender["generic_hierarchy"], gender["level"], gender["dropped"]) == (True, 0, False)
    assert sorted(release.anonymization.quasi_identifiers["gender"].astype(str)) == ["f"] * 6 + ["m"] * 5


def test_dont_know_keeps_its_code_even_on_a_scale_without_that_label() -> None:
    instrument = instrument_with("gender")
    del instrument["scales"]["agree5"]["na_label"]
    rows = [{"sector": "victim-services", "power-1": "na"} for _ in range(5)]
    release = wave_release(
        wave=WaveInput(
            label="2026 Q3",
            responses=frame(rows),
            sectors=SECTORS,
            sector_names={},
            sensitive_sectors=(),
            published_ids=frozenset({"overall"}),
            k=K,
            k_sensitive=K_SENSITIVE,
        ),
        instrument=instrument,
        hierarchies=HIERARCHIES,
    )
    data, variables = microdata([release], instrument=instrument, hierarchies=HIERARCHIES)

    power = next(variable for variable in variables if variable.name == "power_1")
    assert data["power_1"].tolist() == [DONT_KNOW] * 5
    assert power.missing[DONT_KNOW] == {"en": "Don't know / not applicable", "es": "No sé / no aplica"}
