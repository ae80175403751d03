"""Disclosure control: thresholds, complementary suppression, the audit's answers, the one marker, formatting."""

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from analytics.engine.disclosure import (
    HIDDEN_TEXT,
    AuditNotPassedError,
    Auditor,
    Cell,
    Parent,
    Reason,
    apply_suppression,
    audit,
    cells_from_masks,
    complementary_suppression,
    format_mean,
    format_percent,
    masks_for_combinations,
    primary_suppression,
    protect,
    sensitive_size_label,
)


def _sized(sizes: dict[str, int], *, respondents: int = 60, sensitive: frozenset[str] = frozenset()) -> list[Cell]:
    """Return cells with the given sizes (members are the first n respondents: only n matters here)."""
    return [
        Cell(id=cell_id, members=np.arange(respondents) < size, is_sensitive=cell_id in sensitive)
        for cell_id, size in sizes.items()
    ]


def _lived_experience_trap() -> tuple[list[Cell], list[Parent]]:
    """Return the classic trap: everyone with lived experience is a survivor leader except police officer 7."""
    sectors = np.array(["police"] * 8 + ["survivor-leaders"] * 11 + ["health"] * 20)
    lived = sectors == "survivor-leaders"
    lived[7] = True
    masks = {"overall": np.ones(sectors.size, dtype=bool)}
    masks |= {f"sector={name}": sectors == name for name in ("police", "survivor-leaders", "health")}
    masks |= {"lived-experience=yes": lived, "lived-experience=no": ~lived}
    cells = cells_from_masks(
        masks, sensitive_ids={"sector=survivor-leaders", "lived-experience=yes"}, total_ids={"overall"}
    )
    parents = [
        Parent(total_id="overall", child_ids=("sector=police", "sector=survivor-leaders", "sector=health")),
        Parent(total_id="overall", child_ids=("lived-experience=yes", "lived-experience=no")),
    ]
    return cells, parents


def test_primary_suppression_hides_cells_below_their_threshold_and_empty_ones() -> None:
    cells = _sized(
        {"empty": 0, "three": 3, "four": 4, "five": 5, "sensitive-nine": 9, "sensitive-ten": 10},
        sensitive=frozenset({"sensitive-nine", "sensitive-ten"}),
    )

    hidden = primary_suppression(cells=cells)

    assert hidden == ["empty", "three", "four", "sensitive-nine"]


def test_a_coalition_may_raise_k() -> None:
    cells = _sized({"five": 5, "seven": 7, "twelve": 12})

    hidden = primary_suppression(cells=cells, k=8, k_sensitive=12)

    assert hidden == ["five", "seven"]


@pytest.mark.parametrize(
    ("k", "k_sensitive"),
    [(4, 10), (5, 9), (12, 10)],
    ids=["k-below-5", "k-sensitive-below-10", "k-sensitive-below-k"],
)
def test_thresholds_below_the_minimum_are_refused(k: int, k_sensitive: int) -> None:
    cells, parents = _lived_experience_trap()

    with pytest.raises(ValueError, match="must be at least"):
        primary_suppression(cells=cells, k=k, k_sensitive=k_sensitive)
    with pytest.raises(ValueError, match="must be at least"):
        protect(cells=cells, parents=parents, k=k, k_sensitive=k_sensitive)


def test_complementary_suppression_hides_the_smallest_sibling_until_the_hidden_part_holds_k() -> None:
    cells = _sized({"total": 40, "a": 3, "b": 7, "c": 5, "d": 25})
    parent = Parent(total_id="total", child_ids=("a", "b", "c", "d"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"a"})

    assert added == ["c"]


def test_complementary_suppression_hides_a_second_cell_when_one_large_cell_is_hidden() -> None:
    cells = _sized({"total": 40, "a": 3, "b": 7, "c": 5, "d": 25})
    parent = Parent(total_id="total", child_ids=("a", "b", "c", "d"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"d"})

    assert added == ["a"]


def test_complementary_suppression_holds_a_sensitive_hidden_part_to_k_sensitive() -> None:
    cells = _sized({"total": 40, "leaders": 8, "x": 1, "y": 2, "z": 6}, sensitive=frozenset({"leaders"}))
    parent = Parent(total_id="total", child_ids=("leaders", "x", "y", "z"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"leaders", "x"})

    assert added == ["y"]


def test_an_empty_sensitive_cell_asks_only_for_k() -> None:
    # Nobody is in the sensitive sector: hiding it and two small sectors (3 + 3 ≥ 5) is enough.
    cells = _sized({"total": 40, "leaders": 0, "x": 3, "y": 3, "z": 6, "w": 28}, sensitive=frozenset({"leaders"}))
    parent = Parent(total_id="total", child_ids=("leaders", "x", "y", "z", "w"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"leaders", "x", "y"})

    assert added == []
    # With one sensitive member, the hidden part must hold 10: z (6) goes too, 1 + 3 + 3 + 6 = 13.
    cells = _sized({"total": 41, "leaders": 1, "x": 3, "y": 3, "z": 6, "w": 28}, sensitive=frozenset({"leaders"}))
    assert complementary_suppression(cells=cells, parents=[parent], hidden_ids={"leaders", "x", "y"}) == ["z"]


def test_complementary_suppression_hides_the_total_when_no_sibling_is_left() -> None:
    cells = _sized({"total": 30, "a": 2, "b": 1})
    parent = Parent(total_id="total", child_ids=("a", "b"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"a", "b"})

    assert added == ["total"]


def test_complementary_suppression_leaves_a_parent_whose_total_is_hidden() -> None:
    cells = _sized({"total": 30, "a": 2, "b": 28})
    parent = Parent(total_id="total", child_ids=("a", "b"))

    added = complementary_suppression(cells=cells, parents=[parent], hidden_ids={"a", "total"})

    assert added == []


def test_complementary_suppression_cascades_from_a_row_into_the_columns() -> None:
    cells = _sized({"r1": 13, "r2": 20, "c1": 11, "c2": 22, "r1c1": 3, "r1c2": 10, "r2c1": 8, "r2c2": 12})
    parents = [
        Parent(total_id="r1", child_ids=("r1c1", "r1c2")),
        Parent(total_id="r2", child_ids=("r2c1", "r2c2")),
        Parent(total_id="c1", child_ids=("r1c1", "r2c1")),
        Parent(total_id="c2", child_ids=("r1c2", "r2c2")),
    ]

    added = complementary_suppression(cells=cells, parents=parents, hidden_ids={"r1c1"})

    assert added == ["r1c2", "r2c1", "r2c2"]


def test_complementary_suppression_ends_when_a_parent_without_total_has_nothing_left() -> None:
    cells = _sized({"a": 3})

    added = complementary_suppression(cells=cells, parents=[Parent(total_id=None, child_ids=("a",))], hidden_ids={"a"})

    assert added == []


def test_parents_naming_unknown_cells_are_refused() -> None:
    cells = _sized({"total": 30, "a": 2})

    with pytest.raises(ValueError, match="unknown cells"):
        complementary_suppression(cells=cells, parents=[Parent(total_id="total", child_ids=("a", "b"))], hidden_ids=())


def test_the_audit_returns_the_isolated_set_and_an_exact_combination() -> None:
    cells, _parents = _lived_experience_trap()
    masks = {cell.id: cell.members for cell in cells}

    attack = audit(cells=cells, published_ids=set(masks))

    assert attack is not None
    assert (attack.members, attack.size, attack.threshold, attack.is_verified) == (frozenset({7}), 1, 5, True)
    assert attack.combination == {"sector=survivor-leaders": Fraction(-1), "lived-experience=yes": Fraction(1)}
    rebuilt = sum(int(value) * masks[cell_id].astype(int) for cell_id, value in attack.combination.items())
    assert np.flatnonzero(rebuilt).tolist() == [7]


def test_the_audit_holds_a_set_of_sensitive_respondents_to_k_sensitive() -> None:
    # 17 with lived experience: the 11 survivor leaders and 6 people of other sectors.
    sectors = np.array(["survivor-leaders"] * 11 + ["police"] * 20 + ["health"] * 20)
    lived = sectors == "survivor-leaders"
    lived[[11, 12, 13, 31, 32, 33]] = True
    masks = {
        "overall": np.ones(sectors.size, dtype=bool),
        "sector=survivor-leaders": sectors == "survivor-leaders",
        "lived-experience=yes": lived,
    }
    cells = cells_from_masks(masks, sensitive_ids={"sector=survivor-leaders", "lived-experience=yes"})

    attack = audit(cells=cells, published_ids=set(masks))

    assert attack is not None
    assert (attack.members, attack.threshold) == (frozenset({11, 12, 13, 31, 32, 33}), 10)


def test_the_audit_passes_a_publication_that_isolates_nobody() -> None:
    cells, _parents = _lived_experience_trap()
    published = {"overall", "sector=health", "lived-experience=yes", "lived-experience=no"}

    attack = audit(cells=cells, published_ids=published)

    assert attack is None


def test_the_auditor_starts_afresh_when_the_publication_grows() -> None:
    cells, _parents = _lived_experience_trap()
    auditor = Auditor(cells=cells)

    first = auditor.find_attack(published_ids={"overall", "lived-experience=yes"})
    second = auditor.find_attack(published_ids={"overall", "lived-experience=yes", "sector=survivor-leaders"})

    assert first is None
    assert second is not None
    assert second.members == frozenset({7})


def test_protect_reports_each_round_and_why_every_cell_is_hidden() -> None:
    cells, parents = _lived_experience_trap()

    result = protect(cells=cells, parents=parents)

    assert result.reasons == {"sector=police": Reason.COMPLEMENTARY, "sector=survivor-leaders": Reason.AUDIT}
    assert result.hidden_ids == {"sector=police", "sector=survivor-leaders"}
    assert [(r.number, r.attack.members, r.suppressed_id, r.complementary_ids) for r in result.rounds] == [
        (1, frozenset({7}), "sector=survivor-leaders", ("sector=police",))
    ]


def test_protect_suppresses_the_overall_total_only_when_nothing_else_is_left() -> None:
    sectors = np.array(["police"] * 30 + ["health"] * 25 + ["business"] * 3)
    masks = {"overall": np.ones(sectors.size, dtype=bool)}
    masks |= {f"sector={name}": sectors == name for name in ("police", "health", "business")}
    cells = cells_from_masks(masks, total_ids={"overall"})

    result = protect(cells=cells, parents=[])

    assert result.reasons == {"sector=health": Reason.AUDIT, "sector=business": Reason.PRIMARY}
    assert result.rounds[0].attack.combination == {
        "overall": Fraction(1),
        "sector=police": Fraction(-1),
        "sector=health": Fraction(-1),
    }


def test_protect_stops_at_max_rounds_with_attacks_left() -> None:
    cells, parents = _lived_experience_trap()

    with pytest.raises(AuditNotPassedError):
        protect(cells=cells, parents=parents, max_rounds=0)


def _cell_table() -> pd.DataFrame:
    statistics = {
        "n": [1, 4, 12],
        "mean": [2.0, 3.25, 3.5],
        "sd": [np.nan, 0.5, 0.81],
        "ci_low": [np.nan, 2.45, 2.99],
        "ci_high": [np.nan, 4.05, 4.01],
        "score_100": [25.0, 56.25, 62.5],
        "gap": [-1.5, -0.2, 0.1],
        "p_value": [np.nan, 0.61, 0.7],
        "q_value": [np.nan, 0.8, 0.9],
        "hedges_g": [np.nan, -0.3, 0.1],
        "flag": [False, False, False],
    }
    return pd.DataFrame(
        {"cell_id": ["a", "b", "c"], "dimensions": ["sector", "sector", "sector"], "groups": ["x", "y", "z"]}
        | statistics
        | {"percent": [2, 7, 21]}
    )


def test_hidden_cells_serialise_to_identical_json_whatever_their_n() -> None:
    table = _cell_table()

    rows = apply_suppression(table, {"a", "b"}, label_columns=("dimensions", "groups")).to_dict(orient="records")

    labels = ("cell_id", "dimensions", "groups")
    figures = [json.dumps({key: value for key, value in row.items() if key not in labels}) for row in rows]
    assert figures[0] == figures[1]
    assert figures[0] != figures[2]
    assert json.loads(figures[0]) == {
        "n": None,
        "mean": None,
        "sd": None,
        "ci_low": None,
        "ci_high": None,
        "score_100": None,
        "gap": None,
        "p_value": None,
        "q_value": None,
        "hedges_g": None,
        "flag": None,
        "percent": None,
        "suppressed": True,
    }


def test_hidden_cells_serialise_to_identical_csv_whatever_their_n() -> None:
    table = _cell_table()

    suppressed = apply_suppression(table, {"a", "b"}, label_columns=("dimensions", "groups"))
    lines = suppressed.drop(columns=["cell_id", "dimensions", "groups"]).to_csv(index=False, header=False).splitlines()

    assert lines[0] == lines[1] == ",,,,,,,,,,,,True"


def test_visible_cells_keep_their_figures_with_none_for_missing_ones() -> None:
    table = _cell_table()

    rows = apply_suppression(table, {"a", "b"}, label_columns=("dimensions", "groups")).to_dict(orient="records")

    assert rows[2] == {
        "cell_id": "c",
        "dimensions": "sector",
        "groups": "z",
        "n": 12,
        "mean": 3.5,
        "sd": 0.81,
        "ci_low": 2.99,
        "ci_high": 4.01,
        "score_100": 62.5,
        "gap": 0.1,
        "p_value": 0.7,
        "q_value": 0.9,
        "hedges_g": 0.1,
        "flag": False,
        "percent": 21,
        "suppressed": False,
    }


def test_applying_suppression_twice_changes_nothing() -> None:
    once = apply_suppression(_cell_table(), {"a"}, label_columns=("dimensions", "groups"))

    twice = apply_suppression(once, (), label_columns=("dimensions", "groups"))

    assert twice.to_dict(orient="records") == once.to_dict(orient="records")


def test_apply_suppression_refuses_label_columns_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="not in the frame"):
        apply_suppression(_cell_table(), {"a"}, label_columns=("label",))


@pytest.mark.parametrize(
    ("n", "k_sensitive", "label"),
    [(0, 10, "fewer than 10"), (9, 10, "fewer than 10"), (10, 10, "10 or more"), (11, 12, "fewer than 12")],
)
def test_sizes_of_sensitive_groups_are_only_shown_against_k_sensitive(n: int, k_sensitive: int, label: str) -> None:
    assert sensitive_size_label(n, k_sensitive=k_sensitive) == label


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [(3.14159, 1, "3.1"), (3.14159, 2, "3.14"), (-0.04, 1, "0.0"), (4.0, 1, "4.0"), (None, 1, HIDDEN_TEXT)],
)
def test_means_are_shown_to_one_decimal_or_two_in_exports(value: float | None, decimals: int, text: str) -> None:
    assert format_mean(value, decimals=decimals) == text


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.426, "43%"), (0.004, "0%"), (-0.004, "0%"), (1.0, "100%"), (float("nan"), HIDDEN_TEXT), (None, HIDDEN_TEXT)],
)
def test_percentages_are_whole_numbers(share: float | None, text: str) -> None:
    assert format_percent(share) == text


def test_cells_from_masks_keeps_order_and_flags() -> None:
    cells = cells_from_masks(
        {"overall": [1, 1, 1], "leaders": [0, 1, 0]}, sensitive_ids={"leaders"}, total_ids={"overall"}
    )

    assert [(cell.id, cell.members.tolist(), cell.n, cell.is_sensitive, cell.is_total) for cell in cells] == [
        ("overall", [True, True, True], 3, False, True),
        ("leaders", [False, True, False], 1, True, False),
    ]


@pytest.mark.parametrize(
    ("masks", "sensitive_ids", "message"),
    [
        ({"a": [True, False], "b": [True]}, (), "one entry per respondent"),
        ({"a": [True, False]}, ("b",), "unknown cell ids"),
    ],
    ids=["unequal-lengths", "unknown-sensitive-id"],
)
def test_cells_from_masks_refuses_inconsistent_input(
    masks: dict[str, list[bool]], sensitive_ids: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cells_from_masks(masks, sensitive_ids=sensitive_ids)


def test_masks_for_combinations_gives_one_mask_per_combination_present() -> None:
    frame = pd.DataFrame({"sector": ["police", "health", "police", None], "gender": ["man", "woman", "man", "man"]})

    masks = masks_for_combinations(frame, ["sector", "gender"], prefix="sector×gender:")

    assert {key: mask.tolist() for key, mask in masks.items()} == {
        "sector×gender:health|woman": [False, True, False, False],
        "sector×gender:police|man": [True, False, True, False],
    }
