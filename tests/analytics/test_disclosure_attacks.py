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
from typing import Any

import numpy as np
import pytest

from analytics.engine.disclosure import (
    Auditor,
    Cell,
    Parent,
    audit,
    cells_from_masks,
    complementary_suppression,
    protect,
)
from analytics.engine.disclosure.joint_audit import _unique_rows
from analytics.engine.disclosure.suppression import _Complementary

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


def _separated_set_wave(size: int) -> tuple[list[Cell], set[str], frozenset[int]]:
    """Return a wave where "A" minus "B" isolates respondents 0..size−1, each its own atom, and nothing smaller.

    Each of them is also in a cell of their own with ten others ("C0", "C1",
    …), which makes each a separate atom without isolating any of them.
    """
    respondents = 20 + 20 + 10 * size + 7
    group = np.arange(20, 40)
    masks: dict[str, np.ndarray] = {
        "A": np.isin(np.arange(respondents), [*range(size), *group]),
        "B": np.zeros(respondents, dtype=bool),
    }
    masks["B"][group] = True
    for member in range(size):
        masks[f"C{member}"] = np.isin(np.arange(respondents), [member, *range(40 + 10 * member, 50 + 10 * member)])
    cells = _wave(masks)
    return cells, {cell.id for cell in cells}, frozenset(range(size))


@pytest.mark.parametrize("size", [3, 4])
def test_a_set_of_three_or_four_atoms_is_found_without_the_milp(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The triples and quadruples of atoms are enumerated (meet-in-the-middle);
    # the MILP must not be needed to find them.
    cells, published, members = _separated_set_wave(size)
    monkeypatch.setattr(Auditor, "_solve", _no_milp)

    attack = audit(cells=cells, published_ids=published)

    assert isolated_sets(cells, published) == [members]
    assert attack is not None
    assert (attack.members, attack.is_verified) == (members, True)
    assert attack.combination == {"A": Fraction(1), "B": Fraction(-1)}


def _no_milp(*_arguments: object) -> None:
    raise AssertionError("the MILP was called")


@pytest.mark.parametrize("seed", range(4))
def test_the_enumeration_proves_a_protected_wave_safe_without_the_milp(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without sensitive cells every set has at most four atoms (k − 1 = 4), so
    # the enumeration is complete and its empty answer is the proof.
    sensitive_cells, parents = _random_wave(seed)
    cells = cells_from_masks({cell.id: cell.members for cell in sensitive_cells}, total_ids={"overall"})
    monkeypatch.setattr(Auditor, "_solve", _no_milp)

    published = published_after_protect(cells, parents)

    assert isolated_sets(cells, published) == []
    assert audit(cells=cells, published_ids=published) is None


@pytest.mark.parametrize("seed", range(4))
def test_an_auditor_reused_on_shrinking_publications_agrees_with_the_brute_force(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Later calls reuse the sets found by earlier ones (`_sets_from_family`),
    # the respondents ruled out and the eigenpairs (`_eigen`).
    reused: list[bool] = []
    from_family = Auditor._sets_from_family

    def spy(self: Auditor, *arguments: Any) -> Any:
        sets = from_family(self, *arguments)
        reused.append(sets is not None)
        return sets

    monkeypatch.setattr(Auditor, "_sets_from_family", spy)
    cells, parents = _random_wave(seed)
    protected = published_after_protect(cells, parents)
    generator = np.random.default_rng(2000 + seed)
    published = protected | {cell.id for cell in cells if cell.id not in protected and generator.random() < 0.3}
    auditor = Auditor(cells=cells)
    sizes = {cell.id: cell.n for cell in cells}
    outcomes = []
    for _step in range(40):
        expected = isolated_sets(cells, published)

        attack = auditor.find_attack(published_ids=published)

        assert (attack is not None) == bool(expected)
        outcomes.append(bool(expected))
        if attack is None:
            if outcomes.count(False) == 3:
                break
            # Withdraw a random cell: the publication stays safe.
            ordered = sorted(published)
            published = published - {ordered[int(generator.integers(len(ordered)))]}
        else:
            assert attack.members in expected
            # Withdraw the smallest cell of the combination, as `protect` does.
            published = published - {min(attack.combination, key=lambda cell_id: (sizes[cell_id], cell_id))}
    assert outcomes.count(True) >= 2, "leaking publications are exercised"
    assert outcomes.count(False) >= 1, "safe publications are exercised"
    assert any(reused), "later calls used the sets of earlier ones"


def test_a_set_that_needs_a_withdrawn_cell_is_not_reported() -> None:
    cells, published, members = _separated_set_wave(3)
    auditor = Auditor(cells=cells)

    kept = list(auditor.find_attacks(published_ids=published, withdrawn_ids={"B"}))
    reported = list(auditor.find_attacks(published_ids=published))

    assert kept == []
    assert [attack.members for attack in reported] == [members]


@pytest.mark.parametrize("seed", range(3))
def test_complementary_suppression_carried_between_rounds_decides_like_a_fresh_sweep(seed: int) -> None:
    # `protect` keeps the settled parents between rounds (`_Complementary`).
    cells, parents = _random_wave(seed)
    sizes = {cell.id: cell.n for cell in cells}
    generator = np.random.default_rng(3000 + seed)
    ids = [cell.id for cell in cells]
    thresholds = {cell.id: K_SENSITIVE if cell.is_sensitive else K for cell in cells}
    carried = _Complementary(parents=parents, sizes=sizes, thresholds=thresholds, k=K)
    hidden = [cell.id for cell in cells if 0 < cell.n < K]
    hidden += carried.hide(hidden)
    for _round in range(15):
        extra = ids[int(generator.integers(len(ids)))]
        if extra in hidden:
            continue

        fresh = complementary_suppression(cells=cells, parents=parents, hidden_ids=[*hidden, extra])
        added = carried.hide([extra])

        assert added == fresh
        hidden += [extra, *added]


def test_atoms_group_identical_membership_rows() -> None:
    generator = np.random.default_rng(5)
    distinct = generator.integers(0, 256, size=(40, 13), dtype=np.uint8)
    rows = distinct[generator.integers(0, 40, size=500)]

    first, inverse = _unique_rows(rows)

    assert np.array_equal(rows[first][inverse], rows)
    assert first.size == np.unique(rows, axis=0).shape[0]


def test_the_gram_matrix_and_leverages_gathered_from_pairs_of_cells_are_exact() -> None:
    cells, _parents = _random_wave(0)
    auditor = Auditor(cells=cells)
    weighted = auditor.stored.multiply(auditor.multiplicity[None, :]).tocsr()
    published = auditor.sizes > 0
    space = auditor._row_space(published)
    atoms = np.arange(space.multiplicity.size)
    rows = auditor._basis_rows(space, atoms)

    leverage = auditor._leverage_by_gather(space, atoms)

    assert np.array_equal(auditor.stored_gram, (weighted @ auditor.stored.T).toarray())
    assert np.allclose(leverage, np.einsum("ij,ij->i", rows, rows) / space.multiplicity, atol=1e-12)
