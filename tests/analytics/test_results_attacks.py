"""Attacks on the results API (issue 3), each judged by a checker of the test's own, not the engine's audit.

The checker knows everything an attacker with full local knowledge could
know: who is in which sector and social location (the test's `Person`
list, never the engine's group code). It reads only the API's JSON and
tries to isolate a set of 1..k−1 respondents (1..9 when all are in a
sensitive group) by adding and subtracting published counts: a set is
isolated when its indicator lies in the row space of the published cells.
It enumerates every union of "atoms" (respondents no published cell tells
apart) small enough to matter and tests each by rank, so it decides
exactly on these small waves. Each attack is also run on the unprotected
figures, where it must succeed: the checker is shown to see the leak.
"""

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rest_framework.test import APIClient

from analytics import services
from analytics.engine.breakdowns import breakdown_cells
from surveys.models import Coalition, Instrument, Wave
from tests.analytics.conftest import Person, all_cells, closed_wave_with, login_with_role

K, K_SENSITIVE = 5, 10
PNTS = "prefer-not-to-say"
MULTIPLE = {"gender", "race-ethnicity"}


def scenario() -> list[Person]:
    """71 people with the classic traps built in (docs/privacy-model.md)."""
    people = [Person("victim-services", ("woman",), "no") for _ in range(15)]
    people += [Person("victim-services", ("man",), "no") for _ in range(13)]
    people += [
        Person("victim-services", ("woman", "transgender"), "no"),
        Person("victim-services", ("non-binary",), "no"),
    ]
    people += [Person("law-enforcement", ("man",), "no") for _ in range(6)]
    people += [Person("law-enforcement", ("woman",), "no") for _ in range(5)]
    # The structural subset: lived experience = yes is the survivor-leaders sector plus this one officer.
    people.append(Person("law-enforcement", ("man",), "yes"))
    people += [Person("survivor-leaders", ("woman",), "yes") for _ in range(9)]
    people += [Person("survivor-leaders", ("man",), "yes") for _ in range(2)]
    # The remainder: three people in business, next to one big sector.
    people += [Person("business", ("man",), "no") for _ in range(3)]
    # The row total: one non-binary advocate in the sector × gender table.
    people += [Person("advocacy", ("woman",), "no") for _ in range(5)]
    people += [Person("advocacy", ("man",), "no") for _ in range(3)]
    people.append(Person("advocacy", ("non-binary",), "no"))
    people += [Person("funders", ("woman",), "no") for _ in range(3)]
    people += [Person("funders", ("man",), "no") for _ in range(3)]
    return people


def is_member(person: Person, dimensions: Sequence[str], groups: Sequence[str]) -> bool:
    """The test's own reading of a group label (README of the API: docs/api.md)."""
    for dimension, group in zip(dimensions, groups, strict=True):
        if dimension == "sector":
            if person.sector != group:
                return False
            continue
        answer = {"gender": person.gender, "lived-experience": person.lived}.get(dimension)
        if dimension in MULTIPLE:
            chosen = set(answer or ())
            named = chosen - {PNTS}
            if group == "more-than-one":
                matched = len(named) >= 2
            elif group.startswith("alone:"):
                matched = chosen == {group.removeprefix("alone:")}
            else:
                matched = group in chosen
        else:
            matched = answer == group
        if not matched:
            return False
    return True


def is_sensitive_person(person: Person) -> bool:
    return person.sector == "survivor-leaders" or person.lived == "yes"


def published_groups(cells: Iterable[dict[str, Any]]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The groups whose health-index cell shows a count or a figure (every item is answered, so n is the group's)."""
    return [
        (tuple(cell["dimensions"]), tuple(cell["groups"]))
        for cell in cells
        if cell["area"] == "overall" and not cell["suppressed"]
    ]


def isolated_sets(
    people: Sequence[Person], groups: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]
) -> list[list[int]]:
    """Return every set of respondents (as indices) of a forbidden size that the published counts isolate."""
    matrix = np.array([[is_member(person, dims, slugs) for person in people] for dims, slugs in groups], dtype=float)
    columns = pd.DataFrame(matrix.T)
    atoms = [list(indices) for indices in columns.groupby(list(columns.columns), sort=False).indices.values()]
    atom_matrix = np.column_stack([matrix[:, atom[0]] for atom in atoms])
    rank = np.linalg.matrix_rank(atom_matrix)
    small = [index for index, atom in enumerate(atoms) if len(atom) < K_SENSITIVE]
    found = []
    for size in range(1, len(small) + 1):
        for chosen in combinations(small, size):
            members = [person for index in chosen for person in atoms[index]]
            limit = K_SENSITIVE - 1 if all(is_sensitive_person(people[i]) for i in members) else K - 1
            if len(members) > limit:
                continue
            indicator = np.zeros(len(atoms))
            indicator[list(chosen)] = 1.0
            if np.linalg.matrix_rank(np.vstack([atom_matrix, indicator])) == rank:
                found.append(sorted(members))
    return found


def unprotected_groups(
    people: Sequence[Person], instrument: Instrument
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The groups the API would show without disclosure control: every non-empty one."""
    rows = [person.answers(["power-1"], np.random.default_rng(0)) | {"sector": person.sector} for person in people]
    cells = breakdown_cells(responses=pd.DataFrame(rows), instrument=instrument.definition)
    cells = (
        cells[cells["area"] == "overall"] if (cells["area"] == "overall").any() else cells[cells["area"] == "power-1"]
    )
    return [(tuple(d), tuple(g)) for d, g in zip(cells["dimensions"], cells["groups"], strict=True)]


@pytest.fixture
def leader_client(coalition: Coalition) -> APIClient:
    client = APIClient()
    client.force_authenticate(login_with_role(coalition, "leader", "leader"))
    return client


@pytest.fixture
def protected_wave(coalition: Coalition, instrument: Instrument) -> Wave:
    wave = closed_wave_with(coalition, instrument, scenario())
    services.breakdowns_compute(wave_id=wave.pk)
    return wave


def test_without_protection_the_checker_finds_each_planted_leak(instrument: Instrument) -> None:
    people = scenario()
    found = isolated_sets(people, unprotected_groups(people, instrument))

    officer = [
        index for index, person in enumerate(people) if person.sector == "law-enforcement" and person.lived == "yes"
    ]
    business = [index for index, person in enumerate(people) if person.sector == "business"]
    advocate = [
        index for index, person in enumerate(people) if person.sector == "advocacy" and person.gender == ("non-binary",)
    ]
    assert officer in found  # lived experience = yes − survivor-leaders
    assert business in found  # total − the other sectors
    assert advocate in found  # the advocacy row − its visible cells


def test_the_published_cells_isolate_nobody(protected_wave: Wave, leader_client: APIClient) -> None:
    cells = all_cells(leader_client, protected_wave, "measure=overall")

    assert isolated_sets(scenario(), published_groups(cells)) == []


def test_the_remainder_attack_gets_only_a_group_of_k_or_more(protected_wave: Wave, leader_client: APIClient) -> None:
    sectors = all_cells(leader_client, protected_wave, "dimension=sector&area=overall")
    overall = all_cells(leader_client, protected_wave, "dimension=overall&area=overall")[0]
    shown = [cell for cell in sectors if not cell["suppressed"] and cell["n"] is not None]

    assert next(cell for cell in sectors if cell["groups"] == ["business"])["suppressed"] is True
    if not overall["suppressed"]:
        remainder = overall["n"] - sum(cell["n"] for cell in shown)
        assert remainder >= K


def test_a_hidden_cell_of_a_cross_row_is_not_given_back_by_the_row_total(
    protected_wave: Wave, leader_client: APIClient
) -> None:
    cells = all_cells(leader_client, protected_wave, "dimension=sector,gender&area=overall")
    row = [
        cell
        for cell in cells
        if cell["groups"][0] == "advocacy"
        and not cell["groups"][1].startswith(("woman", "man", "non-binary", "transgender", "different-term"))
    ]
    hidden = [cell for cell in row if cell["suppressed"]]
    assert ["advocacy", "alone:non-binary"] in [cell["groups"] for cell in hidden]
    sector = all_cells(leader_client, protected_wave, "dimension=sector&area=overall")
    advocacy = next(cell for cell in sector if cell["groups"] == ["advocacy"])
    if not advocacy["suppressed"]:
        # The row total minus the row's visible cells leaves the hidden ones together: never one person.
        visible = sum(cell["n"] for cell in row if not cell["suppressed"])
        assert advocacy["n"] - visible >= K


def test_hidden_cells_are_byte_identical_whatever_their_n(protected_wave: Wave, leader_client: APIClient) -> None:
    cells = all_cells(leader_client, protected_wave)
    labels = ("dimensions", "groups", "measure", "area")
    hidden = {
        repr(sorted((key, value) for key, value in cell.items() if key not in labels))
        for cell in cells
        if cell["suppressed"]
    }
    # Empty groups, groups of 1..4, sensitive groups of 1..9 and complementary ones: one shape.
    assert len(hidden) == 1
    assert hidden == {
        repr(
            sorted(
                {
                    **dict.fromkeys(
                        [
                            "n",
                            "n_label",
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
                            "gap_ci_low",
                            "gap_ci_high",
                        ]
                    ),
                    "suppressed": True,
                }.items()
            )
        )
    }


def test_a_sensitive_groups_size_is_not_given_back_by_its_decimals(
    coalition: Coalition, instrument: Instrument, leader_client: APIClient
) -> None:
    """n = N·(M − m + gap) / gap, from the published means: every n in the rounding intervals stays possible."""
    people = [person for person in scenario() if person.sector != "survivor-leaders" and person.lived != "yes"]
    people += [Person("survivor-leaders", ("woman",), "yes", score=2) for _ in range(13)]
    people += [Person("survivor-leaders", ("man",), "yes", score=1) for _ in range(12)]
    wave = closed_wave_with(coalition, instrument, people)
    services.breakdowns_compute(wave_id=wave.pk)
    cells = all_cells(leader_client, wave, "measure=overall")
    overall = next(cell for cell in cells if cell["dimensions"] == [])
    sensitive = [cell for cell in cells if cell["n_label"] is not None]
    assert sensitive  # the scenario publishes sensitive groups, as "10 or more"
    total = overall["n"]
    for cell in sensitive:
        assert (cell["n"], cell["sd"], cell["p_value"], cell["q_value"], cell["hedges_g"]) == (None,) * 5
        # No figure carries a finer decimal of the mean than the mean itself.
        assert cell["score_100"] == round((cell["mean"] - 1) / 4 * 100)
        candidates = []
        for n in range(1, total):
            # The group mean and gap carry one decimal (±0.05), the overall mean two (±0.005).
            for m in np.linspace(cell["mean"] - 0.05, cell["mean"] + 0.05, 21):
                for gap in np.linspace(cell["gap"] - 0.05, cell["gap"] + 0.05, 21):
                    rest_mean = m - gap
                    implied = (n * m + (total - n) * rest_mean) / total
                    if abs(implied - overall["mean"]) <= 0.005:
                        candidates.append(n)
                        break
                else:
                    continue
                break
        assert len(set(candidates)) >= 2, (cell["groups"], candidates)


def test_repeated_or_unknown_filters_give_no_data(protected_wave: Wave, leader_client: APIClient) -> None:
    base = f"/api/v1/waves/{protected_wave.pk}/breakdowns/"
    for query in (
        "dimension=sector&dimension=lived-experience",
        "groups=law-enforcement",
        "dimension=sector,lived-experience&sector=law-enforcement",
        "dimension=lived-experience,sector",
        "area=overall&area=power",
    ):
        response = leader_client.get(f"{base}?{query}")
        assert response.status_code == 400
        assert "cells" not in response.json()


def test_a_roster_change_of_one_person_does_not_give_away_the_newcomers_lived_experience(
    coalition: Coalition, instrument: Instrument, leader_client: APIClient
) -> None:
    """Two waves, the same people answering the same way, and one newcomer: the officer with lived experience.

    The attacker knows who joined and subtracts every count published in both
    waves, which gives the newcomer's membership of each of those groups. The
    newcomer's lived experience must stay open: "yes" and "not yes" (another
    answer, or none) both fit every difference.
    """
    newcomer = Person("law-enforcement", ("man",), "yes")
    others = [person for person in scenario() if person != newcomer] + [Person("law-enforcement", ("man",), "no")]
    before = closed_wave_with(
        coalition, instrument, others, label="2026 Q2", opens_at=pd.Timestamp("2026-04-01", tz="UTC")
    )
    after = closed_wave_with(coalition, instrument, [*others, newcomer], label="2026 Q3")
    for wave in (before, after):
        services.breakdowns_compute(wave_id=wave.pk)

    def counts(wave: Wave) -> dict[tuple[tuple[str, ...], tuple[str, ...]], int]:
        return {
            (tuple(cell["dimensions"]), tuple(cell["groups"])): cell["n"]
            for cell in all_cells(leader_client, wave, "measure=overall")
            if not cell["suppressed"] and cell["n"] is not None
        }

    first, second = counts(before), counts(after)
    differences = {key: second[key] - first[key] for key in first.keys() & second.keys()}
    assert differences[(("sector",), ("law-enforcement",))] == 1  # the attacker sees that someone joined there

    candidates = [
        Person("law-enforcement", gender, lived)
        for gender in [(), ("man",), ("woman",), ("non-binary",), ("woman", "transgender"), (PNTS,)]
        for lived in (None, "yes", "no", PNTS)
    ]
    fitting = [
        candidate
        for candidate in candidates
        if all(int(is_member(candidate, dims, slugs)) == change for (dims, slugs), change in differences.items())
    ]
    assert any(candidate.lived == "yes" for candidate in fitting)
    assert any(candidate.lived != "yes" for candidate in fitting)
