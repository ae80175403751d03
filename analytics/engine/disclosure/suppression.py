"""Primary and complementary suppression, and `protect`: suppress until the joint audit passes."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analytics.engine.disclosure.cells import Cell, Parent
from analytics.engine.disclosure.joint_audit import (
    MINIMUM_K,
    MINIMUM_K_SENSITIVE,
    Attack,
    Auditor,
    validate_thresholds,
)


class Reason(StrEnum):
    """Why a cell is hidden."""

    PRIMARY = "primary"  # n < k (k_sensitive for a sensitive cell), or n = 0
    COMPLEMENTARY = "complementary"  # its parent's hidden cells held too few respondents
    AUDIT = "audit"  # the joint audit found a combination through it


class AuditNotPassedError(RuntimeError):
    """The audit still found a disclosure after `max_rounds` rounds: publish nothing."""


@dataclass(frozen=True)
class AuditRound:
    """One round of the joint audit: the set it isolated and what was hidden because of it.

    `attack` names hidden figures (the isolated respondents): keep it in memory only.
    """

    number: int
    attack: Attack
    suppressed_id: str
    complementary_ids: tuple[str, ...]


@dataclass(frozen=True)
class ProtectionResult:
    """The suppression decisions: hidden cell ids, the reason for each, and the audit rounds.

    Only `hidden_ids` may leave the engine run. A reason says whether a cell's
    n is below its threshold, and a round names isolated respondents: both are
    hidden figures (rules 2 and 4), for tests and in-memory diagnostics only.
    """

    hidden_ids: frozenset[str]
    reasons: Mapping[str, Reason]
    rounds: tuple[AuditRound, ...]
    # Diagnostics of the audit's floating-point rank decisions (`Auditor`): far
    # above 1 and far above 0 respectively when every decision was clear-cut.
    spectral_margin: float
    unit_margin: float


def _threshold(cell: Cell, *, k: int, k_sensitive: int) -> int:
    return k_sensitive if cell.is_sensitive else k


def primary_suppression(
    *, cells: Sequence[Cell], k: int = MINIMUM_K, k_sensitive: int = MINIMUM_K_SENSITIVE
) -> list[str]:
    """Return the ids of cells with n below their threshold, or n = 0 (a published zero reveals an empty set)."""
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    return [cell.id for cell in cells if cell.n == 0 or cell.n < _threshold(cell, k=k, k_sensitive=k_sensitive)]


def _check_parents(parents: Sequence[Parent], known: Collection[str]) -> None:
    for parent in parents:
        ids = [*parent.child_ids, *([parent.total_id] if parent.total_id is not None else [])]
        unknown = [cell_id for cell_id in ids if cell_id not in known]
        if unknown:
            raise ValueError(f"a parent names unknown cells: {unknown}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a parent names a cell twice: {ids}")


def complementary_suppression(
    *,
    cells: Sequence[Cell],
    parents: Sequence[Parent],
    hidden_ids: Collection[str],
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
) -> list[str]:
    """Return the cells to hide in addition to `hidden_ids`, in the order decided (rule 3).

    Within every published parent that has hidden children: while the hidden
    children hold fewer than k respondents (k_sensitive when one of them is
    sensitive), or exactly one child is hidden (the total minus the others
    gives it back), hide the smallest visible child; with no visible child
    left, hide the total. Repeats until no parent changes, since hiding a cell
    can open another parent.
    """
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    by_id = {cell.id: cell for cell in cells}
    _check_parents(parents, by_id)
    sizes = {cell.id: cell.n for cell in cells}
    thresholds = {cell.id: _threshold(cell, k=k, k_sensitive=k_sensitive) for cell in cells}
    hidden = set(hidden_ids)
    added: list[str] = []

    def is_exposed(children: list[str]) -> bool:
        needed = max(thresholds[child] for child in children)
        return len(children) == 1 or sum(sizes[child] for child in children) < needed

    changed = True
    while changed:
        changed = False
        for parent in parents:
            if parent.total_id is not None and parent.total_id in hidden:
                continue
            hidden_children = [child for child in parent.child_ids if child in hidden]
            if not hidden_children or not is_exposed(hidden_children):
                continue
            visible = sorted(
                (child for child in parent.child_ids if child not in hidden),
                key=lambda child: (sizes[child], parent.child_ids.index(child)),
            )
            before = len(added)
            while visible and is_exposed(hidden_children):
                child = visible.pop(0)
                hidden.add(child)
                hidden_children.append(child)
                added.append(child)
            if is_exposed(hidden_children) and parent.total_id is not None:
                hidden.add(parent.total_id)
                added.append(parent.total_id)
            changed |= len(added) > before
    return added


def _cell_to_suppress(attack: Attack, *, cells: Sequence[Cell], published: Collection[str]) -> str:
    """Return the published cell of the attack's combination with the smallest n, the overall total last."""
    order = {cell.id: position for position, cell in enumerate(cells)}
    by_id = {cell.id: cell for cell in cells}
    involved = [cell_id for cell_id in attack.combination if cell_id in published]
    if not involved:
        # Cannot happen for a combination of published cells; fall back to a published cell holding the set.
        members = np.fromiter(attack.members, dtype=np.int64)
        involved = [cell_id for cell_id in published if bool(by_id[cell_id].members[members].any())] or list(published)
    ordinary = [cell_id for cell_id in involved if not by_id[cell_id].is_total]
    return min(ordinary or involved, key=lambda cell_id: (by_id[cell_id].n, order[cell_id]))


def protect(
    *,
    cells: Sequence[Cell],
    parents: Sequence[Parent],
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
    max_rounds: int | None = None,
) -> ProtectionResult:
    """Return which cells to hide so that no set of 1..k−1 respondents can be isolated (rules 1, 3, 4).

    Primary suppression, complementary suppression, then rounds of the exact
    joint audit: each attack found hides one more cell of its combination
    (the smallest, the overall total only when nothing else is left), then
    complementary suppression again, until the audit finds nothing. Every
    round hides a cell that was published, so there are at most as many
    rounds as cells; `max_rounds` lowers that bound, and reaching it with
    attacks left raises `AuditNotPassedError`.
    """
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    auditor = Auditor(cells=cells, k=k, k_sensitive=k_sensitive)
    _check_parents(parents, auditor.index)
    reasons: dict[str, Reason] = dict.fromkeys(
        primary_suppression(cells=cells, k=k, k_sensitive=k_sensitive), Reason.PRIMARY
    )
    for cell_id in complementary_suppression(
        cells=cells, parents=parents, hidden_ids=reasons, k=k, k_sensitive=k_sensitive
    ):
        reasons[cell_id] = Reason.COMPLEMENTARY
    rounds: list[AuditRound] = []
    while True:
        published = {cell.id for cell in cells if cell.id not in reasons}
        found = False
        # One pass of the audit may report several sets; one whose combination
        # lost a cell earlier in the pass is left for the next pass to judge.
        for attack in auditor.find_attacks(published_ids=published):
            if any(cell_id in reasons for cell_id in attack.combination):
                continue
            found = True
            if max_rounds is not None and len(rounds) == max_rounds:
                raise AuditNotPassedError(f"the joint audit still finds disclosures after {max_rounds} rounds")
            chosen = _cell_to_suppress(attack, cells=cells, published=published - set(reasons))
            reasons[chosen] = Reason.AUDIT
            added = complementary_suppression(
                cells=cells, parents=parents, hidden_ids=reasons, k=k, k_sensitive=k_sensitive
            )
            for cell_id in added:
                reasons[cell_id] = Reason.COMPLEMENTARY
            rounds.append(
                AuditRound(number=len(rounds) + 1, attack=attack, suppressed_id=chosen, complementary_ids=tuple(added))
            )
        if not found:
            break
    order = {cell.id: position for position, cell in enumerate(cells)}
    ordered = dict(sorted(reasons.items(), key=lambda item: order[item[0]]))
    return ProtectionResult(
        hidden_ids=frozenset(ordered),
        reasons=ordered,
        rounds=tuple(rounds),
        spectral_margin=auditor.spectral_margin,
        unit_margin=auditor.unit_margin,
    )
