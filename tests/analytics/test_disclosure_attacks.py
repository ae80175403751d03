"""The publishing rules (PRIVACY.md 1, 3, 4), tested by attacking them.

Every scenario first shows that publishing each cell that passes its
threshold leaks (the attacker below isolates an exact set of respondents),
then that after `protect` the attacker isolates nothing.

The attacker is independent of the engine's audit: it splits respondents
into atoms with plain Python, computes the exact null space of the published
cell × atom matrix with fractions, and tries every set of atoms. A set of
atoms S is isolated when its indicator is orthogonal to that null space (so
it is a rational combination of published cells) and it holds 1..k−1
respondents, or 1..k_sensitive−1 respondents who all belong to sensitive
cells.
"""

from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction
from math import lcm

import numpy as np
import pytest

from analytics.engine.disclosure import Cell, Parent, audit, cells_from_masks, protect

K = 5
K_SENSITIVE = 10
BRUTE_FORCE_ATOMS = 16


def _null_space(rows: list[list[int]], width: int) -> list[list[int]]:
    """Return an integer basis of {z : rows·z = 0}, by Gauss–Jordan elimination in fractions."""
    matrix = [[Fraction(value) for value in row] for row in rows]
    pivots: list[int] = []
    rank = 0
    for column in range(width):
        pivot = next((row for row in range(rank, len(matrix)) if matrix[row][column] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        lead = matrix[rank][column]
        matrix[rank] = [value / lead for value in matrix[rank]]
        for row in range(len(matrix)):
            if row != rank and matrix[row][column] != 0:
                factor = matrix[row][column]
                matrix[row] = [value - factor * base for value, base in zip(matrix[row], matrix[rank], strict=True)]
        pivots.append(column)
        rank += 1
    basis = []
    for free in (column for column in range(width) if column not in pivots):
        vector = [Fraction(0)] * width
        vector[free] = Fraction(1)
        for row, pivot in enumerate(pivots):
            vector[pivot] = -matrix[row][free]
        scale = lcm(*(value.denominator for value in vector))
        basis.append([int(value * scale) for value in vector])
    return basis


def isolated_sets(
    cells: Sequence[Cell], published_ids: Collection[str], *, k: int = K, k_sensitive: int = K_SENSITIVE
) -> list[frozenset[int]]:
    """Return every set of respondents the published cells isolate below its threshold, smallest first."""
    published = [cell for cell in cells if cell.id in published_ids]
    respondents = len(cells[0].members)
    sensitive = {int(index) for cell in cells if cell.is_sensitive for index in np.flatnonzero(cell.members)}
    atoms: dict[tuple[bool, ...], list[int]] = {}
    for respondent in range(respondents):
        pattern = tuple(bool(cell.members[respondent]) for cell in published)
        atoms.setdefault(pattern, []).append(respondent)
    patterns = list(atoms)
    members = [atoms[pattern] for pattern in patterns]
    assert len(patterns) <= BRUTE_FORCE_ATOMS, "the brute force tries every set of atoms"
    rows = [[int(pattern[row]) for pattern in patterns] for row in range(len(published))]
    null = np.array(_null_space(rows, len(patterns)), dtype=np.int64).reshape(-1, len(patterns))
    # Every set of atoms at once: row s of `chosen` is the binary expansion of s.
    subsets = np.arange(1, 2 ** len(patterns))
    chosen = (subsets[:, None] >> np.arange(len(patterns))[None, :]) & 1
    sizes = chosen @ np.array([len(group) for group in members])
    all_sensitive = chosen @ np.array([not set(group) <= sensitive for group in members]) == 0
    limits = np.where(all_sensitive, k_sensitive, k)
    determined = ~np.any(chosen @ null.T, axis=1)
    found = [
        frozenset(index for atom in np.flatnonzero(row) for index in members[atom])
        for row in chosen[determined & (sizes < limits)]
    ]
    return sorted(found, key=lambda group: (len(group), sorted(group)))


def naive_publication(cells: Sequence[Cell]) -> set[str]:
    """Return the ids of every cell that passes its own threshold: rule 1 alone."""
    return {cell.id for cell in cells if cell.n >= (K_SENSITIVE if cell.is_sensitive else K)}


def published_after_protect(cells: Sequence[Cell], parents: Sequence[Parent]) -> set[str]:
    result = protect(cells=cells, parents=parents)
    return {cell.id for cell in cells} - result.hidden_ids


def _labels(**sizes: int) -> np.ndarray:
    return np.array([label for label, size in sizes.items() for _ in range(size)])


def _partition_cells(
    values: np.ndarray, *, prefix: str, sensitive: Collection[str] = ()
) -> tuple[dict[str, np.ndarray], Parent]:
    masks = {f"{prefix}={value}": values == value for value in dict.fromkeys(values.tolist())}
    return masks, Parent(total_id="overall", child_ids=tuple(masks))


def _wave(masks: Mapping[str, np.ndarray], sensitive: Collection[str] = ()) -> list[Cell]:
    respondents = len(next(iter(masks.values())))
    return cells_from_masks(
        {"overall": np.ones(respondents, dtype=bool), **masks}, sensitive_ids=sensitive, total_ids={"overall"}
    )


# Remainder: the total minus the published sectors gives back a hidden small sector.
REMAINDERS = {
    "others-large": _labels(police=30, health=25, business=3),
    "one-big-one-small": _labels(police=50, business=3),
    "others-mixed": _labels(police=40, health=12, faith=8, business=2),
}


@pytest.mark.parametrize("sectors", REMAINDERS.values(), ids=REMAINDERS.keys())
def test_remainder_attack_recovers_a_hidden_sector_until_protected(sectors: np.ndarray) -> None:
    masks, parent = _partition_cells(sectors, prefix="sector")
    cells = _wave(masks)
    business = frozenset(np.flatnonzero(sectors == "business").tolist())

    assert isolated_sets(cells, naive_publication(cells)) == [business]
    assert isolated_sets(cells, published_after_protect(cells, [parent])) == []


def _police_by_gender() -> tuple[list[Cell], list[Parent], frozenset[int]]:
    sectors = _labels(police=16, health=20)
    genders = np.array(["man"] * 9 + ["woman"] * 6 + ["non-binary"] + ["man"] * 8 + ["woman"] * 12)
    masks: dict[str, np.ndarray] = {}
    parents = []
    sector_masks, sector_parent = _partition_cells(sectors, prefix="sector")
    gender_masks, gender_parent = _partition_cells(genders, prefix="gender")
    masks |= sector_masks | gender_masks
    parents += [sector_parent, gender_parent]
    for sector in ("police", "health"):
        row = []
        for gender in ("man", "woman", "non-binary"):
            masks[f"sector={sector}&gender={gender}"] = (sectors == sector) & (genders == gender)
            row.append(f"sector={sector}&gender={gender}")
        parents.append(Parent(total_id=f"sector={sector}", child_ids=tuple(row)))
    for gender in ("man", "woman", "non-binary"):
        column = tuple(f"sector={sector}&gender={gender}" for sector in ("police", "health"))
        parents.append(Parent(total_id=f"gender={gender}", child_ids=column))
    return _wave(masks), parents, frozenset({15})


def test_a_hidden_cell_of_a_cross_table_row_comes_back_from_the_row_total_until_protected() -> None:
    cells, parents, non_binary_officer = _police_by_gender()

    assert isolated_sets(cells, naive_publication(cells)) == [non_binary_officer]
    assert isolated_sets(cells, published_after_protect(cells, parents)) == []


def _lived_experience_trap() -> tuple[list[Cell], list[Parent]]:
    # Everyone with lived experience is a survivor leader, except one police officer.
    sectors = _labels(police=8, **{"survivor-leaders": 11}, health=20)
    lived = np.zeros(sectors.size, dtype=bool)
    lived[7] = True
    lived[sectors == "survivor-leaders"] = True
    sector_masks, sector_parent = _partition_cells(sectors, prefix="sector")
    lived_masks = {"lived-experience=yes": lived, "lived-experience=no": ~lived}
    cells = _wave(sector_masks | lived_masks, sensitive={"sector=survivor-leaders", "lived-experience=yes"})
    return cells, [sector_parent, Parent(total_id="overall", child_ids=tuple(lived_masks))]


def test_lived_experience_minus_survivor_leaders_isolates_a_police_officer_until_protected() -> None:
    cells, parents = _lived_experience_trap()
    by_id = {cell.id: cell for cell in cells}

    assert (by_id["lived-experience=yes"].n, by_id["sector=survivor-leaders"].n) == (12, 11)
    assert isolated_sets(cells, naive_publication(cells)) == [frozenset({7})]
    assert isolated_sets(cells, published_after_protect(cells, parents)) == []


def test_everyone_else_smaller_than_k_gives_the_group_away_until_protected() -> None:
    sectors = _labels(police=40, health=3)
    masks = {"sector=police": sectors == "police", "else:sector=police": sectors != "police"}
    cells = _wave(masks)
    parents = [Parent(total_id="overall", child_ids=tuple(masks))]

    assert isolated_sets(cells, naive_publication(cells)) == [frozenset({40, 41, 42})]
    assert isolated_sets(cells, published_after_protect(cells, parents)) == []


def test_overlapping_multi_select_groups_isolate_the_multiracial_until_protected() -> None:
    # Respondents 0–5 chose Asian alone, 6–7 Asian and Black, 8–12 Black and White, 13–42 White alone.
    asian = np.zeros(43, dtype=bool)
    asian[:8] = True
    black = np.zeros(43, dtype=bool)
    black[6:13] = True
    white = np.zeros(43, dtype=bool)
    white[8:] = True
    chosen = asian.astype(int) + black.astype(int) + white.astype(int)
    masks = {
        "race=asian": asian,
        "race=black": black,
        "race=white": white,
        "race=alone:asian": asian & (chosen == 1),
        "race=alone:black": black & (chosen == 1),
        "race=alone:white": white & (chosen == 1),
        "race=more-than-one": chosen >= 2,
    }
    cells = _wave(masks)
    partition = Parent(
        total_id="overall", child_ids=("race=alone:asian", "race=alone:black", "race=alone:white", "race=more-than-one")
    )

    assert isolated_sets(cells, naive_publication(cells))[0] == frozenset({6, 7})
    assert isolated_sets(cells, published_after_protect(cells, [partition])) == []


def _random_wave(seed: int) -> tuple[list[Cell], list[Parent]]:
    """Return a wave of 200 respondents: 4 sectors × gender × lived experience, skewed, every table of rule 5."""
    generator = np.random.default_rng(seed)
    respondents = 200
    sector = generator.choice(
        ["police", "health", "faith", "survivor-leaders"], size=respondents, p=[0.5, 0.3, 0.13, 0.07]
    )
    gender = np.where(generator.random(respondents) < np.where(sector == "police", 0.15, 0.7), "woman", "man")
    lived = np.where(generator.random(respondents) < np.where(sector == "survivor-leaders", 0.9, 0.04), "yes", "no")
    sensitive = {"sector=survivor-leaders", "lived=yes"}
    masks: dict[str, np.ndarray] = {}
    parents: list[Parent] = []
    dimensions = {"sector": sector, "gender": gender, "lived": lived}
    for name, values in dimensions.items():
        options = sorted(set(values.tolist()))
        masks |= {f"{name}={option}": values == option for option in options}
        parents.append(Parent(total_id="overall", child_ids=tuple(f"{name}={option}" for option in options)))
    groups = list(masks)
    for name in ("gender", "lived"):
        options = sorted(set(dimensions[name].tolist()))
        for sector_name in sorted(set(sector.tolist())):
            row = []
            for option in options:
                cross = f"sector={sector_name}&{name}={option}"
                masks[cross] = (sector == sector_name) & (dimensions[name] == option)
                row.append(cross)
                groups.append(cross)
                if sector_name == "survivor-leaders" or f"{name}={option}" in sensitive:
                    sensitive.add(cross)
            parents.append(Parent(total_id=f"sector={sector_name}", child_ids=tuple(row)))
        for option in options:
            column = tuple(f"sector={sector_name}&{name}={option}" for sector_name in sorted(set(sector.tolist())))
            parents.append(Parent(total_id=f"{name}={option}", child_ids=column))
    for group in groups:
        masks[f"else:{group}"] = ~masks[group]
        parents.append(Parent(total_id="overall", child_ids=(group, f"else:{group}")))
    return _wave(masks, sensitive=sensitive), parents


@pytest.mark.parametrize("seed", range(8))
def test_after_protect_no_set_is_isolated_in_a_random_wave(seed: int) -> None:
    cells, parents = _random_wave(seed)

    assert isolated_sets(cells, published_after_protect(cells, parents)) == []


@pytest.mark.parametrize("seed", range(8))
def test_the_audit_finds_a_set_exactly_when_the_brute_force_does(seed: int) -> None:
    # Publications on both sides of the boundary: the protected one and random
    # parts of it (safe), with one hidden cell put back (mostly leaking), and
    # random halves of all cells.
    cells, parents = _random_wave(seed)
    protected = published_after_protect(cells, parents)
    generator = np.random.default_rng(1000 + seed)
    publications = [protected] + [{cell_id for cell_id in protected if generator.random() < 0.7} for _trial in range(3)]
    publications += [protected | {cell.id} for cell in cells if cell.id not in protected]
    publications += [{cell.id for cell in cells if generator.random() < 0.5} for _trial in range(4)]
    outcomes = []
    for published in publications:
        expected = isolated_sets(cells, published)

        attack = audit(cells=cells, published_ids=published)

        if expected:
            assert attack is not None
            assert attack.is_verified
            assert attack.members in expected
        else:
            assert attack is None
        outcomes.append(bool(expected))
    assert len(set(outcomes)) == 2, "both outcomes are exercised"


def test_a_random_wave_leaks_when_published_naively() -> None:
    cells, _parents = _random_wave(0)

    isolated = isolated_sets(cells, naive_publication(cells))

    assert (len(isolated), isolated[0]) == (11, frozenset({3, 104}))
